// USDT: a program built against libbpf's <bpf/usdt.bpf.h> attached to every site of a
// <sys/sdt.h> probe in an executable or shared library. Each distinct argument layout gets a slot in
// the object's __bpf_usdt_specs map (encoded by that object's own BTF of struct __bpf_usdt_spec), and
// each site a uprobe whose BPF cookie is the slot's id; on kernels without cookies (before 5.15) the
// program finds the slot by instruction pointer in __bpf_usdt_ip_to_spec_id instead. Semaphores are
// counted by the kernel through the uprobe's ref_ctr_offset (Linux 4.20).
import { readFileSync } from 'node:fs';
import { ProgType } from '../constants.js';
import { EbpfError, NotFoundError, NotSupportedError } from '../errors.js';
import { EM_X86_64 } from '../elf/constants.js';
import type { ElfFile } from '../elf/elf.js';
import type { Btf } from '../btf/btf.js';
import type { Member, Type } from '../btf/types.js';
import { BPF_COOKIE, haveFeature } from '../features/index.js';
import type { LoadedObject } from '../loader/loaded.js';
import type { BpfMap } from '../map/map.js';
import type { Fd } from '../sys/fd.js';
import { requireProgramType, type Attachment } from './link.js';
import { pmuConfigBit } from './probe-link.js';
import { attachUprobe, type UprobeLink } from './uprobe.js';
import { readBinary, resolveBinary } from './uprobe-target.js';
import { parseUsdtArgs, UsdtArgType, type UsdtArg } from './usdt-args.js';
import { findUsdtSites, isPositionIndependent, usdtRuntimeAddress, type UsdtSite } from './usdt-notes.js';
import { checkOptionsArgument } from '../internal/options.js';

/** The maps <bpf/usdt.bpf.h> declares, by the names libbpf fills. */
export const USDT_SPECS_MAP = '__bpf_usdt_specs';
export const USDT_IP_MAP = '__bpf_usdt_ip_to_spec_id';

export interface UsdtOptions {
  /** Only this process (default every process that runs the file). */
  pid?: number;
  /** What bpf_usdt_cookie() returns in the program (the BPF cookie itself carries the spec id). */
  cookie?: bigint;
}

/** Byte and bit places of the fields of struct __bpf_usdt_spec, from the object's BTF. */
export interface SpecLayout {
  size: number;
  argsOffset: number;
  argStride: number;
  argCount: number;
  cookie: UsdtSpecField;
  argCnt: UsdtSpecField;
  arg: {
    valOff: UsdtSpecField;
    argType: UsdtSpecField;
    regOff: UsdtSpecField;
    argSigned: UsdtSpecField;
    argBitshift: UsdtSpecField;
    /** Present in headers from libbpf 1.7, which read base + index * scale arguments. */
    idxRegOff: UsdtSpecField | undefined;
    scaleBitshift: UsdtSpecField | undefined;
  };
}

export interface UsdtSpecField {
  /** Bit offset from the start of the enclosing struct. */
  bit: number;
  bits: number;
}

function memberField(btf: Btf, m: Member): UsdtSpecField {
  const bits = m.bitfieldSize !== 0 ? m.bitfieldSize : btf.sizeof(m.type) * 8;
  return { bit: m.bitsOffset, bits };
}

function structOf(btf: Btf, id: number, what: string): Type & { kind: 'STRUCT' } {
  const t = btf.resolve(id);
  if (t.kind !== 'STRUCT') throw new EbpfError(`${what} is not a struct in the object's BTF`, { typeId: id });
  return t as Type & { kind: 'STRUCT' };
}

/** Reads struct __bpf_usdt_spec's layout from the BTF of the object's specs map value. */
function specLayout(btf: Btf, valueTypeId: number): SpecLayout {
  const spec = structOf(btf, valueTypeId, `${USDT_SPECS_MAP}'s value`);
  const member = (s: { members: Member[] }, name: string, required = true): Member | undefined => {
    const m = s.members.find((x) => x.name === name);
    if (m === undefined && required) {
      throw new EbpfError(
        `${USDT_SPECS_MAP}: the object's struct ${spec.name || '__bpf_usdt_spec'} has no '${name}' (not from <bpf/usdt.bpf.h>?)`,
        { typeId: valueTypeId, map: USDT_SPECS_MAP },
      );
    }
    return m;
  };
  const args = member(spec, 'args')!;
  const arr = btf.resolve(args.type);
  if (arr.kind !== 'ARRAY')
    throw new EbpfError(`${USDT_SPECS_MAP}: 'args' is not an array`, { typeId: args.type });
  const argStruct = structOf(btf, arr.type, 'struct __bpf_usdt_arg_spec');
  const field = (name: string): UsdtSpecField => memberField(btf, member(argStruct, name)!);
  const optional = (name: string): UsdtSpecField | undefined => {
    const m = member(argStruct, name, false);
    return m === undefined ? undefined : memberField(btf, m);
  };
  return {
    size: spec.size,
    argsOffset: args.bitsOffset / 8,
    argStride: argStruct.size,
    argCount: arr.nelems,
    cookie: memberField(btf, member(spec, 'usdt_cookie')!),
    argCnt: memberField(btf, member(spec, 'arg_cnt')!),
    arg: {
      valOff: field('val_off'),
      argType: field('arg_type'),
      regOff: field('reg_off'),
      argSigned: field('arg_signed'),
      argBitshift: field('arg_bitshift'),
      idxRegOff: optional('idx_reg_off'),
      scaleBitshift: optional('scale_bitshift'),
    },
  };
}

/** Writes `value` into `bits` bits at bit `bit` of `out` (+ `base` bytes), little-endian order. */
function putBits(out: Uint8Array, base: number, f: UsdtSpecField, value: bigint): void {
  const v = BigInt.asUintN(f.bits, value);
  for (let i = 0; i < f.bits; i++) {
    const bit = f.bit + i;
    const byte = base + (bit >> 3);
    const mask = 1 << (bit & 7);
    if ((v >> BigInt(i)) & 1n) out[byte]! |= mask;
    else out[byte]! &= ~mask;
  }
}

/**
 * The bytes of struct __bpf_usdt_spec for `args` and `cookie`, laid out as the object's BTF says.
 * A base+index*scale argument needs the libbpf 1.7 header's fields: with an older header it is an
 * error naming the argument.
 */
export function encodeUsdtSpec(layout: SpecLayout, args: readonly UsdtArg[], cookie: bigint): Uint8Array {
  const out = new Uint8Array(layout.size);
  if (args.length > layout.argCount)
    throw new EbpfError(
      `USDT probe has ${args.length} arguments; the object's spec holds ${layout.argCount}`,
    );
  args.forEach((a, i) => {
    const at = layout.argsOffset + i * layout.argStride;
    const f = layout.arg;
    if (a.type === UsdtArgType.SIB) {
      if (f.idxRegOff === undefined || f.scaleBitshift === undefined) {
        throw new NotSupportedError(
          `USDT argument ${i} '${a.spec}' is base + index * scale, which the object's <bpf/usdt.bpf.h> cannot read (libbpf 1.7 added it): rebuild the object against a newer libbpf`,
        );
      }
      putBits(out, at, f.idxRegOff, BigInt(a.idxRegOff));
      putBits(out, at, f.scaleBitshift, BigInt(a.scaleShift));
    }
    putBits(out, at, f.valOff, a.valOff);
    putBits(out, at, f.argType, BigInt(a.type));
    putBits(out, at, f.regOff, BigInt(a.regOff));
    putBits(out, at, f.argSigned, a.signed ? 1n : 0n);
    putBits(out, at, f.argBitshift, BigInt(a.bitshift));
  });
  putBits(out, 0, layout.cookie, cookie);
  putBits(out, 0, layout.argCnt, BigInt(args.length));
  return out;
}

/** Spec slots in use, per __bpf_usdt_specs map (shared by every attachment of one loaded object). */
const slotsInUse = new WeakMap<Fd, Set<number>>();

function allocateSlot(mapFd: Fd, maxEntries: number): number {
  let used = slotsInUse.get(mapFd);
  if (used === undefined) slotsInUse.set(mapFd, (used = new Set()));
  for (let id = 0; id < maxEntries; id++) {
    if (!used.has(id)) {
      used.add(id);
      return id;
    }
  }
  throw new EbpfError(
    `${USDT_SPECS_MAP} is full (${maxEntries} specs): define BPF_USDT_MAX_SPEC_CNT larger in the BPF program`,
    { map: USDT_SPECS_MAP },
  );
}

/** Every site of one USDT probe with the program on it. close() detaches them all and frees the slots. */
export class UsdtLink implements Attachment {
  readonly path: string;
  readonly provider: string;
  readonly name: string;
  readonly sites: readonly UsdtSite[];
  /** One uprobe per site, in the order of `sites`. */
  readonly uprobes: readonly UprobeLink[];
  /** The spec slot each site uses (its BPF cookie, or its ip-map value). */
  readonly specIds: readonly number[];
  /** Whether the program finds its spec by BPF cookie (else by instruction pointer). */
  readonly byCookie: boolean;
  readonly #release: () => void;
  #closed = false;

  constructor(t: Omit<UsdtLink, 'close' | 'detach' | 'closed' | typeof Symbol.dispose>, release: () => void) {
    this.path = t.path;
    this.provider = t.provider;
    this.name = t.name;
    this.sites = t.sites;
    this.uprobes = t.uprobes;
    this.specIds = t.specIds;
    this.byCookie = t.byCookie;
    this.#release = release;
  }

  get closed(): boolean {
    return this.#closed;
  }

  detach(): void {
    this.close();
  }

  /** Closes every uprobe and frees the spec slots (and ip-map entries). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      for (const u of this.uprobes) u.close();
    } finally {
      this.#release();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Whether the loaded object's programs use BPF cookies: its LINUX_HAS_BPF_COOKIE as loaded. */
function objectUsesCookies(obj: LoadedObject): boolean {
  const ext = obj.spec.externs.find((e) => e.name === 'LINUX_HAS_BPF_COOKIE' && e.kconfig !== undefined);
  const kmap = obj.spec.maps.find((m) => m.source === 'kconfig');
  if (ext?.kconfig !== undefined && kmap !== undefined && obj.maps.has(kmap.name)) {
    const bytes = obj.map(kmap.name).lookupBytes(new Uint8Array(4));
    if (bytes !== undefined) return bytes[ext.kconfig.offset] !== 0;
  }
  return haveFeature(BPF_COOKIE);
}

function requireX86(elf: ElfFile): void {
  if (elf.header.machine !== EM_X86_64) {
    throw new NotSupportedError(
      `USDT arguments are read for x86-64 binaries only (e_machine ${elf.header.machine})`,
      elf.file !== undefined ? { file: elf.file } : {},
    );
  }
}

/**
 * Attaches program `programName` of `obj` (built with <bpf/usdt.bpf.h>) to every site of USDT
 * probe `provider:name` in `binary` (a path, or a name looked up like a uprobe's binary). The
 * object's __bpf_usdt_specs and __bpf_usdt_ip_to_spec_id maps are filled as libbpf fills them, so
 * bpf_usdt_arg(), bpf_usdt_arg_cnt() and bpf_usdt_cookie() work unchanged. Requires Linux 4.17
 * (uprobe PMU); 4.20 for probes with a semaphore; without BPF cookies (5.15) a shared library or
 * PIE executable needs `pid`, to know where the file is mapped.
 */
export function attachUsdt(
  obj: LoadedObject,
  programName: string,
  binary: string,
  provider: string,
  name: string,
  opts: UsdtOptions = {},
): UsdtLink {
  checkOptionsArgument('attachUsdt', opts);
  const program = obj.program(programName);
  requireProgramType(program, 'a USDT (BPF_PROG_TYPE_KPROBE)', ProgType.KPROBE);
  const where = { program: programName };
  const specsRecord = obj.maps.get(USDT_SPECS_MAP);
  if (specsRecord === undefined || obj.spec.btf === undefined) {
    throw new NotFoundError(
      `no ${USDT_SPECS_MAP} map with BTF in the object: USDT programs are built with <bpf/usdt.bpf.h>`,
      where,
    );
  }
  const layout = specLayout(obj.spec.btf, specsRecord.spec.valueTypeId);
  if (layout.size !== specsRecord.spec.valueSize) {
    throw new EbpfError(
      `${USDT_SPECS_MAP}: value size ${specsRecord.spec.valueSize} is not its BTF type's ${layout.size}`,
      {
        map: USDT_SPECS_MAP,
      },
    );
  }
  const path = resolveBinary(binary);
  const elf = readBinary(path);
  requireX86(elf);
  const sites = findUsdtSites(elf, provider, name);
  const parsed = sites.map((s) => {
    try {
      return parseUsdtArgs(s.args);
    } catch (err) {
      throw new EbpfError(
        `USDT ${provider}:${name} at 0x${s.address.toString(16)}: ${(err as Error).message}`,
        {
          file: path,
          ...where,
        },
      );
    }
  });
  if (sites.some((s) => s.semaphoreOffset !== 0n)) pmuConfigBit('uprobe', 'ref_ctr_offset'); // NotSupported before 4.20
  const byCookie = objectUsesCookies(obj);
  const specs: BpfMap = obj.map(USDT_SPECS_MAP);
  let ipMap: BpfMap | undefined;
  let maps: string | undefined;
  if (!byCookie) {
    if (!obj.maps.has(USDT_IP_MAP)) throw new NotFoundError(`no ${USDT_IP_MAP} map in the object`, where);
    ipMap = obj.map(USDT_IP_MAP);
    if (isPositionIndependent(elf)) {
      if (opts.pid === undefined) {
        throw new NotSupportedError(
          `USDT in position-independent ${path} without BPF cookies (Linux 5.15) needs a pid, to find where it is mapped`,
          where,
        );
      }
      maps = readFileSync(`/proc/${opts.pid}/maps`, 'utf8');
    }
  }

  const slots = new Map<string, number>();
  const used = new Set<number>();
  const ipKeys: bigint[] = [];
  const uprobes: UprobeLink[] = [];
  const specIds: number[] = [];
  const release = (): void => {
    const inUse = slotsInUse.get(specsRecord.fd);
    for (const id of used) inUse?.delete(id);
    if (ipMap !== undefined && !specsRecord.fd.closed)
      for (const ip of ipKeys) ipMap.delete(new Uint8Array(new BigInt64Array([ip]).buffer));
  };
  try {
    sites.forEach((site, i) => {
      // Sites with the same argument layout share a slot, as the spec is all the program reads.
      let id = slots.get(site.args);
      if (id === undefined) {
        id = allocateSlot(specsRecord.fd, specsRecord.spec.maxEntries);
        used.add(id);
        slots.set(site.args, id);
        const key = new Uint8Array(new Uint32Array([id]).buffer);
        specs.update(key, encodeUsdtSpec(layout, parsed[i]!, opts.cookie ?? 0n));
      }
      specIds.push(id);
      if (ipMap !== undefined) {
        const ip = usdtRuntimeAddress(elf, site, path, maps);
        if (ip === undefined)
          throw new NotFoundError(`${path} is not mapped in process ${opts.pid ?? '?'}`, {
            file: path,
            ...where,
          });
        ipMap.update(
          new Uint8Array(new BigInt64Array([ip]).buffer),
          new Uint8Array(new Uint32Array([id]).buffer),
        );
        ipKeys.push(ip);
      }
      uprobes.push(
        attachUprobe(program, path, {
          offset: site.fileOffset,
          ...(opts.pid !== undefined && { pid: opts.pid }),
          ...(byCookie && { cookie: BigInt(id) }),
          ...(site.semaphoreOffset !== 0n && { refCtrOffset: Number(site.semaphoreOffset) }),
        }),
      );
    });
  } catch (err) {
    for (const u of uprobes) u.close();
    release();
    throw err;
  }
  return new UsdtLink({ path, provider, name, sites, uprobes, specIds, byCookie }, release);
}

/** Parses libbpf's USDT section target `PATH:PROVIDER:NAME` (the path may itself hold ':'). */
export function parseUsdtTarget(text: string): { binary: string; provider: string; name: string } {
  const last = text.lastIndexOf(':');
  const mid = last > 0 ? text.lastIndexOf(':', last - 1) : -1;
  if (mid <= 0 || last === text.length - 1 || last - mid < 2)
    throw new EbpfError(`USDT target '${text}' is not binary:provider:name`);
  return { binary: text.slice(0, mid), provider: text.slice(mid + 1, last), name: text.slice(last + 1) };
}
