// The map half of a load: each MapSpec created (with the object's BTF where the kernel takes it,
// inner-map templates first) or reused from its pin after a compatibility check; data maps filled
// and frozen; map-in-map and program-array slots set. Records what it made for rollback.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Btf } from '../btf/btf.js';
import { BPF_F_LINK, BPF_F_MMAPABLE, BPF_F_TOKEN_FD, MapType, ProgType, mapTypeName } from '../constants.js';
import type { ElfFile } from '../elf/index.js';
import { NotSupportedError } from '../errors.js';
import { readInputFile } from '../internal/file.js';
import { decodeText } from '../internal/cstring.js';
import { possibleCpus } from '../map/cpus.js';
import { MAP_TYPES_WITHOUT_BTF } from '../map-traits.js';
import {
  LIBBPF_PIN_BY_NAME,
  PIN_GLOBAL_NS,
  PIN_NONE,
  PIN_OBJECT_NS,
  type MapSpec,
  type ObjectSpec,
} from '../object/index.js';
import { objName } from '../sys/bpf.js';
import { E } from '../sys/errno.js';
import { SyscallError, isErrno } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { mappedAddress, mmap, pageSize } from '../sys/mmap.js';
import {
  LDIMM64_FULL_RANGE_OFF,
  STRUCT_OPS_LINK,
  haveFeature,
  knownMapTypeFeature,
  notSupportedMessage,
} from '../features/index.js';
import { LoadError, MapIncompatibleError, atStep } from './errors.js';
import type { LoaderFeatures } from './features.js';
import type { LoadedMapRecord } from './loaded.js';
import type { Made } from './made.js';
import { mapDifferences, shapeOf } from './pin.js';
import { structOpsKernelTypes, structOpsValue } from './struct-ops.js';
import { sys } from './syscalls.js';
import type { TraceEvent } from './trace.js';

export const isDataMap = (m: MapSpec): boolean =>
  m.source === 'data' || m.source === 'rodata' || m.source === 'bss' || m.source === 'kconfig';

/** What the map step needs from the load it is part of. */
export interface MapLoadContext {
  spec: ObjectSpec;
  /** The ELF the spec came from, if at hand (PIN_OBJECT_NS names a directory by its hash). */
  elf: ElfFile | undefined;
  /** Where LIBBPF_PIN_BY_NAME maps are pinned and looked for. */
  pinRoot: string;
  loc: { file?: string };
  features: LoaderFeatures;
  made: Made;
  trace: (e: TraceEvent) => void;
  kernelBtf: () => Btf;
  /** A BPF token every map is created through. */
  token?: Fd | undefined;
}

/** Creates, reuses and fills an object's maps; `maps` holds what it made, by name. */
export class MapLoader {
  readonly maps = new Map<string, LoadedMapRecord>();
  private btfFd: Fd | undefined;
  private kconfig: Uint8Array | undefined;

  constructor(private readonly ctx: MapLoadContext) {}

  /**
   * Every map created or reused, data maps written (`kconfig`: the `.kconfig` map's contents as
   * the externs set them) and map-in-map slots set. `btfFd`: the object's loaded BTF, if any.
   */
  createAll(btfFd: Fd | undefined, kconfig: Uint8Array | undefined): void {
    this.btfFd = btfFd;
    this.kconfig = kconfig;
    const maps = this.ctx.spec.maps;
    for (const m of maps) this.createMap(m);
    for (const m of maps) {
      if (m.type !== MapType.PROG_ARRAY) this.setSlots(m, (name) => this.maps.get(name)?.fd.fd, 'map');
    }
  }

  /** Program-array slots, once the programs are loaded; `programFd` of a program not loaded is undefined. */
  setProgramSlots(programFd: (name: string) => number | undefined): void {
    for (const m of this.ctx.spec.maps) {
      if (m.type === MapType.PROG_ARRAY) this.setSlots(m, programFd, 'program');
    }
  }

  private at(m: MapSpec): { file?: string; map: string } {
    return { ...this.ctx.loc, map: m.name };
  }

  private maxEntries(m: MapSpec): number {
    return m.type === MapType.PERF_EVENT_ARRAY && m.maxEntries === 0 ? possibleCpus() : m.maxEntries;
  }

  /**
   * libbpf drops BPF_F_MMAPABLE from internal maps on kernels without mmapable arrays; a
   * `.struct_ops.link` map loses BPF_F_LINK on a kernel without struct_ops links (before 6.4), and
   * is then registered by a map update at attach, as a `.struct_ops` map is.
   */
  private mapFlags(m: MapSpec): number {
    if (isDataMap(m) && !this.ctx.features.mmapable) return m.flags & ~BPF_F_MMAPABLE;
    if (m.structOps !== undefined && (m.flags & BPF_F_LINK) !== 0 && !this.structOpsLinks()) {
      this.ctx.trace({
        kind: 'warning',
        message: `map '${m.name}': ${notSupportedMessage(STRUCT_OPS_LINK)}; created without BPF_F_LINK, registered by a map update instead`,
      });
      return m.flags & ~BPF_F_LINK;
    }
    return m.flags;
  }

  private structOpsLinks(): boolean {
    return this.ctx.features.structOpsLink ?? haveFeature(STRUCT_OPS_LINK);
  }

  /**
   * Once the programs are loaded: each struct_ops map's kernel value, function pointers set to
   * the programs' descriptors (when every program it names was loaded; else attach reports it).
   * A map created with BPF_F_LINK gets it now: the kernel keeps it ready and registers nothing
   * until a link is made; a plain struct_ops map would register at once, so it waits for attach.
   */
  prepareStructOps(programFd: (name: string) => number | undefined): void {
    for (const m of this.ctx.spec.maps) {
      const rec = this.maps.get(m.name);
      if (m.structOps === undefined || rec === undefined || rec.reused) continue;
      if (![...m.structOps.programs.values()].every((p) => programFd(p) !== undefined)) continue;
      const btf = this.ctx.spec.btf;
      if (btf === undefined) continue;
      const value = structOpsValue(this.ctx.kernelBtf(), btf, m, programFd);
      const link = (m.flags & BPF_F_LINK) !== 0 && this.structOpsLinks();
      rec.structOps = { value, link, ready: false };
      if (!link) continue;
      atStep('map', this.at(m), () => sys.mapUpdateElem(rec.fd.fd, new Uint32Array([0]), value), {
        message: (e) => `cannot set the struct_ops value: ${e.message}`,
      });
      rec.structOps.ready = true;
      this.ctx.trace({
        kind: 'map-init',
        name: m.name,
        what: `struct_ops ${m.structOps.typeName} value written (${value.length} bytes), ready for a link`,
      });
    }
  }

  /** Where a map pinned by name (libbpf's LIBBPF_PIN_BY_NAME, or iproute2's pinning) lives; else undefined. */
  pinPathOf(m: MapSpec): string | undefined {
    const pinned = m.legacy !== undefined ? m.legacy.pinning !== PIN_NONE : m.pinning === LIBBPF_PIN_BY_NAME;
    if (!pinned) return undefined;
    // The name becomes a file name in the pin directory: one that climbs out of it ('../x', from
    // a broken or hostile object) would pin, and reuse, whatever lies there.
    if (m.name.includes('/') || m.name === '.' || m.name === '..') {
      throw new LoadError(
        'pin',
        `map name '${m.name}' cannot be pinned by name: it is not a file name`,
        this.at(m),
      );
    }
    const root = this.ctx.pinRoot;
    return m.legacy !== undefined ? this.iproute2PinPath(m, root) : join(root, m.name);
  }

  /**
   * Where iproute2 pins a `struct bpf_elf_map`: under its working directory `<root>/tc` (`<root>/xdp`
   * when loading XDP programs), PIN_GLOBAL_NS in `globals/`, PIN_OBJECT_NS in a directory named
   * by the SHA-1 of the object file. Other values name directories in /etc/iproute2/bpf_pinning,
   * which is not supported.
   */
  private iproute2PinPath(m: MapSpec, root: string): string {
    const { spec, elf } = this.ctx;
    const legacy = m.legacy!;
    const xdpOnly = spec.programs.length > 0 && spec.programs.every((p) => p.type === ProgType.XDP);
    const work = join(root, xdpOnly ? 'xdp' : 'tc');
    if (legacy.pinning === PIN_GLOBAL_NS) return join(work, 'globals', m.name);
    if (legacy.pinning === PIN_OBJECT_NS) {
      const bytes = elf?.bytes ?? (spec.file !== undefined ? readInputFile(spec.file) : undefined);
      if (bytes === undefined) {
        throw new LoadError(
          'pin',
          'PIN_OBJECT_NS needs the object file, to name its directory by its SHA-1',
          this.at(m),
        );
      }
      return join(work, createHash('sha1').update(bytes).digest('hex'), m.name);
    }
    throw new NotSupportedError(
      `iproute2 custom pinning ${legacy.pinning} (from /etc/iproute2/bpf_pinning) is not supported`,
      this.at(m),
    );
  }

  private createRaw(m: MapSpec, innerFd: number | undefined): { fd: Fd; withoutBtf: boolean } {
    const { features, made, trace, token } = this.ctx;
    const btfFd = this.btfFd;
    // struct_ops maps take their value type from the kernel (and the kernel refuses object type
    // ids beside it, so libbpf's first try with them always fails and it retries without).
    const st = m.structOps !== undefined ? structOpsKernelTypes(this.ctx.kernelBtf(), m) : undefined;
    const withBtf =
      st === undefined &&
      btfFd !== undefined &&
      !MAP_TYPES_WITHOUT_BTF.has(m.type) &&
      (m.keyTypeId !== 0 || m.valueTypeId !== 0);
    const attr = {
      map_type: m.type,
      key_size: m.keySize,
      value_size: st?.valueSize ?? m.valueSize,
      ...(st !== undefined
        ? { btf_vmlinux_value_type_id: st.valueTypeId, ...(btfFd ? { btf_fd: btfFd.fd } : {}) }
        : {}),
      max_entries: this.maxEntries(m),
      map_flags: this.mapFlags(m) | (token !== undefined ? BPF_F_TOKEN_FD : 0),
      ...(token !== undefined ? { map_token_fd: token.fd } : {}),
      numa_node: m.numaNode,
      map_extra: m.mapExtra,
      ...(features.progName ? { map_name: objName(m.name) } : {}),
      ...(innerFd !== undefined ? { inner_map_fd: innerFd } : {}),
    };
    if (withBtf) {
      try {
        const fd = sys.mapCreate({
          ...attr,
          btf_fd: btfFd.fd,
          btf_key_type_id: m.keyTypeId,
          btf_value_type_id: m.valueTypeId,
        });
        return { fd: made.fd(fd), withoutBtf: false };
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        // libbpf retries without BTF (prog arrays and other fd maps on some kernels refuse it).
        trace({
          kind: 'warning',
          message: `map '${m.name}': BPF_MAP_CREATE with BTF failed (${e.code}), retrying without BTF`,
        });
      }
    }
    try {
      return atStep('map', this.at(m), () => ({ fd: made.fd(sys.mapCreate(attr)), withoutBtf: withBtf }), {
        message: (e) => `cannot create map: ${e.message}`,
      });
    } catch (e) {
      throw this.typeTooNew(m) ?? e;
    }
  }

  /** For a map the kernel refused: NotSupportedError naming the version, when its type is too new. */
  private typeTooNew(m: MapSpec): NotSupportedError | undefined {
    const f = knownMapTypeFeature(m.type);
    if (f === undefined) return undefined;
    let have: boolean;
    try {
      have = haveFeature(f);
    } catch {
      return undefined; // the probe itself was refused: say what the kernel said instead
    }
    if (have) return undefined;
    return new NotSupportedError(
      `${mapTypeName(m.type)} needs Linux ${f.version}; this kernel lacks it`,
      this.at(m),
    );
  }

  /** Opens the pin at `path` if there is one; checks it matches. */
  private reuse(m: MapSpec, path: string): Fd | undefined {
    const fd = atStep(
      'map',
      this.at(m),
      () => {
        const fd = sys.objGetIfPinned(path);
        return fd !== undefined ? this.ctx.made.fd(fd) : undefined;
      },
      // The syscall error already names the pin path.
      { message: (e) => `cannot open pinned map: ${e.message}` },
    );
    if (fd === undefined) return undefined;
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
    const { trace, features } = this.ctx;
    const pinPath = this.pinPathOf(m);
    const reused = pinPath !== undefined ? this.reuse(m, pinPath) : undefined;
    const kernelName = decodeText(objName(m.name));
    if (reused !== undefined) {
      this.maps.set(m.name, { spec: m, fd: reused, kernelName, pinnedAt: pinPath, reused: true });
      trace({
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
    if (isDataMap(m) && !features.globalData) {
      throw new LoadError('map', 'global data needs Linux 5.2 (BPF_PSEUDO_MAP_VALUE)', this.at(m));
    }
    let inner: Fd | undefined;
    if ((m.type === MapType.ARRAY_OF_MAPS || m.type === MapType.HASH_OF_MAPS) && m.inner !== undefined) {
      const r = this.createRaw(m.inner, undefined);
      inner = r.fd;
      trace({
        kind: 'map',
        name: m.inner.name,
        kernelName: decodeText(objName(m.inner.name)),
        type: mapTypeName(m.inner.type),
        fd: inner.fd,
        how: 'inner',
      });
    }
    const arenaGlobals = m.type === MapType.ARENA ? this.arenaGlobalsOffset(m) : undefined;
    const { fd, withoutBtf } = this.createRaw(m, inner?.fd);
    // The template is only needed while the outer map is created (libbpf closes it too).
    inner?.close();
    const rec: LoadedMapRecord = { spec: m, fd, kernelName, pinnedAt: undefined, reused: false };
    this.maps.set(m.name, rec);
    trace({
      kind: 'map',
      name: m.name,
      kernelName,
      type: mapTypeName(m.type),
      fd: fd.fd,
      how: 'created',
      ...(withoutBtf ? { withoutBtf } : {}),
    });
    if (arenaGlobals !== undefined) rec.arena = this.mapArena(m, fd, arenaGlobals);
    if (isDataMap(m)) {
      const value =
        (m.source === 'kconfig' ? this.kconfig : undefined) ?? m.contents ?? new Uint8Array(m.valueSize);
      atStep('map', this.at(m), () => sys.mapUpdateElem(fd.fd, new Uint32Array([0]), value));
      trace({
        kind: 'map-init',
        name: m.name,
        what: `initial contents written (${value.length} bytes)`,
      });
      if (m.source === 'rodata' || m.source === 'kconfig') {
        atStep('map', this.at(m), () => sys.mapFreeze(fd.fd));
        trace({ kind: 'map-init', name: m.name, what: 'frozen (BPF_MAP_FREEZE)' });
      }
    }
  }

  /**
   * Where an arena's `__arena` globals go: at its start, or, where ld_imm64 takes any offset, in
   * its last pages (so that allocations, which start at the bottom, do not meet them) — as libbpf
   * places them. LoadError when the arena is too small to hold them.
   */
  private arenaGlobalsOffset(m: MapSpec): number {
    const page = pageSize();
    const size = m.maxEntries * page;
    const data = m.contents;
    if (data === undefined || data.length === 0) return 0;
    const pages = Math.ceil(data.length / page) * page;
    if (pages > size) {
      throw new LoadError(
        'map',
        `arena of ${m.maxEntries} pages (${size} bytes) is too small for its ${data.length} bytes of __arena globals`,
        this.at(m),
      );
    }
    const atEnd = this.ctx.features.ldimm64FullRangeOff ?? haveFeature(LDIMM64_FULL_RANGE_OFF);
    return atEnd ? size - pages : 0;
  }

  /**
   * Maps a new arena into this process as libbpf does right after creating it: the verifier refuses
   * a program using an arena whose user address is not yet known (map_extra, or the first mmap).
   * At map_extra the mapping must land exactly there; it never replaces a mapping this process
   * already has there (libbpf's MAP_FIXED would). The `__arena` globals are then written at
   * `globalsOffset`, which allocates their pages.
   */
  private mapArena(
    m: MapSpec,
    fd: Fd,
    globalsOffset: number,
  ): { memory: ArrayBuffer; globalsOffset: number } {
    const size = m.maxEntries * pageSize();
    const at = m.mapExtra !== 0n ? { at: m.mapExtra } : {};
    const memory = atStep(
      'map',
      this.at(m),
      () => this.ctx.made.mapping(mmap(fd.fd, size, { write: true, ...at })),
      {
        message: (e) =>
          isErrno(e, E.EEXIST)
            ? `cannot map the arena at its map_extra address 0x${m.mapExtra.toString(16)}: this process already has memory there`
            : `cannot map the arena: ${e.message}`,
      },
    );
    const data = m.contents;
    if (data !== undefined && data.length > 0) new Uint8Array(memory, globalsOffset, data.length).set(data);
    const address = mappedAddress(memory);
    this.ctx.trace({
      kind: 'map-init',
      name: m.name,
      what:
        `arena mapped at 0x${address.toString(16)} (${size} bytes)` +
        (data !== undefined && data.length > 0
          ? `, __arena globals (${data.length} bytes) written at offset ${globalsOffset}`
          : ''),
    });
    return { memory, globalsOffset };
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
        throw new LoadError('map', `slot [${index}] refers to unknown ${what} '${target}'`, this.at(m));
      }
      slots.push({ index, fd, target });
    });
    if (slots.length === 0) return;
    const keys = new Uint32Array(slots.map((x) => x.index));
    const values = new Uint32Array(slots.map((x) => x.fd));
    // Each update of a map of maps waits for an RCU grace period (milliseconds); one batch update
    // (Linux 5.6) waits once for all slots. Older kernels get one update per slot.
    const batched =
      m.type !== MapType.PROG_ARRAY &&
      slots.length > 1 &&
      atStep('map', this.at(m), () => {
        try {
          sys.mapUpdateBatch(rec.fd.fd, { keys, values, count: slots.length });
          return true;
        } catch (e) {
          if (isErrno(e, E.EINVAL) || isErrno(e, E.ENOTSUPP) || isErrno(e, E.EOPNOTSUPP)) return false;
          throw e;
        }
      });
    for (const [i, x] of slots.entries()) {
      if (!batched) {
        atStep('map', this.at(m), () =>
          sys.mapUpdateElem(rec.fd.fd, keys.subarray(i, i + 1), values.subarray(i, i + 1)),
        );
      }
      this.ctx.trace({
        kind: 'map-init',
        name: m.name,
        what: `slot [${x.index}] set to ${what} '${x.target}'`,
      });
    }
  }
}
