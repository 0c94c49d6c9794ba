// BpfMap: the handle on one kernel map. Owns its Fd; keys and values go through codecs (from the
// map's BTF when it has one, raw bytes otherwise); single-element calls reuse preallocated buffers.
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_MMAPABLE,
  BPF_NOEXIST,
  MapType,
  mapTypeShortName,
} from '../constants.js';
import { EbpfError, NotSupportedError, OptionError } from '../errors.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import {
  mapCreate,
  mapDeleteBatch,
  mapDeleteElem,
  mapFreeze,
  mapGetFdById,
  mapGetInfo,
  mapGetNextKey,
  mapLookupAndDeleteBatch,
  mapLookupAndDeleteElem,
  mapLookupBatch,
  mapLookupElem,
  mapUpdateBatch,
  mapUpdateElem,
  ElemBuffers,
  objGet,
  objName,
  pinObject,
} from '../sys/bpf.js';
import { raiseMemlockIfCharged } from '../features/memlock.js';
import { E } from '../sys/errno.js';
import { isErrno } from '../sys/error.js';
import { Fd } from '../sys/fd.js';
import { mmap, munmap, pageSize } from '../sys/mmap.js';
import { btfFromKernel } from '../sys/kernel-btf.js';
import { requireObjectKind } from '../sys/object-kind.js';
import { codecFor, rawCodec, CodecError, type Codec, type TypeSource } from '../btf/codec.js';
import { possibleCpus } from './cpus.js';
import { FD_VALUE_MAP_TYPES, PERCPU_MAP_TYPES } from '../map-traits.js';
import { checkArgument, checkOptionsArgument, isObjectId, isPath } from '../internal/options.js';

/** Kept importable from here, where it lived before src/sys/kernel-btf.ts. */
export { btfFromKernel };

/** Update flags (`flags` of BPF_MAP_UPDATE_ELEM). */
export const UpdateFlags = {
  ANY: BPF_ANY,
  NOEXIST: BPF_NOEXIST,
  EXIST: BPF_EXIST,
  F_LOCK: BPF_F_LOCK,
} as const;

/** What the kernel says about a map (struct bpf_map_info). */
export interface MapInfo {
  type: number;
  /** `hash`, `percpu_array`...: bpftool's spelling of the type. */
  typeName: string;
  id: number;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  ifindex: number;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  btfVmlinuxValueTypeId: number;
  mapExtra: bigint;
}

export interface MapOptions {
  /**
   * BTF describing the key and value type ids in the map's info. Default: loaded from the kernel
   * by the map's btf_id (so a pinned map decodes too); false: raw bytes.
   */
  btf?: TypeSource | false;
  /** Override the key codec (for maps without BTF, or to read keys differently). */
  key?: Codec;
  /** Override the value codec (for one CPU's slot in per-CPU maps). */
  value?: Codec;
}

export interface MapCreateOptions extends MapOptions {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  name?: string;
  /** A loaded BTF object (from btfLoad) and the ids of the key and value types in it. */
  btfFd?: Fd | number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  /** For map-in-map: a map whose shape inner maps must have. */
  innerMap?: FdLike;
  mapExtra?: bigint;
  numaNode?: number;
}

/** Something that is or owns a descriptor: a number, an Fd, or a handle with an `fd` (BpfMap, Program). */
export type FdLike = number | Fd | { readonly fd: Fd | number };

function fdNumber(x: FdLike): number {
  if (typeof x === 'number') return x;
  if (x instanceof Fd) return x.fd;
  const inner = x.fd;
  return typeof inner === 'number' ? inner : inner.fd;
}

/** Flags as the u64 the attr holds, without allocating a BigInt for the usual 0. */
function u64(flags: number): bigint {
  if (flags === 0) return 0n;
  // Only a caller's non-number reaches past here (0 is the default): an OptionError, not BigInt's.
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff)
    throw new OptionError('flags', flags, 'a 32-bit flags word (UpdateFlags / LookupFlags)');
  return BigInt(flags);
}

/** A batch argument: anything iterable (an array, a Set, a generator), else an OptionError. */
function checkIterable(call: string, name: string, value: unknown): void {
  checkArgument(
    call,
    name,
    value,
    'an iterable (or packed bytes)',
    typeof value === 'object' && value !== null && Symbol.iterator in value,
  );
}

/** The value codec of fd-valued maps: an FdLike in, the object's id (u32) out. */
function fdValueCodec(size: number): Codec<number> {
  const inner = rawCodec(size);
  const toFd = (x: unknown): unknown =>
    x instanceof Fd || (typeof x === 'object' && x !== null && 'fd' in x && !(x instanceof Uint8Array))
      ? fdNumber(x as FdLike)
      : x;
  return {
    size,
    typeId: 0,
    decode: (b, o = 0) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, HOST_LITTLE_ENDIAN),
    decodeView: (v, o) => v.getUint32(o, HOST_LITTLE_ENDIAN),
    encode: (x, out, o) => inner.encode(toFd(x), out, o),
    encodeView: (x, v, o) => inner.encodeView(toFd(x), v, o),
  };
}

function readInfo(fd: Fd): MapInfo {
  const { info, name } = mapGetInfo(fd.fd);
  return {
    type: info.type,
    typeName: mapTypeShortName(info.type),
    id: info.id,
    name,
    keySize: info.key_size,
    valueSize: info.value_size,
    maxEntries: info.max_entries,
    flags: info.map_flags,
    ifindex: info.ifindex,
    btfId: info.btf_id,
    btfKeyTypeId: info.btf_key_type_id,
    btfValueTypeId: info.btf_value_type_id,
    btfVmlinuxValueTypeId: info.btf_vmlinux_value_type_id,
    mapExtra: info.map_extra,
  };
}

export interface BatchLookupOptions {
  /** Elements asked for per syscall (grown when a hash bucket holds more). Default 256. */
  batchSize?: number;
}

export interface BatchesOptions extends BatchLookupOptions {
  /** Remove what is read (BPF_MAP_LOOKUP_AND_DELETE_BATCH). */
  delete?: boolean;
}

export interface IterateOptions {
  /**
   * For hash maps: elements read per BPF_MAP_LOOKUP_BATCH underneath the iteration (default 256);
   * 0 walks with BPF_MAP_GET_NEXT_KEY and a lookup per key, as kernels before 5.6 must.
   */
  batchSize?: number;
}

/**
 * Elements packed as the kernel lays them out for batch commands: keys of keySize bytes back to
 * back, and their values (valueStride × cpus bytes each, so per-CPU values are all CPUs' slots).
 */
export interface PackedEntries extends PackedKeys {
  values: Uint8Array;
}

/** Keys packed back to back, keySize bytes each. */
export interface PackedKeys {
  keys: Uint8Array;
  /** How many elements; default: as many as `keys` holds. */
  count?: number;
}

/** One batch from BpfMap.batches(): `count` elements, packed, in buffers the walk reuses. */
export interface MapBatch extends PackedEntries {
  count: number;
}

/**
 * Where a batch walk is (BPF_MAP_LOOKUP_BATCH's in_batch/out_batch token), kept between calls of
 * lookupBatchInto; one cursor serves one map. A fresh cursor starts at the first element.
 */
export class BatchCursor {
  /** True once the walk has reached the end of the map. */
  done = false;
  /** The kernel's position (a bucket or an index), valid once `started`. Internal. */
  token: Uint8Array = new Uint8Array(8);
  /** Whether the kernel has written `token` yet. Internal. */
  started = false;

  /** Starts the walk again from the first element. */
  reset(): void {
    this.done = false;
    this.started = false;
  }
}

/**
 * Maps whose BPF_MAP_LOOKUP_BATCH visits keys in BPF_MAP_GET_NEXT_KEY's order: hashes walk their
 * buckets; arrays take the kernel's generic walk (next key + lookup in the kernel), whose lookups
 * cannot miss on an array (on other types a key deleted meanwhile is EINTR after retries).
 */
const BATCH_ITERATED = new Set<number>([
  MapType.HASH,
  MapType.PERCPU_HASH,
  MapType.LRU_HASH,
  MapType.LRU_PERCPU_HASH,
  MapType.ARRAY,
  MapType.PERCPU_ARRAY,
]);
const DEFAULT_BATCH = 256;
/** ENOSPC growth stops here: no hash bucket holds a million elements. */
const MAX_BATCH = 1 << 20;
/** Batch argument buffers up to this size are kept for the next call (both: 2 MiB a map at most). */
const BATCH_SCRATCH_MAX = 1 << 20;

function isPacked(x: unknown): x is PackedKeys {
  return typeof x === 'object' && x !== null && (x as { keys?: unknown }).keys instanceof Uint8Array;
}

/**
 * A kernel map. `K` and `V` are the JS shapes of keys and values (unknown unless you say; with
 * BTF they are what the codecs produce). Per-CPU maps take and give an array of values, one per
 * possible CPU. Queues and stacks have no key: use push/pop/peek.
 */
export class BpfMap<K = unknown, V = unknown> implements Disposable {
  readonly fd: Fd;
  readonly type: number;
  readonly name: string;
  readonly id: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  /** map_extra at creation: an arena's user address (0: wherever its first mmap put it). */
  readonly mapExtra: bigint;
  /** The BTF the codecs come from, when the map has any. */
  readonly btf: TypeSource | undefined;
  readonly keyCodec: Codec;
  /** For per-CPU maps, the codec of one CPU's value. */
  readonly valueCodec: Codec;
  readonly perCpu: boolean;
  /** Possible CPUs for per-CPU maps, else 1. */
  readonly cpus: number;
  /** Bytes between CPUs' values in a per-CPU buffer (value size rounded up to 8). */
  readonly valueStride: number;
  /** keyBuf and valueBuf, with an attr for lookups and updates through them. */
  private readonly elem: ElemBuffers;
  private readonly keyBuf: Uint8Array;
  private readonly keyView: DataView;
  private readonly nextBuf: Uint8Array;
  private readonly valueBuf: Uint8Array;
  private readonly valueView: DataView;
  private mapped: ArrayBuffer | undefined;
  private mappedWritable = false;
  /** Cleared when the kernel refuses BPF_MAP_LOOKUP_BATCH (before 5.6): entries() walks by key. */
  private batchIterate = true;
  /** Reused buffers for packing batch calls' keys and values; see scratch(). */
  private readonly scratches: ({ bytes: Uint8Array; view: DataView } | undefined)[] = [undefined, undefined];
  /** True while a batch call packs its arguments into the scratch buffers. */
  private packing = false;

  private constructor(fd: Fd, info: MapInfo, opts: MapOptions) {
    this.fd = fd;
    this.type = info.type;
    this.name = info.name;
    this.id = info.id;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.mapExtra = info.mapExtra;
    this.perCpu = PERCPU_MAP_TYPES.has(info.type);
    this.cpus = this.perCpu ? possibleCpus() : 1;
    this.valueStride = this.perCpu ? (info.valueSize + 7) & ~7 : info.valueSize;

    let btf: TypeSource | undefined;
    if (opts.btf !== false && (info.btfKeyTypeId || info.btfValueTypeId)) {
      btf = opts.btf ?? (info.btfId ? btfFromKernel(info.btfId) : undefined);
    }
    this.btf = btf;
    const typed = (id: number, size: number, root: string): Codec => {
      if (btf && id) {
        const c = codecFor(btf, id, root);
        if (c.size === size) return c;
      }
      return rawCodec(size, root);
    };
    this.keyCodec = opts.key ?? typed(info.btfKeyTypeId, info.keySize, 'key');
    this.valueCodec =
      opts.value ??
      (FD_VALUE_MAP_TYPES.has(info.type)
        ? fdValueCodec(info.valueSize)
        : typed(info.btfValueTypeId, info.valueSize, 'value'));

    this.elem = new ElemBuffers(info.keySize, this.valueStride * this.cpus);
    this.keyBuf = this.elem.key;
    this.keyView = this.elem.keyView;
    this.nextBuf = new Uint8Array(Math.max(info.keySize, 1));
    this.valueBuf = this.elem.value;
    this.valueView = this.elem.valueView;
  }

  /**
   * Wraps a map descriptor, taking ownership: it is closed if it is not a map (EbpfError) or if
   * reading the map's info fails.
   */
  static fromFd<K = unknown, V = unknown>(fd: Fd, opts: MapOptions = {}): BpfMap<K, V> {
    checkOptionsArgument('BpfMap.fromFd', opts);
    requireObjectKind(fd, 'map');
    try {
      return new BpfMap<K, V>(fd, readInfo(fd), opts);
    } catch (e) {
      fd.close();
      throw e;
    }
  }

  /** Opens the map with this id (BPF_MAP_GET_FD_BY_ID; needs CAP_SYS_ADMIN). */
  static fromId<K = unknown, V = unknown>(id: number, opts: MapOptions = {}): BpfMap<K, V> {
    checkArgument('BpfMap.fromId', 'id', id, 'a map id (an integer from 1 to 2^32-1)', isObjectId(id));
    checkOptionsArgument('BpfMap.fromId', opts);
    return BpfMap.fromFd<K, V>(mapGetFdById(id), opts);
  }

  /** Opens the map pinned at `path` in a bpffs (BPF_OBJ_GET); another kind of pin is an EbpfError. */
  static fromPin<K = unknown, V = unknown>(path: string, opts: MapOptions = {}): BpfMap<K, V> {
    checkArgument('BpfMap.fromPin', 'path', path, 'a path in a bpffs', isPath(path));
    checkOptionsArgument('BpfMap.fromPin', opts);
    const fd = objGet(path);
    requireObjectKind(fd, 'map', path);
    return BpfMap.fromFd<K, V>(fd, opts);
  }

  /** Creates a map (BPF_MAP_CREATE). Most maps come from the loader; this is for hand-made ones. */
  static create<K = unknown, V = unknown>(o: MapCreateOptions): BpfMap<K, V> {
    checkArgument(
      'BpfMap.create',
      'options',
      o,
      'an object with type, keySize, valueSize, maxEntries',
      typeof o === 'object' && o !== null && !Array.isArray(o),
    );
    checkArgument(
      'BpfMap.create',
      'name',
      o.name,
      'a string',
      o.name === undefined || typeof o.name === 'string',
    );
    raiseMemlockIfCharged();
    const fd = mapCreate({
      map_type: o.type,
      key_size: o.keySize,
      value_size: o.valueSize,
      max_entries: o.maxEntries,
      map_flags: o.flags ?? 0,
      map_name: objName(o.name ?? ''),
      ...(o.btfFd !== undefined
        ? {
            btf_fd: fdNumber(o.btfFd),
            btf_key_type_id: o.btfKeyTypeId ?? 0,
            btf_value_type_id: o.btfValueTypeId ?? 0,
          }
        : {}),
      ...(o.innerMap !== undefined ? { inner_map_fd: fdNumber(o.innerMap) } : {}),
      ...(o.mapExtra !== undefined ? { map_extra: o.mapExtra } : {}),
      ...(o.numaNode !== undefined ? { numa_node: o.numaNode } : {}),
    });
    return BpfMap.fromFd<K, V>(fd, o);
  }

  /** Fresh info from the kernel. */
  info(): MapInfo {
    return readInfo(this.fd);
  }

  private error(message: string): EbpfError {
    return new EbpfError(message, { map: this.name });
  }

  private encodeKey(key: K | Uint8Array, buf: Uint8Array, view: DataView): Uint8Array | null {
    if (this.keySize === 0) return null;
    // Bytes of the key's size are what the codec would copy as is; the kernel only reads them.
    if (key instanceof Uint8Array && key.length === this.keySize) return key;
    this.keyCodec.encodeView(key, view, 0);
    return buf;
  }

  /** Encodes a value (per-CPU: an array of one value per CPU) into the value buffer. */
  private encodeValue(value: V | Uint8Array, view: DataView, at = 0): void {
    if (!this.perCpu) {
      this.valueCodec.encodeView(value, view, at);
      return;
    }
    const total = this.valueStride * this.cpus;
    if (value instanceof Uint8Array && value.length === total) {
      new Uint8Array(view.buffer, view.byteOffset + at, total).set(value);
      return;
    }
    if (!Array.isArray(value) || value.length !== this.cpus) {
      throw new CodecError(
        `a per-CPU map takes an array of ${this.cpus} values (one per possible CPU)`,
        'value',
      );
    }
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      const o = at + cpu * this.valueStride;
      new Uint8Array(view.buffer, view.byteOffset + o, this.valueStride).fill(0);
      try {
        this.valueCodec.encodeView(value[cpu], view, o);
      } catch (e) {
        if (e instanceof CodecError) {
          throw new CodecError(e.reason, `value[${cpu}]${e.path.replace(/^value/, '')}`, e.location.typeId);
        }
        throw e;
      }
    }
  }

  private decodeValue(view: DataView, at = 0): V {
    if (!this.perCpu) return this.valueCodec.decodeView(view, at) as V;
    const out: unknown[] = new Array(this.cpus);
    for (let cpu = 0; cpu < this.cpus; cpu++)
      out[cpu] = this.valueCodec.decodeView(view, at + cpu * this.valueStride);
    return out as V;
  }

  /** The value at `key`, or undefined when there is none. Map-in-map and prog arrays give the id. */
  lookup(key: K | Uint8Array, flags = 0): V | undefined {
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    if (!mapLookupElem(this.fd.fd, k, this.valueBuf, u64(flags), this.elem)) return undefined;
    return this.decodeValue(this.valueView);
  }

  /** The raw bytes at `key` (a copy), or undefined. */
  lookupBytes(key: K | Uint8Array, flags = 0): Uint8Array | undefined {
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    if (!mapLookupElem(this.fd.fd, k, this.valueBuf, u64(flags), this.elem)) return undefined;
    return this.valueBuf.slice(0, this.valueStride * this.cpus);
  }

  /**
   * Reads the value at `key` into `out` as the kernel lays it out (valueStride × cpus bytes; more
   * room is left alone) and says whether the key was there. Allocates nothing: for hot loops that
   * decode the bytes themselves, as C passes its own buffer to bpf_map_lookup_elem.
   */
  lookupInto(key: K | Uint8Array, out: Uint8Array, flags = 0): boolean {
    const need = this.valueStride * this.cpus;
    // The kernel writes the whole value whatever the buffer's length: a short one would be overrun.
    if (out.length < need) throw this.error(`lookupInto needs ${need} bytes of room, got ${out.length}`);
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    return mapLookupElem(this.fd.fd, k, out, u64(flags));
  }

  /**
   * Sets `key` to `value`. `flags`: UpdateFlags.ANY (default), NOEXIST (fails with EEXIST if
   * present), EXIST (fails with ENOENT if absent), F_LOCK (with a bpf_spin_lock in the value).
   * For map-in-map and prog arrays `value` is the inner map / program (handle, Fd or number).
   */
  update(key: K | Uint8Array, value: V | Uint8Array | FdLike, flags: number = BPF_ANY): void {
    // ANY, NOEXIST or EXIST, with F_LOCK or not: anything else is a typo the kernel would refuse
    // as EINVAL without saying which argument.
    if (
      !Number.isInteger(flags) ||
      flags < 0 ||
      (flags & ~BPF_F_LOCK) > BPF_EXIST ||
      flags > (BPF_F_LOCK | BPF_EXIST)
    )
      throw new OptionError('flags', flags, 'UpdateFlags.ANY, NOEXIST or EXIST, optionally | F_LOCK', {
        map: this.name,
      });
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    // Value bytes of the full size (all CPUs' for per-CPU maps) go to the kernel as they are.
    let v = this.valueBuf;
    if (value instanceof Uint8Array && value.length === this.valueStride * this.cpus) v = value;
    else this.encodeValue(value as V, this.valueView);
    mapUpdateElem(this.fd.fd, k, v, u64(flags), this.elem);
  }

  /** Removes `key`; false when it was not there. */
  delete(key: K | Uint8Array): boolean {
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    if (k === null) throw this.error('a map without keys has no delete (use pop)');
    return mapDeleteElem(this.fd.fd, k);
  }

  /** Looks up and removes `key` in one step (hash maps: Linux 5.14). Undefined when absent. */
  lookupAndDelete(key: K | Uint8Array, flags = 0): V | undefined {
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    if (!mapLookupAndDeleteElem(this.fd.fd, k, this.valueBuf, u64(flags), this.elem)) return undefined;
    return this.decodeValue(this.valueView);
  }

  /** The key after `key` (the first key when `key` is undefined), or undefined after the last. */
  nextKey(key?: K | Uint8Array): K | undefined {
    const k = key === undefined ? null : this.encodeKey(key, this.keyBuf, this.keyView);
    if (!mapGetNextKey(this.fd.fd, k, this.nextBuf)) return undefined;
    return this.keyCodec.decode(this.nextBuf) as K;
  }

  /**
   * Keys in the kernel's order (BPF_MAP_GET_NEXT_KEY). A hash map changed meanwhile may restart
   * the walk when the current key is deleted, as the kernel does.
   */
  *keys(): IterableIterator<K> {
    for (const raw of this.rawKeys()) yield this.keyCodec.decode(raw) as K;
  }

  private *rawKeys(): Generator<Uint8Array> {
    if (this.keySize === 0) throw this.error('a map without keys cannot be iterated (use pop)');
    let cur = new Uint8Array(this.keySize);
    let next = new Uint8Array(this.keySize);
    let first = true;
    while (mapGetNextKey(this.fd.fd, first ? null : cur, next)) {
      first = false;
      yield next;
      [cur, next] = [next, cur];
    }
  }

  /**
   * [key, value] pairs. Hash and array maps are read with BPF_MAP_LOOKUP_BATCH, `batchSize` a call,
   * in the order BPF_MAP_GET_NEXT_KEY gives (each key once when the map does not change meanwhile;
   * a change shows from the next batch on, and a deleted key does not restart the walk). Other
   * maps, kernels before 5.6 and `batchSize: 0` take a key walk and a lookup per key: a key
   * deleted between the two is skipped, and deleting the current key restarts a hash walk.
   */
  *entries(opts: IterateOptions = {}): IterableIterator<[K, V]> {
    if (this.keySize === 0) throw this.error('a map without keys cannot be iterated (use pop)');
    const size = opts.batchSize ?? DEFAULT_BATCH;
    if (size > 0 && this.batchIterate && BATCH_ITERATED.has(this.type)) {
      // batchedEntries() inlined: a generator delegating to another per entry costs a fifth of
      // the rate of a walk decoding small entries.
      const ks = this.keySize;
      const es = this.elemSize;
      const keyCodec = this.keyCodec;
      let kview: DataView | undefined;
      let vview: DataView | undefined;
      const walk = this.walk(false, size, false, true);
      for (let r = walk.next(); ; r = walk.next()) {
        if (r.done === true) {
          if (r.value) return;
          break;
        }
        const { keys, values, count } = r.value;
        if (kview?.buffer !== keys.buffer) kview = new DataView(keys.buffer);
        if (vview?.buffer !== values.buffer) vview = new DataView(values.buffer);
        for (let i = 0; i < count; i++) {
          yield [keyCodec.decodeView(kview, i * ks) as K, this.decodeValue(vview, i * es)];
        }
      }
    }
    // The walk of rawKeys() inlined, with a DataView kept per key buffer: this is the hot loop of
    // a dump, and a view or generator per entry costs as much as the codecs.
    const kbufs = [new Uint8Array(this.keySize), new Uint8Array(this.keySize)] as const;
    const kviews = [new DataView(kbufs[0].buffer), new DataView(kbufs[1].buffer)] as const;
    const vbuf = new Uint8Array(this.valueBuf.length);
    const vview = new DataView(vbuf.buffer);
    let prev: Uint8Array | null = null;
    for (let n: 0 | 1 = 0; ; n = n === 0 ? 1 : 0) {
      const next = kbufs[n];
      if (!mapGetNextKey(this.fd.fd, prev, next)) return;
      prev = next;
      if (!mapLookupElem(this.fd.fd, next, vbuf)) continue;
      yield [this.keyCodec.decodeView(kviews[n], 0) as K, this.decodeValue(vview)];
    }
  }

  /**
   * The walk of entries() through batches; false, having yielded nothing, when the kernel has no
   * BPF_MAP_LOOKUP_BATCH for the map (EINVAL before Linux 5.6, ENOTSUPP without the map op).
   */
  private *batchedEntries<T>(
    size: number,
    item: (
      keys: Uint8Array,
      kview: DataView,
      values: Uint8Array,
      vview: DataView,
      keyAt: number,
      valueAt: number,
    ) => T,
  ): Generator<T, boolean, undefined> {
    const ks = this.keySize;
    const es = this.elemSize;
    let kview: DataView | undefined;
    let vview: DataView | undefined;
    const walk = this.walk(false, size, false, true);
    for (let r = walk.next(); ; r = walk.next()) {
      if (r.done === true) return r.value;
      const { keys, values, count } = r.value;
      // The walk reuses its buffers until it grows them: a view per buffer, not per batch.
      if (kview?.buffer !== keys.buffer) kview = new DataView(keys.buffer);
      if (vview?.buffer !== values.buffer) vview = new DataView(values.buffer);
      for (let i = 0; i < count; i++) yield item(keys, kview, values, vview, i * ks, i * es);
    }
  }

  *values(opts: IterateOptions = {}): IterableIterator<V> {
    for (const [, v] of this.entries(opts)) yield v;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** Raw [key, value] byte pairs (copies), for dumping; read as entries() reads (`opts` alike). */
  *rawEntries(opts: IterateOptions = {}): IterableIterator<[Uint8Array, Uint8Array]> {
    if (this.keySize === 0) throw this.error('a map without keys cannot be iterated (use pop)');
    const size = opts.batchSize ?? DEFAULT_BATCH;
    if (size > 0 && this.batchIterate && BATCH_ITERATED.has(this.type)) {
      const ks = this.keySize;
      const es = this.valueStride * this.cpus;
      const copy = (k: Uint8Array, _kv: DataView, v: Uint8Array, _vv: DataView, ko: number, vo: number) =>
        [k.slice(ko, ko + ks), v.slice(vo, vo + es)] as [Uint8Array, Uint8Array];
      if (yield* this.batchedEntries(size, copy)) return;
    }
    const vbuf = new Uint8Array(this.valueBuf.length);
    for (const raw of this.rawKeys()) {
      if (!mapLookupElem(this.fd.fd, raw, vbuf)) continue;
      yield [raw.slice(), vbuf.slice()];
    }
  }

  // ---- batches (Linux 5.6) ----

  /** Bytes of one element's value in batch buffers: all CPUs' slots for per-CPU maps. */
  private get elemSize(): number {
    return this.valueStride * this.cpus;
  }

  /** One lookup (and delete) batch call from `cursor`, `count` elements at most. */
  private batchCall(
    del: boolean,
    cursor: BatchCursor,
    keys: Uint8Array,
    values: Uint8Array,
    count: number,
  ): number {
    // Hash maps keep a u32 bucket in the token; the generic (array) walk keeps the last key.
    const need = Math.max(this.keySize, 4);
    if (cursor.token.length < need) {
      if (cursor.started) {
        throw this.error(`batch cursor holds ${cursor.token.length} bytes, the map's need ${need}`);
      }
      cursor.token = new Uint8Array(need);
    }
    let res;
    try {
      // The kernel reads in_batch before it writes out_batch: one token serves as both.
      const o = {
        inBatch: cursor.started ? cursor.token : null,
        outBatch: cursor.token,
        keys,
        values,
        count,
      };
      res = del ? mapLookupAndDeleteBatch(this.fd.fd, o) : mapLookupBatch(this.fd.fd, o);
    } catch (e) {
      if (isErrno(e, E.EINVAL) && (this.type === MapType.QUEUE || this.type === MapType.STACK)) {
        throw new NotSupportedError(`batch operations on ${mapTypeShortName(this.type)} maps`, {
          map: this.name,
        });
      }
      throw e;
    }
    cursor.started = true;
    if (res.done) cursor.done = true;
    return res.count;
  }

  /** How many whole elements both buffers hold, refusing buffers with room for none. */
  private roomIn(keys: Uint8Array, values: Uint8Array): number {
    const es = this.elemSize;
    const n = Math.min(
      this.keySize ? Math.floor(keys.length / this.keySize) : Infinity,
      Math.floor(values.length / es),
    );
    if (!(n >= 1)) {
      throw this.error(
        `batch buffers hold no element (keys: ${keys.length} bytes of ${this.keySize} each, values: ${values.length} bytes of ${es} each)`,
      );
    }
    return Math.min(n, 0xffffffff);
  }

  /**
   * One BPF_MAP_LOOKUP_BATCH into buffers the caller owns and reuses, from where `cursor` is: as
   * many elements as both buffers hold (keySize bytes a key; valueStride × cpus bytes a value),
   * packed as the kernel writes them. Returns how many were written; `cursor.done` turns true at
   * the end of the map. Allocates nothing per element, as bpf_map_lookup_batch in C.
   * Throws SyscallError ENOSPC when one hash bucket holds more elements than the buffers do (call
   * again with more room: the cursor has not moved), NotSupportedError for queues and stacks.
   * Requires Linux 5.6.
   */
  lookupBatchInto(cursor: BatchCursor, keys: Uint8Array, values: Uint8Array): number {
    if (cursor.done) return 0;
    return this.batchCall(false, cursor, keys, values, this.roomIn(keys, values));
  }

  /** lookupBatchInto with BPF_MAP_LOOKUP_AND_DELETE_BATCH: what is read is removed. */
  lookupAndDeleteBatchInto(cursor: BatchCursor, keys: Uint8Array, values: Uint8Array): number {
    if (cursor.done) return 0;
    return this.batchCall(true, cursor, keys, values, this.roomIn(keys, values));
  }

  /**
   * The whole map in batches, as packed bytes: each step yields `{ keys, values, count }` over
   * buffers the walk reuses, so the bytes are valid until the next step (copy what you keep).
   * `batchSize` elements a call (default 256), grown when a hash bucket holds more. With
   * `delete`, what is read is removed. Requires Linux 5.6.
   */
  *batches(opts: BatchesOptions = {}): Generator<MapBatch, void, undefined> {
    yield* this.walk(opts.delete === true, opts.batchSize, false);
  }

  /**
   * Batches over one cursor, growing the buffers when a hash bucket holds more than `batchSize`
   * elements; `fresh` gives each batch its own buffers (for views that outlive it). With
   * `fallback`, a kernel without the batch command for this map (EINVAL before Linux 5.6, ENOTSUPP
   * without the map op) on the first call ends the walk with false, having yielded nothing, and
   * later walks of this map take the key walk; otherwise that is thrown.
   */
  private *walk(
    del: boolean,
    batchSize: number | undefined,
    fresh: boolean,
    fallback = false,
  ): Generator<MapBatch, boolean, undefined> {
    // Not a finite number, the size was NaN and the walk asked for batches of nothing forever.
    if (batchSize !== undefined && (typeof batchSize !== 'number' || !Number.isFinite(batchSize)))
      throw new OptionError('batchSize', batchSize, 'a number of entries (a finite number)');
    let size = Math.max(1, Math.floor(batchSize ?? DEFAULT_BATCH));
    const ks = this.keySize;
    const es = this.elemSize;
    const cursor = new BatchCursor();
    let keys = new Uint8Array(size * ks);
    let values = new Uint8Array(size * es);
    let first = true;
    while (!cursor.done) {
      let n: number;
      try {
        n = this.batchCall(del, cursor, keys, values, size);
      } catch (e) {
        // A hash bucket with more elements than `size`: ask again with room for it.
        if (isErrno(e, E.ENOSPC) && size < MAX_BATCH) {
          size *= 2;
          keys = new Uint8Array(size * ks);
          values = new Uint8Array(size * es);
          continue;
        }
        if (
          fallback &&
          first &&
          (isErrno(e, E.EINVAL) || isErrno(e, E.ENOTSUPP) || isErrno(e, E.EOPNOTSUPP))
        ) {
          this.batchIterate = false;
          return false;
        }
        throw e;
      }
      first = false;
      if (n === 0) continue;
      yield { keys: keys.subarray(0, n * ks), values: values.subarray(0, n * es), count: n };
      if (fresh && !cursor.done) {
        keys = new Uint8Array(size * ks);
        values = new Uint8Array(size * es);
      }
    }
    return true;
  }

  private batchWalk(del: boolean, opts: BatchLookupOptions): [K, V][] {
    const ks = this.keySize;
    const es = this.elemSize;
    // Raw entries are views of the batch's buffers, not copies: each batch then needs its own.
    const rawKey = this.keyCodec.raw === true;
    const rawValue = this.valueCodec.raw === true && !this.perCpu;
    const out: [K, V][] = [];
    for (const b of this.walk(del, opts.batchSize, rawKey || rawValue)) {
      const kview = new DataView(b.keys.buffer, b.keys.byteOffset, b.keys.byteLength);
      const vview = new DataView(b.values.buffer, b.values.byteOffset, b.values.byteLength);
      for (let i = 0; i < b.count; i++) {
        out.push([
          (rawKey ? b.keys.subarray(i * ks, (i + 1) * ks) : this.keyCodec.decodeView(kview, i * ks)) as K,
          (rawValue ? b.values.subarray(i * es, (i + 1) * es) : this.decodeValue(vview, i * es)) as V,
        ]);
      }
    }
    return out;
  }

  /** All entries, read with BPF_MAP_LOOKUP_BATCH. For large maps batches() allocates far less. */
  lookupBatch(opts: BatchLookupOptions = {}): [K, V][] {
    return this.batchWalk(false, opts);
  }

  /** All entries, read and removed with BPF_MAP_LOOKUP_AND_DELETE_BATCH. */
  lookupAndDeleteBatch(opts: BatchLookupOptions = {}): [K, V][] {
    return this.batchWalk(true, opts);
  }

  /** Checks packed entries against the map's sizes; returns their count. */
  private packedCount(p: PackedKeys, values?: Uint8Array): number {
    const ks = this.keySize;
    const count = p.count ?? (ks ? Math.floor(p.keys.length / ks) : 0);
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) {
      throw this.error(`packed count ${count} is not a whole number of elements`);
    }
    if (p.keys.length < count * ks) {
      throw this.error(`packed keys hold ${p.keys.length} bytes, ${count} keys need ${count * ks}`);
    }
    if (values !== undefined && values.length < count * this.elemSize) {
      throw this.error(
        `packed values hold ${values.length} bytes, ${count} values need ${count * this.elemSize}`,
      );
    }
    return count;
  }

  /**
   * Writes entries in one BPF_MAP_UPDATE_BATCH; returns how many were written. Takes [key, value]
   * pairs, or packed bytes `{ keys, values, count }` (as batches() yields them) that go to the
   * kernel as they are. `flags` (elem_flags): BPF_F_LOCK or nothing; the kernel refuses the
   * NOEXIST / EXIST of update() here with EINVAL.
   */
  updateBatch(
    entries: Iterable<[K | Uint8Array, V | Uint8Array]> | PackedEntries,
    flags: number = BPF_ANY,
  ): number {
    if (isPacked(entries)) {
      const values: unknown = entries.values;
      if (!(values instanceof Uint8Array)) throw this.error('packed entries need values as a Uint8Array');
      const count = this.packedCount(entries, values);
      if (count === 0) return 0;
      return mapUpdateBatch(this.fd.fd, {
        keys: entries.keys,
        values: entries.values,
        count,
        elemFlags: u64(flags),
      });
    }
    checkIterable('updateBatch', 'entries', entries);
    const list = Array.isArray(entries) ? (entries as [K | Uint8Array, V | Uint8Array][]) : [...entries];
    if (list.length === 0) return 0;
    for (const e of list)
      checkArgument('updateBatch', 'entries', e, '[key, value] pairs', Array.isArray(e) && e.length === 2);
    const ks = this.keySize;
    const es = this.elemSize;
    // Every byte of both is written below (the codecs clear what they leave): scratch will do.
    const outer = this.packing;
    this.packing = true;
    try {
      const { bytes: keys, view: kview } = this.scratch(0, list.length * ks, outer);
      const { bytes: values, view: vview } = this.scratch(1, list.length * es, outer);
      for (let i = 0; i < list.length; i++) {
        const [k, v] = list[i]!;
        if (k instanceof Uint8Array && k.length === ks) keys.set(k, i * ks);
        else this.keyCodec.encodeView(k, kview, i * ks);
        if (v instanceof Uint8Array && v.length === es) values.set(v, i * es);
        else this.encodeValue(v as V, vview, i * es);
      }
      return mapUpdateBatch(this.fd.fd, { keys, values, count: list.length, elemFlags: u64(flags) });
    } finally {
      this.packing = outer;
    }
  }

  /**
   * Buffer `slot` (0: keys, 1: values) of at least `size` bytes for packing a batch call's
   * arguments, reused between calls up to BATCH_SCRATCH_MAX bytes (a larger one is not kept).
   * Its bytes are whatever the last call left: the caller writes every byte it passes on.
   * `fresh` (a batch packed while another is, from a getter of its values): a new buffer.
   */
  private scratch(slot: 0 | 1, size: number, fresh = false): { bytes: Uint8Array; view: DataView } {
    if (fresh || size > BATCH_SCRATCH_MAX) {
      const bytes = new Uint8Array(size);
      return { bytes, view: new DataView(bytes.buffer) };
    }
    let s = this.scratches[slot];
    if (s === undefined || s.bytes.length < size) {
      const bytes = new Uint8Array(Math.max(size, 256));
      s = this.scratches[slot] = { bytes, view: new DataView(bytes.buffer) };
    }
    return s;
  }

  /**
   * Removes keys in one BPF_MAP_DELETE_BATCH; returns how many were removed. Takes keys, or
   * packed key bytes `{ keys, count }`.
   */
  deleteBatch(keys: Iterable<K | Uint8Array> | PackedKeys): number {
    if (isPacked(keys)) {
      const count = this.packedCount(keys);
      return count === 0 ? 0 : mapDeleteBatch(this.fd.fd, { keys: keys.keys, count });
    }
    checkIterable('deleteBatch', 'keys', keys);
    const list = [...keys];
    if (list.length === 0) return 0;
    const outer = this.packing;
    this.packing = true;
    try {
      const { bytes: buf, view } = this.scratch(0, list.length * this.keySize, outer);
      list.forEach((k, i) => this.keyCodec.encodeView(k, view, i * this.keySize));
      return mapDeleteBatch(this.fd.fd, { keys: buf, count: list.length });
    } finally {
      this.packing = outer;
    }
  }

  // ---- queues and stacks (Linux 4.20) ----

  /** Adds `value` to a queue or stack; UpdateFlags.EXIST overwrites the oldest when full. */
  push(value: V | Uint8Array, flags: number = BPF_ANY): void {
    this.encodeValue(value as V, this.valueView);
    mapUpdateElem(this.fd.fd, null, this.valueBuf, u64(flags), this.elem);
  }

  /** Removes and returns the next value (queue: oldest; stack: newest), undefined when empty. */
  pop(): V | undefined {
    if (!mapLookupAndDeleteElem(this.fd.fd, null, this.valueBuf, 0n, this.elem)) return undefined;
    return this.decodeValue(this.valueView);
  }

  /** The next value without removing it, undefined when empty. */
  peek(): V | undefined {
    if (!mapLookupElem(this.fd.fd, null, this.valueBuf, 0n, this.elem)) return undefined;
    return this.decodeValue(this.valueView);
  }

  // ---- the rest ----

  /** Makes the map read-only for user space (Linux 5.2); programs can still write it. */
  freeze(): void {
    mapFreeze(this.fd.fd);
  }

  /** For map-in-map: the inner map at `key`, opened by its id; undefined when empty. */
  innerMap(key: K | Uint8Array, opts: MapOptions = {}): BpfMap | undefined {
    if (this.type !== MapType.ARRAY_OF_MAPS && this.type !== MapType.HASH_OF_MAPS) {
      throw this.error('innerMap() needs an array or hash of maps');
    }
    const id = this.lookup(key);
    return id === undefined ? undefined : BpfMap.fromId(id as number, opts);
  }

  /** Pins the map at `path` in a bpffs. */
  pin(path: string): void {
    pinObject(this.fd.fd, path);
  }

  /**
   * The map's memory (BPF_F_MMAPABLE arrays, Linux 5.5): an ArrayBuffer over the values, shared
   * with programs. Writable unless the map is frozen or read-only to user space. Unmapped on close.
   *
   * For an arena (BPF_MAP_TYPE_ARENA, Linux 6.9): all its pages (max_entries), at its map_extra
   * address when it has one (EEXIST when this process has something else there); a page reads as
   * zeros and is allocated when first touched (unless the arena has BPF_F_SEGV_ON_FAULT). An arena
   * has one user address: a second mapping of it, in any process, must land there too. The
   * loader's arenas come already mapped (see LoadedObject.arena).
   */
  memory(): ArrayBuffer {
    if (this.mapped && this.mapped.byteLength > 0) return this.mapped;
    if (!(this.flags & BPF_F_MMAPABLE)) throw this.error('map was not created with BPF_F_MMAPABLE');
    const page = pageSize();
    if (this.type === MapType.ARENA) {
      this.mapped = mmap(this.fd.fd, this.maxEntries * page, {
        write: true,
        ...(this.mapExtra !== 0n ? { at: this.mapExtra } : {}),
      });
      this.mappedWritable = true;
      return this.mapped;
    }
    const len = Math.ceil((this.valueStride * this.maxEntries) / page) * page || page;
    try {
      this.mapped = mmap(this.fd.fd, len, { write: true });
      this.mappedWritable = true;
    } catch (e) {
      if (!isErrno(e, E.EPERM) && !isErrno(e, E.EACCES)) throw e;
      this.mapped = mmap(this.fd.fd, len);
      this.mappedWritable = false;
    }
    return this.mapped;
  }

  /**
   * Gives the handle a writable mapping of its memory made elsewhere (the loader maps arenas before
   * their programs load); memory() returns it, close() unmaps it.
   */
  adoptMemory(buffer: ArrayBuffer): void {
    if (this.mapped && this.mapped.byteLength > 0) throw this.error('map memory is already mapped');
    this.mapped = buffer;
    this.mappedWritable = true;
  }

  /** Whether memory() is mapped writable; writing a read-only mapping would crash the process. */
  get memoryWritable(): boolean {
    return this.mapped !== undefined && this.mappedWritable;
  }

  /** Closes the descriptor (and unmaps memory); idempotent. */
  close(): void {
    if (this.mapped) {
      const m = this.mapped;
      this.mapped = undefined;
      munmap(m);
    }
    this.fd.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `map '${this.name}' (${mapTypeShortName(this.type)}, id ${this.id})`;
  }
}
