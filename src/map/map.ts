// BpfMap: the handle on one kernel map. Owns its Fd; keys and values go through codecs (from the
// map's BTF when it has one, raw bytes otherwise); single-element calls reuse preallocated buffers.
import { Btf } from '../btf/btf.js';
import { loadKernelBtf } from '../btf/kernel.js';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_LOCK,
  BPF_F_MMAPABLE,
  BPF_NOEXIST,
  MapType,
  mapTypeName,
} from '../constants.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import {
  btfGetFdById,
  btfGetInfo,
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
  objGet,
  objName,
  objPin,
} from '../sys/bpf.js';
import { E } from '../sys/errno.js';
import { isErrno } from '../sys/error.js';
import { Fd } from '../sys/fd.js';
import { mmap, munmap, pageSize } from '../sys/mmap.js';
import { codecFor, rawCodec, CodecError, type Codec, type TypeSource } from './codec.js';
import { possibleCpus } from './cpus.js';

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

const PERCPU = new Set<number>([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
]);
/** Types whose values are written as descriptors and read back as object ids. */
const FD_VALUES = new Set<number>([
  MapType.PROG_ARRAY,
  MapType.PERF_EVENT_ARRAY,
  MapType.CGROUP_ARRAY,
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
]);

const hostLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Flags as the u64 the attr holds, without allocating a BigInt for the usual 0. */
function u64(flags: number): bigint {
  return flags === 0 ? 0n : BigInt(flags);
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
    decode: (b, o = 0) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, hostLE),
    decodeView: (v, o) => v.getUint32(o, hostLE),
    encode: (x, out, o) => inner.encode(toFd(x), out, o),
    encodeView: (x, v, o) => inner.encodeView(toFd(x), v, o),
  };
}

const kernelBtfCache = new Map<number, Btf>();

/**
 * The BTF object `id` from the kernel (BPF_BTF_GET_FD_BY_ID + BPF_OBJ_GET_INFO_BY_FD), parsed;
 * split BTF (module BTF, or BTF loaded on top of vmlinux) gets vmlinux as its base. Cached by id.
 */
export function btfFromKernel(id: number): Btf {
  const hit = kernelBtfCache.get(id);
  if (hit) return hit;
  const fd = btfGetFdById(id);
  let got: ReturnType<typeof btfGetInfo>;
  try {
    got = btfGetInfo(fd.fd, true);
  } finally {
    fd.close();
  }
  const data = got.data ?? new Uint8Array(0);
  // Standalone BTF's string section starts with a NUL; split BTF's continues its base's.
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const strStart = data.length >= 24 ? view.getUint32(4, hostLE) + view.getUint32(16, hostLE) : 0;
  const split =
    (got.info.kernel_btf !== 0 && got.name !== 'vmlinux') || (strStart < data.length && data[strStart] !== 0);
  const btf = Btf.parse(
    data,
    split ? { base: loadKernelBtf(), file: `btf id ${id}` } : { file: `btf id ${id}` },
  );
  kernelBtfCache.set(id, btf);
  return btf;
}

const TYPE_NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(MapType)) TYPE_NAMES[v] ??= k.toLowerCase();

function readInfo(fd: Fd): MapInfo {
  const { info, name } = mapGetInfo(fd.fd);
  return {
    type: info.type,
    typeName: TYPE_NAMES[info.type] ?? mapTypeName(info.type),
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
  private readonly keyBuf: Uint8Array;
  private readonly keyView: DataView;
  private readonly nextBuf: Uint8Array;
  private readonly valueBuf: Uint8Array;
  private readonly valueView: DataView;
  private mapped: ArrayBuffer | undefined;
  private mappedWritable = false;

  private constructor(fd: Fd, info: MapInfo, opts: MapOptions) {
    this.fd = fd;
    this.type = info.type;
    this.name = info.name;
    this.id = info.id;
    this.keySize = info.keySize;
    this.valueSize = info.valueSize;
    this.maxEntries = info.maxEntries;
    this.flags = info.flags;
    this.perCpu = PERCPU.has(info.type);
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
      (FD_VALUES.has(info.type)
        ? fdValueCodec(info.valueSize)
        : typed(info.btfValueTypeId, info.valueSize, 'value'));

    this.keyBuf = new Uint8Array(Math.max(info.keySize, 1));
    this.keyView = new DataView(this.keyBuf.buffer);
    this.nextBuf = new Uint8Array(Math.max(info.keySize, 1));
    this.valueBuf = new Uint8Array(Math.max(this.valueStride * this.cpus, 1));
    this.valueView = new DataView(this.valueBuf.buffer);
  }

  /** Wraps a map descriptor, taking ownership (it is closed if reading the map's info fails). */
  static fromFd<K = unknown, V = unknown>(fd: Fd, opts: MapOptions = {}): BpfMap<K, V> {
    try {
      return new BpfMap<K, V>(fd, readInfo(fd), opts);
    } catch (e) {
      fd.close();
      throw e;
    }
  }

  /** Opens the map with this id (BPF_MAP_GET_FD_BY_ID; needs CAP_SYS_ADMIN). */
  static fromId<K = unknown, V = unknown>(id: number, opts: MapOptions = {}): BpfMap<K, V> {
    return BpfMap.fromFd<K, V>(mapGetFdById(id), opts);
  }

  /** Opens the map pinned at `path` in a bpffs (BPF_OBJ_GET). */
  static fromPin<K = unknown, V = unknown>(path: string, opts: MapOptions = {}): BpfMap<K, V> {
    return BpfMap.fromFd<K, V>(objGet(path), opts);
  }

  /** Creates a map (BPF_MAP_CREATE). Most maps come from the loader; this is for hand-made ones. */
  static create<K = unknown, V = unknown>(o: MapCreateOptions): BpfMap<K, V> {
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
    if (!mapLookupElem(this.fd.fd, k, this.valueBuf, u64(flags))) return undefined;
    return this.decodeValue(this.valueView);
  }

  /** The raw bytes at `key` (a copy), or undefined. */
  lookupBytes(key: K | Uint8Array, flags = 0): Uint8Array | undefined {
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    if (!mapLookupElem(this.fd.fd, k, this.valueBuf, u64(flags))) return undefined;
    return this.valueBuf.slice(0, this.valueStride * this.cpus);
  }

  /**
   * Sets `key` to `value`. `flags`: UpdateFlags.ANY (default), NOEXIST (fails with EEXIST if
   * present), EXIST (fails with ENOENT if absent), F_LOCK (with a bpf_spin_lock in the value).
   * For map-in-map and prog arrays `value` is the inner map / program (handle, Fd or number).
   */
  update(key: K | Uint8Array, value: V | Uint8Array | FdLike, flags: number = BPF_ANY): void {
    const k = this.encodeKey(key, this.keyBuf, this.keyView);
    // Value bytes of the full size (all CPUs' for per-CPU maps) go to the kernel as they are.
    let v = this.valueBuf;
    if (value instanceof Uint8Array && value.length === this.valueStride * this.cpus) v = value;
    else this.encodeValue(value as V, this.valueView);
    mapUpdateElem(this.fd.fd, k, v, u64(flags));
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
    if (!mapLookupAndDeleteElem(this.fd.fd, k, this.valueBuf, u64(flags))) return undefined;
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

  /** [key, value] pairs; a key deleted between the walk and its lookup is skipped. */
  *entries(): IterableIterator<[K, V]> {
    if (this.keySize === 0) throw this.error('a map without keys cannot be iterated (use pop)');
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

  *values(): IterableIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** Raw [key, value] byte pairs (copies), for dumping. */
  *rawEntries(): IterableIterator<[Uint8Array, Uint8Array]> {
    const vbuf = new Uint8Array(this.valueBuf.length);
    for (const raw of this.rawKeys()) {
      if (!mapLookupElem(this.fd.fd, raw, vbuf)) continue;
      yield [raw.slice(), vbuf.slice()];
    }
  }

  // ---- batches (Linux 5.6) ----

  private batchWalk(del: boolean, opts: BatchLookupOptions): [K, V][] {
    let size = Math.max(1, opts.batchSize ?? 256);
    const tokenSize = Math.max(this.keySize, 4);
    let inBatch: Uint8Array | null = null;
    const out: [K, V][] = [];
    const elemSize = this.valueStride * this.cpus;
    for (;;) {
      const keys = new Uint8Array(size * this.keySize);
      const values = new Uint8Array(size * elemSize);
      const outBatch = new Uint8Array(tokenSize);
      let res;
      try {
        const o = { inBatch, outBatch, keys, values, count: size };
        res = del ? mapLookupAndDeleteBatch(this.fd.fd, o) : mapLookupBatch(this.fd.fd, o);
      } catch (e) {
        // A hash bucket with more elements than `count`: ask again with room for it.
        if (isErrno(e, E.ENOSPC) && size < 1 << 20) {
          size *= 2;
          continue;
        }
        if (isErrno(e, E.EINVAL) && (this.type === MapType.QUEUE || this.type === MapType.STACK)) {
          throw new NotSupportedError(`batch operations on ${TYPE_NAMES[this.type]} maps`, {
            map: this.name,
          });
        }
        throw e;
      }
      const kview = new DataView(keys.buffer);
      const vview = new DataView(values.buffer);
      // The buffers are fresh and belong to the result: raw entries are views of them, not copies.
      const rawKey = this.keyCodec.raw === true;
      const rawValue = this.valueCodec.raw === true && !this.perCpu;
      const ks = this.keySize;
      for (let i = 0; i < res.count; i++) {
        out.push([
          (rawKey ? keys.subarray(i * ks, (i + 1) * ks) : this.keyCodec.decodeView(kview, i * ks)) as K,
          (rawValue
            ? values.subarray(i * elemSize, (i + 1) * elemSize)
            : this.decodeValue(vview, i * elemSize)) as V,
        ]);
      }
      if (res.done) return out;
      inBatch = outBatch;
    }
  }

  /** All entries, read with BPF_MAP_LOOKUP_BATCH. */
  lookupBatch(opts: BatchLookupOptions = {}): [K, V][] {
    return this.batchWalk(false, opts);
  }

  /** All entries, read and removed with BPF_MAP_LOOKUP_AND_DELETE_BATCH. */
  lookupAndDeleteBatch(opts: BatchLookupOptions = {}): [K, V][] {
    return this.batchWalk(true, opts);
  }

  /** Writes all `entries` in one BPF_MAP_UPDATE_BATCH; returns how many were written. */
  updateBatch(entries: Iterable<[K | Uint8Array, V | Uint8Array]>, flags: number = BPF_ANY): number {
    const list = [...entries];
    if (list.length === 0) return 0;
    const elemSize = this.valueStride * this.cpus;
    const keys = new Uint8Array(list.length * this.keySize);
    const values = new Uint8Array(list.length * elemSize);
    const kview = new DataView(keys.buffer);
    const vview = new DataView(values.buffer);
    list.forEach(([k, v], i) => {
      if (k instanceof Uint8Array && k.length === this.keySize) keys.set(k, i * this.keySize);
      else this.keyCodec.encodeView(k, kview, i * this.keySize);
      if (v instanceof Uint8Array && v.length === elemSize) values.set(v, i * elemSize);
      else this.encodeValue(v as V, vview, i * elemSize);
    });
    return mapUpdateBatch(this.fd.fd, { keys, values, count: list.length, elemFlags: u64(flags) });
  }

  /** Removes all `keys` in one BPF_MAP_DELETE_BATCH; returns how many were removed. */
  deleteBatch(keys: Iterable<K | Uint8Array>): number {
    const list = [...keys];
    if (list.length === 0) return 0;
    const buf = new Uint8Array(list.length * this.keySize);
    const view = new DataView(buf.buffer);
    list.forEach((k, i) => this.keyCodec.encodeView(k, view, i * this.keySize));
    return mapDeleteBatch(this.fd.fd, { keys: buf, count: list.length });
  }

  // ---- queues and stacks (Linux 4.20) ----

  /** Adds `value` to a queue or stack; UpdateFlags.EXIST overwrites the oldest when full. */
  push(value: V | Uint8Array, flags: number = BPF_ANY): void {
    this.encodeValue(value as V, this.valueView);
    mapUpdateElem(this.fd.fd, null, this.valueBuf, u64(flags));
  }

  /** Removes and returns the next value (queue: oldest; stack: newest), undefined when empty. */
  pop(): V | undefined {
    if (!mapLookupAndDeleteElem(this.fd.fd, null, this.valueBuf)) return undefined;
    return this.decodeValue(this.valueView);
  }

  /** The next value without removing it, undefined when empty. */
  peek(): V | undefined {
    if (!mapLookupElem(this.fd.fd, null, this.valueBuf)) return undefined;
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
    objPin(this.fd.fd, path);
  }

  /**
   * The map's memory (BPF_F_MMAPABLE arrays, Linux 5.5): an ArrayBuffer over the values, shared
   * with programs. Writable unless the map is frozen or read-only to user space. Unmapped on close.
   */
  memory(): ArrayBuffer {
    if (this.mapped && this.mapped.byteLength > 0) return this.mapped;
    if (!(this.flags & BPF_F_MMAPABLE)) throw this.error('map was not created with BPF_F_MMAPABLE');
    const page = pageSize();
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
    return `map '${this.name}' (${TYPE_NAMES[this.type] ?? this.type}, id ${this.id})`;
  }
}

export { BpfMap as Map };
