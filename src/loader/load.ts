// loadObject: ObjectSpec → kernel objects, in libbpf's order: BTF (fixed up, sanitised, loaded),
// maps (created or reused from pins, filled, frozen), relocations, CO-RE, programs, initial slots.
// All or nothing: a failure closes every descriptor this load made and removes its pins.
import { createHash } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import {
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  encode,
  formatInstruction,
  type Instruction,
} from '../asm/index.js';
import type { Btf } from '../btf/btf.js';
import { marshalFuncInfo, marshalLineInfo, FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE } from '../btf/ext.js';
import { loadKernelBtf } from '../btf/kernel.js';
import { BPF_F_MMAPABLE, MapType, ProgType, mapTypeName, progTypeName } from '../constants.js';
import { parseElf, type ElfFile } from '../elf/index.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import { readInputFile } from '../internal/file.js';
import { coreRelocator } from '../core/relocator.js';
import type { AppliedCoreRelocation } from '../core/apply.js';
import { possibleCpus } from '../map/cpus.js';
import {
  LIBBPF_PIN_BY_NAME,
  PIN_GLOBAL_NS,
  PIN_NONE,
  PIN_OBJECT_NS,
  SEC_ATTACH_BTF,
  objectSpecFromElf,
  type MapSpec,
  type ObjectSpec,
  type ProgramSpec,
  type SpecInstruction,
} from '../object/index.js';
import { E } from '../sys/errno.js';
import { SyscallError, isErrno } from '../sys/error.js';
import { objName } from '../sys/bpf.js';
import { bpffsAncestor, makePinDirs } from '../sys/bpffs.js';
import type { Fd } from '../sys/fd.js';
import { elfFacts, fixupBtf, type BtfChange, type ElfFacts } from './btf-fixup.js';
import { buildBtf, needsSanitizing, sanitizeTypes } from './btf-sanitize.js';
import { findAttachBtfId } from './attach-target.js';
import { findExtensionTarget, type AttachTarget, type ExtensionTarget } from './freplace.js';
import { LoadError, MapIncompatibleError, VerifierError } from './errors.js';
import { LoadedObject, type LoadedMapRecord, type LoadedProgramRecord } from './loaded.js';
import { mapDifferences, shapeOf } from './pin.js';
import { loaderFeatures, type LoaderFeatures } from './features.js';
import { raiseMemlockIfCharged } from '../features/memlock.js';
import { structOpsKernelTypes, structOpsTargets, type StructOpsTarget } from './struct-ops.js';
import { sys } from './syscalls.js';
import type { TraceEvent } from './trace.js';
import { lastInstruction, sourceOf } from './verifier-log.js';
import { fillKconfig, parseKernelConfig, readKernelConfig } from './kconfig.js';
import { resolveKsyms, type ResolvedKsym } from './ksyms.js';
import { MAP_TYPES_WITHOUT_BTF } from '../map-traits.js';

/** BPF_F_SLEEPABLE and BPF_F_XDP_HAS_FRAGS (prog_flags of BPF_PROG_LOAD). */
const BPF_F_SLEEPABLE = 1 << 4;
const BPF_F_XDP_HAS_FRAGS = 1 << 5;

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf';

/** What a CO-RE implementation gets for one program: it patches `instructions` in place. */
export interface CoreContext {
  program: ProgramSpec;
  instructions: SpecInstruction[];
  /** The object's BTF, after fix-ups (ids as in the object). */
  btf: Btf;
  kernelBtf: () => Btf;
  /**
   * Report what was applied, relocation by relocation: the loader traces each one as `ebpf core
   * explain` shows it, and names a poisoned one if the verifier reaches it.
   */
  onApplied?: (applied: AppliedCoreRelocation[]) => void;
}

/** Applies a program's CO-RE relocations; returns how many it applied. */
export type CoreRelocator = (ctx: CoreContext) => number;

export interface LoadOptions {
  /** Where maps marked LIBBPF_PIN_BY_NAME are pinned (and looked for); default /sys/fs/bpf. */
  pinRoot?: string;
  /** Pin every map at `<dir>/<map name>` (bpftool's `pinmaps`); pinned-by-name maps stay where they are. */
  pinMaps?: string;
  /** Pin every loaded program at `<dir>/<program name>`. */
  pinDir?: string;
  /** Called with each step as it happens. */
  trace?: (event: TraceEvent) => void;
  /** Kernel BTF for attach targets and CO-RE; default /sys/kernel/btf/vmlinux. */
  kernelBtf?: Btf;
  /** Names of the programs to load; default every program libbpf would autoload. */
  programs?: readonly string[];
  /**
   * Load legacy `SEC("maps")` definitions. libbpf 1.0 and later refuse them, and so does this
   * loader by default, so the same objects fail in both.
   */
  legacyMaps?: boolean;
  /** Verifier log level for every program (the log is then in LoadedObject.logs); default none. */
  logLevel?: number;
  /** Initial verifier log buffer size in bytes. */
  logSize?: number;
  /** Applies CO-RE relocations before load; default src/core's coreRelocator() against kernel BTF. */
  core?: CoreRelocator;
  /** The ELF an ObjectSpec came from: BTF fix-ups take section sizes and symbols from it. */
  elf?: ElfFile;
  /** Override probed kernel features (to exercise sanitising). */
  features?: LoaderFeatures;
  /**
   * The loaded program whose function each freplace (BPF_PROG_TYPE_EXT) program replaces, as
   * libbpf's bpf_program__set_attach_target; without it an object with one fails to load, as in
   * libbpf ("attach program FD is not set"). Requires Linux 5.6.
   */
  attachTarget?: AttachTarget;
}

const isDataMap = (m: MapSpec): boolean =>
  m.source === 'data' || m.source === 'rodata' || m.source === 'bss' || m.source === 'kconfig';

/** KERNEL_VERSION(a, b, c) of the running kernel, as libbpf passes it when the object has none. */
function hostKernelVersion(): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release());
  if (!m) return 0;
  return (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(Number(m[3] ?? 0), 255);
}

/** Fix-up facts from the spec alone, when no ELF is at hand: data map sizes and variable offsets. */
function specFacts(spec: ObjectSpec): ElfFacts {
  const sizes = new Map<string, number>();
  for (const m of spec.maps) if (isDataMap(m)) sizes.set(m.sectionName, m.valueSize);
  return {
    sectionSize: (name) => sizes.get(name),
    varSymbol: (name) => {
      const v = spec.variables.get(name);
      return v && v.global ? { value: v.offset, hidden: false } : undefined;
    },
    hiddenFunctions: new Set(),
  };
}

/** bpffs refuses '.' in names; libbpf pins `.rodata` maps and the like with '_' instead. */
function pinFileName(name: string): string {
  return name.replace(/\./g, '_');
}

/** Descriptors and pins made so far; undone in reverse when a step fails. */
class Made {
  readonly fds: Fd[] = [];
  readonly pins: string[] = [];
  fd<T extends Fd>(fd: T): T {
    this.fds.push(fd);
    return fd;
  }
  undo(): { closed: number; unpinned: string[] } {
    const unpinned: string[] = [];
    for (const p of this.pins.reverse()) {
      try {
        unlinkSync(p);
        unpinned.push(p);
      } catch {
        // Already gone: nothing left to undo.
      }
    }
    let closed = 0;
    for (const fd of this.fds.reverse()) {
      if (!fd.closed) {
        fd.close();
        closed++;
      }
    }
    return { closed, unpinned };
  }
}

interface Input {
  spec: ObjectSpec;
  elf: ElfFile | undefined;
}

function readInput(input: ObjectSpec | string | Uint8Array, opts: LoadOptions): Input {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const file = typeof input === 'string' ? input : undefined;
    const bytes = typeof input === 'string' ? readInputFile(input) : input;
    const elf = parseElf(bytes, file);
    return { spec: objectSpecFromElf(elf, file !== undefined ? { file } : {}), elf };
  }
  let elf = opts.elf;
  if (elf === undefined && input.file !== undefined) {
    try {
      const b = readFileSync(input.file);
      elf = parseElf(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), input.file);
    } catch {
      elf = undefined; // fall back to what the spec knows
    }
  }
  return { spec: input, elf };
}

const hostLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Loads an object (a path, ELF bytes or an ObjectSpec) into the kernel. Throws LoadError (or a
 * subclass: VerifierError, MapIncompatibleError), SyscallError, or the object step's errors;
 * after a throw nothing this call created remains.
 */
export function loadObject(input: ObjectSpec | string | Uint8Array, opts: LoadOptions = {}): LoadedObject {
  const { spec, elf } = readInput(input, opts);
  // Before the first probe or object: kernels before 5.11 charge all of them to RLIMIT_MEMLOCK.
  raiseMemlockIfCharged();
  return new Loader(spec, elf, opts).load();
}

class Loader {
  private readonly made = new Made();
  private readonly loc: { file?: string };
  private readonly features: LoaderFeatures;
  private btfFd: Fd | undefined;
  private readonly maps = new Map<string, LoadedMapRecord>();
  private readonly programs = new Map<string, LoadedProgramRecord>();
  private readonly logs = new Map<string, string>();
  /** Each program's applied CO-RE relocations, to name a poisoned one the verifier reaches. */
  private readonly coreApplied = new Map<string, AppliedCoreRelocation[]>();
  private kernel: Btf | undefined;
  private core: CoreRelocator | undefined;
  private kconfigContents: Uint8Array | undefined;
  private ksyms = new Map<string, ResolvedKsym>();
  private readonly moduleFds = new Map<string, Fd>();
  /** Module BTF descriptors kfunc calls name by index (index 0 unused, as libbpf). */
  private readonly fdArray: number[] = [];

  constructor(
    private readonly spec: ObjectSpec,
    private readonly elf: ElfFile | undefined,
    private readonly opts: LoadOptions,
  ) {
    this.loc = spec.file !== undefined ? { file: spec.file } : {};
    this.features = opts.features ?? loaderFeatures();
  }

  private trace(e: TraceEvent): void {
    this.opts.trace?.(e);
  }

  private kernelBtf(): Btf {
    this.kernel ??= this.opts.kernelBtf ?? loadKernelBtf();
    return this.kernel;
  }

  load(): LoadedObject {
    const spec = this.spec;
    if (spec.littleEndian !== hostLittleEndian) {
      throw new NotSupportedError(
        `object is ${spec.littleEndian ? 'little' : 'big'} endian, this machine is not`,
        this.loc,
      );
    }
    const legacy = spec.maps.find((m) => m.source === 'legacy');
    if (legacy !== undefined && this.opts.legacyMaps !== true) {
      throw new LoadError(
        'open',
        'legacy map definitions in SEC("maps") are not supported (libbpf 1.0 refuses them too); use BTF-defined maps in SEC(".maps"), or pass legacyMaps: true (--legacy-maps)',
        { ...this.loc, map: legacy.name, section: 'maps' },
      );
    }
    const toLoad = spec.programs.filter((p) =>
      this.opts.programs !== undefined ? this.opts.programs.includes(p.name) : p.autoload,
    );
    this.trace({
      kind: 'object',
      name: spec.name,
      file: spec.file,
      programs: toLoad.length,
      maps: spec.maps.length,
    });
    try {
      this.resolveExterns();
      this.loadBtf(toLoad);
      for (const m of spec.maps) this.createMap(m);
      for (const m of spec.maps) this.initMapInMapSlots(m);
      const structOps = this.structOps(toLoad);
      for (const p of toLoad) this.loadProgram(p, structOps.get(p.name));
      for (const m of spec.maps) this.initProgArraySlots(m);
      this.pinAll(toLoad);
    } catch (e) {
      const undone = this.made.undo();
      this.trace({ kind: 'rollback', ...undone });
      throw e;
    }
    return new LoadedObject(spec, this.btfFd, this.maps, this.programs, this.logs);
  }

  // ---- externs ------------------------------------------------------------------------------

  /** As libbpf, before BTF and maps: `.kconfig` values into the map's contents, `.ksyms` looked up. */
  private resolveExterns(): void {
    const externs = this.spec.externs;
    if (externs.length === 0) return;
    const kmap = this.spec.maps.find((m) => m.source === 'kconfig');
    if (kmap !== undefined) {
      const contents = new Uint8Array(kmap.valueSize);
      if (kmap.contents !== undefined) contents.set(kmap.contents.subarray(0, kmap.valueSize));
      const set = fillKconfig(
        externs,
        contents,
        {
          kernelVersion: hostKernelVersion(),
          bpfCookie: this.features.bpfCookie,
          syscallWrapper: this.features.syscallWrapper,
          config: () => {
            const text = readKernelConfig();
            return text === undefined ? undefined : parseKernelConfig(text);
          },
        },
        this.spec.littleEndian,
        this.loc,
      );
      this.kconfigContents = contents;
      for (const e of externs) {
        if (e.kconfig === undefined) continue;
        const v = set.get(e.name);
        this.trace({
          kind: 'extern',
          name: e.name,
          what: v !== undefined ? `kconfig = ${v} (at ${e.kconfig.offset})` : 'kconfig weak, not set: 0',
        });
      }
    }
    if (!externs.some((e) => e.ksym !== undefined)) return;
    if (this.spec.btf === undefined)
      throw new LoadError('ksym', "ksym externs need the object's BTF", this.loc);
    this.ksyms = resolveKsyms(externs, this.spec.btf, () => this.kernelBtf(), this.loc);
    for (const [name, r] of this.ksyms) {
      this.trace({
        kind: 'extern',
        name,
        what:
          r.kind === 'btf'
            ? `ksym = ${r.module ?? 'vmlinux'} BTF [${r.btfId}]`
            : r.kind === 'address'
              ? `ksym = 0x${r.address.toString(16)} (kallsyms)`
              : 'ksym weak, not found: 0',
      });
    }
  }

  /** A module's BTF object, opened once (BPF_BTF_GET_FD_BY_ID of the id whose name is `module`). */
  private moduleBtfFd(module: string): Fd {
    const have = this.moduleFds.get(module);
    if (have !== undefined) return have;
    for (let id = sys.btfGetNextId(0); id !== undefined; id = sys.btfGetNextId(id)) {
      let fd: Fd;
      try {
        fd = sys.btfGetFdById(id);
      } catch (e) {
        if (isErrno(e, E.ENOENT)) continue; // gone meanwhile
        throw e;
      }
      if (sys.btfGetInfo(fd.fd).name === module) {
        this.made.fd(fd);
        this.moduleFds.set(module, fd);
        return fd;
      }
      fd.close();
    }
    throw new LoadError('ksym', `no BTF object for kernel module '${module}'`, this.loc);
  }

  /** A module BTF's index in fd_array (never 0, as libbpf), for kfunc calls' `off`. */
  private fdArrayIndex(module: string): number {
    const fd = this.moduleBtfFd(module).fd;
    if (this.fdArray.length === 0) this.fdArray.push(0);
    let i = this.fdArray.indexOf(fd, 1);
    if (i < 0) {
      i = this.fdArray.length;
      this.fdArray.push(fd);
    }
    return i;
  }

  // ---- BTF ----------------------------------------------------------------------------------

  private loadBtf(toLoad: ProgramSpec[]): void {
    const btf = this.spec.btf;
    if (btf === undefined) return;
    const fixups: BtfChange[] = [];
    const types = fixupBtf(
      btf,
      this.elf ? elfFacts(this.elf) : specFacts(this.spec),
      fixups,
      this.spec.externs,
    );
    const needed = toLoad.some((p) => p.type === ProgType.STRUCT_OPS);
    if (!this.features.btf) {
      if (needed)
        throw new LoadError('btf', 'the kernel does not support BTF, which struct_ops programs need', {
          ...this.loc,
          section: '.BTF',
        });
      this.trace({ kind: 'btf-skipped', reason: 'the kernel does not support BPF_BTF_LOAD (Linux 4.18)' });
      return;
    }
    const sanitized: BtfChange[] = [];
    const f = this.features.btfKinds;
    if (needsSanitizing(f)) types.push(...sanitizeTypes(types, btf.firstTypeId + types.length, f, sanitized));
    const bytes = buildBtf(btf, types);
    try {
      const { fd } = sys.btfLoad(bytes);
      this.btfFd = this.made.fd(fd);
      this.trace({ kind: 'btf', fd: fd.fd, bytes: bytes.length, fixups, sanitized });
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      // As libbpf: BTF is optional unless something needs it; programs and maps load without it.
      const log = e.log?.trim();
      const why = `BPF_BTF_LOAD: ${e.code}${log ? `\n${log}` : ''}`;
      if (needed) {
        // The kernel's log ends at the type it refused: `[11] STRUCT tcp_congestion_ops ...`.
        const refused = [...(log ?? '').matchAll(/^\[(\d+)\] /gm)].pop()?.[1];
        throw new LoadError(
          'btf',
          `the kernel refused the object's BTF, which struct_ops needs: ${why}`,
          { ...this.loc, section: '.BTF', ...(refused !== undefined ? { typeId: Number(refused) } : {}) },
          { cause: e },
        );
      }
      this.trace({ kind: 'btf-skipped', reason: `the kernel refused it (${why}); continuing without BTF` });
    }
  }

  // ---- maps ---------------------------------------------------------------------------------

  private maxEntries(m: MapSpec): number {
    return m.type === MapType.PERF_EVENT_ARRAY && m.maxEntries === 0 ? possibleCpus() : m.maxEntries;
  }

  /** libbpf drops BPF_F_MMAPABLE from internal maps on kernels without mmapable arrays. */
  private mapFlags(m: MapSpec): number {
    return isDataMap(m) && !this.features.mmapable ? m.flags & ~BPF_F_MMAPABLE : m.flags;
  }

  private pinPathOf(m: MapSpec): string | undefined {
    const root = this.opts.pinRoot ?? DEFAULT_PIN_ROOT;
    const pinned = m.legacy !== undefined ? m.legacy.pinning !== PIN_NONE : m.pinning === LIBBPF_PIN_BY_NAME;
    if (!pinned) return undefined;
    // The name becomes a file name in the pin directory: one that climbs out of it ('../x', from
    // a broken or hostile object) would pin, and reuse, whatever lies there.
    if (m.name.includes('/') || m.name === '.' || m.name === '..') {
      throw new LoadError('pin', `map name '${m.name}' cannot be pinned by name: it is not a file name`, {
        ...this.loc,
        map: m.name,
      });
    }
    return m.legacy !== undefined ? this.iproute2PinPath(m, root) : join(root, m.name);
  }

  /**
   * Where iproute2 pins a `struct bpf_elf_map`: under its working directory `<root>/tc` (`<root>/xdp`
   * when loading XDP programs), PIN_GLOBAL_NS in `globals/`, PIN_OBJECT_NS in a directory named
   * by the SHA-1 of the object file. Other values name directories in /etc/iproute2/bpf_pinning,
   * which is not supported.
   */
  private iproute2PinPath(m: MapSpec, root: string): string {
    const legacy = m.legacy!;
    const xdpOnly = this.spec.programs.length > 0 && this.spec.programs.every((p) => p.type === ProgType.XDP);
    const work = join(root, xdpOnly ? 'xdp' : 'tc');
    if (legacy.pinning === PIN_GLOBAL_NS) return join(work, 'globals', m.name);
    if (legacy.pinning === PIN_OBJECT_NS) {
      const bytes =
        this.elf?.bytes ?? (this.spec.file !== undefined ? readInputFile(this.spec.file) : undefined);
      if (bytes === undefined) {
        throw new LoadError(
          'pin',
          'PIN_OBJECT_NS needs the object file, to name its directory by its SHA-1',
          {
            ...this.loc,
            map: m.name,
          },
        );
      }
      return join(work, createHash('sha1').update(bytes).digest('hex'), m.name);
    }
    throw new NotSupportedError(
      `iproute2 custom pinning ${legacy.pinning} (from /etc/iproute2/bpf_pinning) is not supported`,
      { ...this.loc, map: m.name },
    );
  }

  private createRaw(m: MapSpec, innerFd: number | undefined): { fd: Fd; withoutBtf: boolean } {
    // struct_ops maps take their value type from the kernel (and the kernel refuses object type
    // ids beside it, so libbpf's first try with them always fails and it retries without).
    const st = m.structOps !== undefined ? structOpsKernelTypes(this.kernelBtf(), m) : undefined;
    const withBtf =
      st === undefined &&
      this.btfFd !== undefined &&
      !MAP_TYPES_WITHOUT_BTF.has(m.type) &&
      (m.keyTypeId !== 0 || m.valueTypeId !== 0);
    const attr = {
      map_type: m.type,
      key_size: m.keySize,
      value_size: st?.valueSize ?? m.valueSize,
      ...(st !== undefined
        ? { btf_vmlinux_value_type_id: st.valueTypeId, ...(this.btfFd ? { btf_fd: this.btfFd.fd } : {}) }
        : {}),
      max_entries: this.maxEntries(m),
      map_flags: this.mapFlags(m),
      numa_node: m.numaNode,
      map_extra: m.mapExtra,
      ...(this.features.progName ? { map_name: objName(m.name) } : {}),
      ...(innerFd !== undefined ? { inner_map_fd: innerFd } : {}),
    };
    const loc = { ...this.loc, map: m.name };
    if (withBtf) {
      try {
        const fd = sys.mapCreate({
          ...attr,
          btf_fd: this.btfFd!.fd,
          btf_key_type_id: m.keyTypeId,
          btf_value_type_id: m.valueTypeId,
        });
        return { fd: this.made.fd(fd), withoutBtf: false };
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        // libbpf retries without BTF (prog arrays and other fd maps on some kernels refuse it).
        this.trace({
          kind: 'warning',
          message: `map '${m.name}': BPF_MAP_CREATE with BTF failed (${e.code}), retrying without BTF`,
        });
      }
    }
    try {
      return { fd: this.made.fd(sys.mapCreate(attr)), withoutBtf: withBtf };
    } catch (e) {
      if (e instanceof SyscallError)
        throw new LoadError('map', `cannot create map: ${e.message}`, loc, { cause: e });
      throw e;
    }
  }

  /** Opens the pin at `path` if there is one; checks it matches. */
  private reuse(m: MapSpec, path: string): Fd | undefined {
    let fd: Fd;
    try {
      fd = this.made.fd(sys.objGet(path));
    } catch (e) {
      if (isErrno(e, E.ENOENT)) return undefined;
      if (e instanceof SyscallError)
        throw new LoadError(
          'map',
          // The syscall error already names the pin path.
          `cannot open pinned map: ${e.message}`,
          { ...this.loc, map: m.name },
          { cause: e },
        );
      throw e;
    }
    const { info } = sys.mapGetInfo(fd.fd);
    const diff = mapDifferences(
      {
        type: info.type,
        keySize: info.key_size,
        valueSize: info.value_size,
        maxEntries: info.max_entries,
        flags: info.map_flags,
        mapExtra: info.map_extra,
      },
      shapeOf(m, this.maxEntries(m)),
    );
    if (diff.length > 0) throw new MapIncompatibleError(m.name, path, diff);
    return fd;
  }

  private createMap(m: MapSpec): void {
    const pinPath = this.pinPathOf(m);
    const reused = pinPath !== undefined ? this.reuse(m, pinPath) : undefined;
    const kernelName = new TextDecoder().decode(objName(m.name));
    if (reused !== undefined) {
      this.maps.set(m.name, { spec: m, fd: reused, kernelName, pinnedAt: pinPath, reused: true });
      this.trace({
        kind: 'map',
        name: m.name,
        kernelName,
        type: mapTypeName(m.type),
        fd: reused.fd,
        how: 'reused',
        pinnedAt: pinPath!,
      });
      return;
    }
    if (isDataMap(m) && !this.features.globalData) {
      throw new LoadError('map', 'global data needs Linux 5.2 (BPF_PSEUDO_MAP_VALUE)', {
        ...this.loc,
        map: m.name,
      });
    }
    let inner: Fd | undefined;
    if ((m.type === MapType.ARRAY_OF_MAPS || m.type === MapType.HASH_OF_MAPS) && m.inner !== undefined) {
      const r = this.createRaw(m.inner, undefined);
      inner = r.fd;
      this.trace({
        kind: 'map',
        name: m.inner.name,
        kernelName: new TextDecoder().decode(objName(m.inner.name)),
        type: mapTypeName(m.inner.type),
        fd: inner.fd,
        how: 'inner',
      });
    }
    const { fd, withoutBtf } = this.createRaw(m, inner?.fd);
    // The template is only needed while the outer map is created (libbpf closes it too).
    inner?.close();
    this.maps.set(m.name, { spec: m, fd, kernelName, pinnedAt: undefined, reused: false });
    this.trace({
      kind: 'map',
      name: m.name,
      kernelName,
      type: mapTypeName(m.type),
      fd: fd.fd,
      how: 'created',
      ...(withoutBtf ? { withoutBtf } : {}),
    });
    if (isDataMap(m)) {
      const value =
        (m.source === 'kconfig' ? this.kconfigContents : undefined) ??
        m.contents ??
        new Uint8Array(m.valueSize);
      this.mapStep(m, () => sys.mapUpdateElem(fd.fd, new Uint32Array([0]), value));
      this.trace({
        kind: 'map-init',
        name: m.name,
        what: `initial contents written (${value.length} bytes)`,
      });
      if (m.source === 'rodata' || m.source === 'kconfig') {
        this.mapStep(m, () => sys.mapFreeze(fd.fd));
        this.trace({ kind: 'map-init', name: m.name, what: 'frozen (BPF_MAP_FREEZE)' });
      }
    }
  }

  private mapStep(m: MapSpec, f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof SyscallError)
        throw new LoadError('map', e.message, { ...this.loc, map: m.name }, { cause: e });
      throw e;
    }
  }

  private setSlots(m: MapSpec, fdOf: (name: string) => number | undefined, what: string): void {
    const rec = this.maps.get(m.name);
    if (rec === undefined || rec.reused || m.initialSlots === undefined) return;
    const slots: { index: number; fd: number; target: string }[] = [];
    m.initialSlots.forEach((target, index) => {
      if (target === undefined) return;
      const fd = fdOf(target);
      if (fd === undefined) {
        if (m.type === MapType.PROG_ARRAY) return; // a program not loaded this time
        throw new LoadError('map', `slot [${index}] refers to unknown ${what} '${target}'`, {
          ...this.loc,
          map: m.name,
        });
      }
      slots.push({ index, fd, target });
    });
    if (slots.length === 0) return;
    const keys = new Uint32Array(slots.map((x) => x.index));
    const values = new Uint32Array(slots.map((x) => x.fd));
    // Each update of a map of maps waits for an RCU grace period (milliseconds); one batch update
    // (Linux 5.6) waits once for all slots. Older kernels get one update per slot.
    let batched = false;
    if (m.type !== MapType.PROG_ARRAY && slots.length > 1) {
      try {
        sys.mapUpdateBatch(rec.fd.fd, { keys, values, count: slots.length });
        batched = true;
      } catch (e) {
        if (!(isErrno(e, E.EINVAL) || isErrno(e, E.ENOTSUPP) || isErrno(e, E.EOPNOTSUPP))) {
          if (e instanceof SyscallError)
            throw new LoadError('map', e.message, { ...this.loc, map: m.name }, { cause: e });
          throw e;
        }
      }
    }
    for (const [i, x] of slots.entries()) {
      if (!batched)
        this.mapStep(m, () =>
          sys.mapUpdateElem(rec.fd.fd, keys.subarray(i, i + 1), values.subarray(i, i + 1)),
        );
      this.trace({ kind: 'map-init', name: m.name, what: `slot [${x.index}] set to ${what} '${x.target}'` });
    }
  }

  private initMapInMapSlots(m: MapSpec): void {
    if (m.type === MapType.PROG_ARRAY) return;
    this.setSlots(m, (name) => this.maps.get(name)?.fd.fd, 'map');
  }

  private initProgArraySlots(m: MapSpec): void {
    if (m.type !== MapType.PROG_ARRAY) return;
    this.setSlots(m, (name) => this.programs.get(name)?.fd.fd, 'program');
  }

  // ---- relocation ---------------------------------------------------------------------------

  private mapFd(p: ProgramSpec, index: number, name: string): number {
    const rec = this.maps.get(name);
    if (rec === undefined) {
      throw new LoadError('relocation', `reference to map '${name}', which was not created`, {
        ...this.loc,
        program: p.name,
        instruction: index,
      });
    }
    return rec.fd.fd;
  }

  /** The program's instructions with every map, data and kernel reference resolved. */
  private relocate(p: ProgramSpec): Instruction[] {
    const out: Instruction[] = [];
    for (const src of p.instructions) {
      const ref = src.reference;
      const insn = src.clone();
      out.push(insn);
      if (ref === undefined || ref.kind === 'call' || ref.kind === 'func') continue;
      const at = { ...this.loc, program: p.name, instruction: src.index };
      // What the patched instruction now refers to, since llvm-objdump's `ld_pseudo r1, 0x1, 0x14`
      // shows neither the map's name nor a data offset (kept in the second half).
      let note: string;
      switch (ref.kind) {
        case 'map':
          insn.src = BPF_PSEUDO_MAP_FD;
          insn.imm = this.mapFd(p, src.index, ref.map);
          insn.next!.imm = 0;
          note = `map '${ref.map}' fd ${insn.imm}`;
          break;
        case 'data':
        case 'kconfig':
          insn.src = BPF_PSEUDO_MAP_VALUE;
          insn.imm = this.mapFd(p, src.index, ref.map);
          insn.next!.imm = ref.offset;
          note = `map '${ref.map}' fd ${insn.imm} + ${ref.offset}`;
          break;
        case 'kfunc':
        case 'ksym': {
          const r = this.ksyms.get(ref.name);
          if (r === undefined) {
            throw new LoadError('relocation', `extern '${ref.name}' is not among the object's externs`, at);
          }
          const where = r.kind === 'btf' ? `${r.module ?? 'vmlinux'} BTF [${r.btfId}]` : '';
          if (ref.kind === 'kfunc') {
            insn.src = BPF_PSEUDO_KFUNC_CALL;
            // libbpf 1.1 leaves a weak kfunc the kernel lacks as imm 0, off 0: the verifier
            // accepts that only in code it proves dead.
            insn.imm = r.kind === 'btf' ? r.btfId : 0;
            insn.off = r.kind === 'btf' && r.module !== undefined ? this.fdArrayIndex(r.module) : 0;
            note =
              r.kind === 'btf'
                ? `kfunc '${ref.name}' ${where}${insn.off !== 0 ? `, fd_array[${insn.off}]` : ''}`
                : `kfunc '${ref.name}' not in the kernel (weak): left as imm 0`;
          } else if (r.kind === 'btf') {
            insn.src = BPF_PSEUDO_BTF_ID;
            insn.imm = r.btfId;
            insn.next!.imm = r.module !== undefined ? this.moduleBtfFd(r.module).fd : 0;
            note = `ksym '${ref.name}' ${where}${r.module !== undefined ? `, BTF fd ${insn.next!.imm}` : ''}`;
          } else {
            // A typeless symbol's address, or 0 for a weak one the kernel lacks.
            insn.imm64 = r.kind === 'address' ? r.address : 0n;
            note =
              r.kind === 'address'
                ? `ksym '${ref.name}' address (kallsyms)`
                : `ksym '${ref.name}' not in the kernel (weak): 0`;
          }
          break;
        }
      }
      this.trace({
        kind: 'relocation',
        program: p.name,
        insn: src.index,
        reference: ref,
        before: formatInstruction(src).text,
        after: `${formatInstruction(insn).text}  ; ${note}`,
      });
    }
    return out;
  }

  // ---- programs -----------------------------------------------------------------------------

  private structOps(toLoad: ProgramSpec[]): Map<string, StructOpsTarget> {
    if (!toLoad.some((p) => p.type === ProgType.STRUCT_OPS)) return new Map();
    return structOpsTargets(this.spec.maps, this.kernelBtf());
  }

  private applyCore(p: ProgramSpec, insns: SpecInstruction[]): void {
    // The CO-RE step (src/core) plugs in here: it patches field offsets, sizes, type ids and
    // enum values in the linked instructions before anything is encoded for the kernel.
    if (p.coreRelos.length === 0) return;
    if (this.spec.btf === undefined) {
      throw new LoadError('core', `${p.coreRelos.length} CO-RE relocations but the object has no BTF`, {
        ...this.loc,
        program: p.name,
      });
    }
    this.core ??= this.opts.core ?? coreRelocator();
    const core = this.core;
    let applied: AppliedCoreRelocation[] = [];
    const n = core({
      program: p,
      instructions: insns,
      btf: this.spec.btf,
      kernelBtf: () => this.kernelBtf(),
      onApplied: (a) => {
        applied = a;
      },
    });
    this.coreApplied.set(p.name, applied);
    for (const r of applied) this.trace({ kind: 'core-relocation', program: p.name, relocation: r });
    this.trace({ kind: 'core', program: p.name, relocations: n });
  }

  /** The target of a freplace program: the program given in the options and its function's FUNC id. */
  private extensionTarget(p: ProgramSpec): ExtensionTarget {
    const at = { ...this.loc, program: p.name };
    const target = this.opts.attachTarget;
    if (target === undefined) {
      throw new LoadError(
        'program',
        'attach program FD is not set: a freplace program replaces a function of a loaded program, ' +
          'given as LoadOptions.attachTarget (ebpf load --freplace-target)',
        at,
      );
    }
    const func = target.function ?? p.attachTo;
    if (func === undefined || func === '') {
      throw new LoadError('program', `no function to replace is named in section '${p.sectionName}'`, at);
    }
    const t = findExtensionTarget(target, func, at);
    this.trace({ kind: 'attach-target', program: p.name, ...t });
    return t;
  }

  private loadProgram(p: ProgramSpec, structOps: StructOpsTarget | undefined): void {
    const at = { ...this.loc, program: p.name };
    if (p.type === ProgType.UNSPEC) {
      throw new LoadError('program', `missing BPF prog type, check ELF section name '${p.sectionName}'`, at);
    }
    const insnsSpec = p.instructions.map((i) => {
      const c = i.clone() as SpecInstruction;
      if (i.reference !== undefined) c.reference = i.reference;
      return c;
    });
    let attachBtfId: number | undefined;
    let extension: ExtensionTarget | undefined;
    let expectedAttachType = p.expectedAttachType;
    if (structOps !== undefined) {
      attachBtfId = structOps.attachBtfId;
      expectedAttachType = structOps.memberIndex;
    } else if (p.type === ProgType.EXT) {
      extension = this.extensionTarget(p);
      attachBtfId = extension.btfId;
    } else if (((p.section?.flags ?? 0) & SEC_ATTACH_BTF) !== 0) {
      if (p.attachTo === undefined || p.attachTo === '') {
        throw new LoadError(
          'program',
          `no BTF-based attach target is specified in section '${p.sectionName}'`,
          at,
        );
      }
      try {
        attachBtfId = findAttachBtfId(this.kernelBtf(), p.expectedAttachType, p.attachTo);
      } catch (e) {
        if (e instanceof EbpfError) throw new LoadError('program', e.message, at, { cause: e });
        throw e;
      }
    }
    // libbpf resolves CO-RE before the attach target; CO-RE comes second here so that, until it
    // exists, an object with a missing target fails the way libbpf reports it.
    this.applyCore(p, insnsSpec);
    const insns = this.relocate({ ...p, instructions: insnsSpec });
    const withBtf = this.btfFd !== undefined && this.features.btfKinds.func;
    const funcInfo = withBtf && p.funcInfo.length > 0 ? marshalFuncInfo(p.funcInfo) : undefined;
    const lineInfo = withBtf && p.lineInfo.length > 0 ? marshalLineInfo(p.lineInfo) : undefined;
    const attr = {
      prog_type: p.type,
      expected_attach_type: expectedAttachType,
      kern_version: p.kernelVersion || this.spec.kernelVersion || hostKernelVersion(),
      prog_flags:
        (p.sleepable ? BPF_F_SLEEPABLE : 0) |
        (p.xdpFrags && p.type === ProgType.XDP ? BPF_F_XDP_HAS_FRAGS : 0),
      ...(this.features.progName ? { prog_name: objName(p.name) } : {}),
      ...(attachBtfId !== undefined ? { attach_btf_id: attachBtfId } : {}),
      ...(extension !== undefined ? { attach_prog_fd: extension.progFd } : {}),
      ...(withBtf ? { prog_btf_fd: this.btfFd!.fd } : {}),
      ...(funcInfo ? { func_info_rec_size: FUNC_INFO_REC_SIZE, func_info_cnt: p.funcInfo.length } : {}),
      ...(lineInfo ? { line_info_rec_size: LINE_INFO_REC_SIZE, line_info_cnt: p.lineInfo.length } : {}),
    };
    const bufs = {
      insns: encode(insns, true, at),
      license: p.license || this.spec.license,
      ...(funcInfo ? { funcInfo } : {}),
      ...(lineInfo ? { lineInfo } : {}),
      ...(this.fdArray.length > 0 ? { fdArray: Int32Array.from(this.fdArray) } : {}),
    };
    const log = this.opts.logLevel
      ? { level: this.opts.logLevel, ...(this.opts.logSize ? { size: this.opts.logSize } : {}) }
      : undefined;
    let fd: Fd;
    try {
      const r = sys.progLoad(attr, bufs, log);
      fd = this.made.fd(r.fd);
      if (r.log !== '') this.logs.set(p.name, r.log);
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      if (e.log !== undefined && e.log.trim() !== '') {
        const failed = lastInstruction(e.log);
        throw new VerifierError(
          p.name,
          e.code,
          e.errno,
          e.log,
          failed,
          failed !== undefined ? sourceOf(p.lineInfo, failed) : undefined,
          { cause: e },
          this.coreApplied.get(p.name),
        );
      }
      throw new LoadError('program', `BPF_PROG_LOAD: ${e.message.replace(/^BPF_PROG_LOAD: /, '')}`, at, {
        cause: e,
      });
    }
    const kernelName = new TextDecoder().decode(objName(p.name));
    this.programs.set(p.name, { spec: p, fd, kernelName, pinnedAt: undefined });
    this.trace({
      kind: 'program',
      name: p.name,
      kernelName,
      type: progTypeName(p.type),
      fd: fd.fd,
      insns: bufs.insns.length / 8,
      ...(attachBtfId !== undefined ? { attachBtfId } : {}),
    });
    // As libbpf: keep .rodata alive with every program, even one that does not read it; a
    // failure here does not fail the load.
    for (const rec of this.maps.values()) {
      if (rec.spec.source !== 'rodata' || rec.spec.sectionName !== '.rodata') continue;
      try {
        sys.progBindMap(fd.fd, rec.fd.fd);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        this.trace({
          kind: 'warning',
          message: `prog '${p.name}': cannot bind map '${rec.spec.name}': ${e.code}`,
        });
      }
    }
  }

  // ---- pins ---------------------------------------------------------------------------------

  private pin(what: 'map' | 'program', name: string, fd: Fd, path: string): void {
    try {
      // iproute2's pin directories (tc/globals, tc/<hash>) are made as it makes them.
      if (what === 'map' && this.spec.maps.find((m) => m.name === name)?.legacy !== undefined) {
        makePinDirs(dirname(path));
      } else bpffsAncestor(dirname(path));
      sys.objPin(fd.fd, path);
    } catch (e) {
      if (e instanceof EbpfError && !(e instanceof LoadError)) {
        throw new LoadError(
          'pin',
          `cannot pin ${what}: ${e.message}`,
          { ...this.loc, [what === 'map' ? 'map' : 'program']: name },
          { cause: e },
        );
      }
      throw e;
    }
    this.made.pins.push(path);
    this.trace({ kind: 'pin', what, name, path });
  }

  private pinAll(toLoad: ProgramSpec[]): void {
    for (const rec of this.maps.values()) {
      const byName = this.pinPathOf(rec.spec);
      if (byName !== undefined && !rec.reused) {
        this.pin('map', rec.spec.name, rec.fd, byName);
        rec.pinnedAt = byName;
      }
      if (this.opts.pinMaps !== undefined && rec.pinnedAt === undefined) {
        const path = join(this.opts.pinMaps, pinFileName(rec.spec.name));
        this.pin('map', rec.spec.name, rec.fd, path);
        rec.pinnedAt = path;
      }
    }
    if (this.opts.pinDir === undefined) return;
    for (const p of toLoad) {
      const rec = this.programs.get(p.name)!;
      const path = join(this.opts.pinDir, pinFileName(p.name));
      this.pin('program', p.name, rec.fd, path);
      rec.pinnedAt = path;
    }
  }
}
