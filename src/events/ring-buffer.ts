// RingBuffer: the reader of a BPF_MAP_TYPE_RINGBUF map (Linux 5.8) over its mmap'd pages —
// consumer page read-write, producer page and the twice-mapped data area read-only.
import type { Btf } from '../btf/btf.js';
import { MapType } from '../constants.js';
import { EbpfError } from '../errors.js';
import type { Codec } from '../btf/codec.js';
import { mmap, munmap, pageSize } from '../sys/mmap.js';
import { codecForType, decodeRecord } from './decode.js';
import { eventMap, type EventMap, type EventMapLike } from './event-map.js';
import { EventReader } from './reader.js';

/** Record header bits (uapi linux/bpf.h). */
export const BPF_RINGBUF_BUSY_BIT = 1 << 31;
export const BPF_RINGBUF_DISCARD_BIT = 1 << 30;
/** Bytes of the header before each record: u32 length with the bits above, u32 page offset. */
export const BPF_RINGBUF_HDR_SZ = 8;

/**
 * Reads records from a ring buffer map. Records come out in the order the kernel committed
 * them; discarded records are skipped. Each record is a copy (a Uint8Array of exactly the
 * length the program gave), or a value when decodeWith() set a type. The map must stay open
 * while the reader is: close the reader first.
 *
 * Requires Linux 5.8. Errors: EbpfError when the map is not a ring buffer; SyscallError from
 * mmap (EPERM without CAP_BPF...).
 */
export class RingBuffer<T = Uint8Array> extends EventReader<T> {
  /** The map's name, for messages. */
  readonly name: string;
  /** Bytes of the data area (the map's max_entries, a power of two pages). */
  readonly size: number;
  readonly #map: EventMap;
  #consumerPage: ArrayBuffer;
  #producerPages: ArrayBuffer;
  readonly #consumerPos: BigUint64Array;
  readonly #producerPos: BigUint64Array;
  /** The data area (2 × size bytes) as u32 words, for atomic header loads. */
  readonly #words: Int32Array;
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  readonly #mask: bigint;
  #produced: bigint;
  #codec: Codec<T> | undefined;

  private constructor(map: EventMap) {
    super();
    this.#map = map;
    this.name = map.name;
    const size = map.maxEntries;
    const page = pageSize();
    if (size < page || (size & (size - 1)) !== 0) {
      throw new EbpfError(`ring buffer size ${size} is not a power-of-two number of pages`, {
        map: map.name,
      });
    }
    this.size = size;
    const fd = map.fd() ?? -1;
    this.#consumerPage = mmap(fd, page, { write: true });
    try {
      // The kernel maps the data pages twice in a row, so a record that wraps reads contiguously.
      this.#producerPages = mmap(fd, page + 2 * size, { offset: page });
    } catch (e) {
      munmap(this.#consumerPage);
      throw e;
    }
    this.#consumerPos = new BigUint64Array(this.#consumerPage, 0, 1);
    this.#producerPos = new BigUint64Array(this.#producerPages, 0, 1);
    this.#words = new Int32Array(this.#producerPages, page, (2 * size) / 4);
    this.#view = new DataView(this.#producerPages, page, 2 * size);
    this.#bytes = new Uint8Array(this.#producerPages, page, 2 * size);
    this.#mask = BigInt(size - 1);
    this.#produced = Atomics.load(this.#consumerPos, 0);
  }

  /**
   * Maps the ring buffer `map` (a BpfMap, an Fd or a descriptor number; not taken over).
   */
  static open(map: EventMapLike): RingBuffer<Uint8Array> {
    return new RingBuffer<Uint8Array>(eventMap(map, MapType.RINGBUF));
  }

  /**
   * Decode records as a type from here on: a codec, or a BTF type by id or C name
   * (`ring.decodeWith(obj.spec.btf, 'struct event')`). A record shorter than the type is an
   * EbpfError; a longer one decodes its first bytes. Returns this reader, retyped.
   */
  decodeWith<U>(codec: Codec<U>): RingBuffer<U>;
  decodeWith<U = unknown>(btf: Btf, type: string | number): RingBuffer<U>;
  decodeWith<U>(source: Codec<U> | Btf, type?: string | number): RingBuffer<U> {
    const codec = 'decodeView' in source ? source : (codecForType(source, type ?? '') as Codec<U>);
    const self = this as unknown as RingBuffer<U>;
    self.#codec = codec;
    return self;
  }

  /** Bytes committed or reserved by the kernel and not yet consumed. */
  pending(): number {
    this.checkOpen();
    return Number(Atomics.load(this.#producerPos, 0) - Atomics.load(this.#consumerPos, 0));
  }

  /** The mappings (consumer page, producer page + data); detached (byteLength 0) after close. */
  get mappings(): readonly ArrayBuffer[] {
    return [this.#consumerPage, this.#producerPages];
  }

  protected readNext(): T | undefined {
    if (this.closed) return undefined;
    // The consumer position is read back from the shared page rather than kept here, so that a
    // ring another reader (or an earlier process) consumed from stays consistent.
    let consumed = Atomics.load(this.#consumerPos, 0);
    for (;;) {
      if (consumed >= this.#produced) {
        this.#produced = Atomics.load(this.#producerPos, 0);
        if (consumed >= this.#produced) return undefined;
      }
      const at = Number(consumed & this.#mask);
      // The kernel publishes the header with a release store once the record is committed.
      const header = Atomics.load(this.#words, at >>> 2) >>> 0;
      if (header & BPF_RINGBUF_BUSY_BIT) return undefined;
      const length = header & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      if (length > this.size - BPF_RINGBUF_HDR_SZ) {
        throw new EbpfError(`record header claims ${length} bytes in a ${this.size} byte ring`, {
          map: this.name,
          offset: at,
        });
      }
      let record: T | undefined;
      if (!(header & BPF_RINGBUF_DISCARD_BIT)) record = this.decode(at + BPF_RINGBUF_HDR_SZ, length);
      consumed += BigInt((length + BPF_RINGBUF_HDR_SZ + 7) & ~7);
      // Release the space only after the record was read out.
      Atomics.store(this.#consumerPos, 0, consumed);
      if (record !== undefined) return record;
    }
  }

  private decode(at: number, length: number): T {
    const codec = this.#codec;
    if (codec !== undefined) return decodeRecord(codec, this.#view, at, length, { map: this.name });
    return this.#bytes.slice(at, at + length) as T;
  }

  protected pollFds(): number[] {
    const fd = this.#map.fd();
    if (fd === undefined)
      throw new EbpfError('the map was closed before its ring buffer reader', { map: this.name });
    return [fd];
  }

  protected errorContext(): { map?: string } {
    return { map: this.name };
  }

  protected release(): void {
    munmap(this.#producerPages);
    munmap(this.#consumerPage);
  }

  override toString(): string {
    return `ring buffer '${this.name}' (${this.size} bytes)`;
  }
}
