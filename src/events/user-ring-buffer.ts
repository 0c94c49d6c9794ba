// UserRingBuffer: the writer side of a BPF_MAP_TYPE_USER_RINGBUF map (Linux 6.1), which a BPF
// program drains with bpf_user_ringbuf_drain. Over the map's mmap'd pages: consumer page
// read-only (the kernel advances it), producer page and the twice-mapped data area read-write.
import type { Btf } from '../btf/btf.js';
import type { Codec } from '../btf/codec.js';
import { MapType } from '../constants.js';
import { EbpfError } from '../errors.js';
import { mmap, munmap, pageSize } from '../sys/mmap.js';
import { codecForType } from './decode.js';
import { eventMap, type EventMap, type EventMapLike } from './event-map.js';
import { BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ } from './ring-buffer.js';

/** A record reserved in the ring: fill `data`, then submit() or discard() it. */
export interface UserRecord {
  /** The record's bytes, in the ring itself (valid until submitted or discarded). */
  readonly data: Uint8Array;
  /** Hands the record to the kernel: the next drain sees it. */
  submit(): void;
  /** Gives the space back unread: the drain skips it. */
  discard(): void;
}

/**
 * Writes records for a BPF program to drain. Records reach the program in the order they were
 * reserved; a record reserved and not yet submitted holds back those after it (the drain stops
 * there, as at the end of the ring). The mappings keep the map alive: closing the object first is safe.
 *
 * Requires Linux 6.1. Errors: EbpfError when the map is not a user ring buffer, when a record
 * does not fit the ring at all; reserve() returns undefined while the ring is full.
 */
export class UserRingBuffer<T = Uint8Array> {
  readonly name: string;
  /** Bytes of the data area (the map's max_entries, a power of two pages). */
  readonly size: number;
  #consumerPage: ArrayBuffer;
  #producerPages: ArrayBuffer;
  readonly #consumerPos: BigUint64Array;
  readonly #producerPos: BigUint64Array;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #mask: number;
  #codec: Codec<T> | undefined;
  #closed = false;

  private constructor(map: EventMap) {
    this.name = map.name;
    const size = map.maxEntries;
    const page = pageSize();
    if (size < page || (size & (size - 1)) !== 0) {
      throw new EbpfError(`user ring buffer size ${size} is not a power-of-two number of pages`, {
        map: map.name,
      });
    }
    this.size = size;
    const fd = map.fd.fd;
    this.#consumerPage = mmap(fd, page);
    try {
      this.#producerPages = mmap(fd, page + 2 * size, { offset: page, write: true });
    } catch (e) {
      munmap(this.#consumerPage);
      throw e;
    }
    this.#consumerPos = new BigUint64Array(this.#consumerPage, 0, 1);
    this.#producerPos = new BigUint64Array(this.#producerPages, 0, 1);
    this.#words = new Int32Array(this.#producerPages, page, (2 * size) / 4);
    this.#bytes = new Uint8Array(this.#producerPages, page, 2 * size);
    this.#mask = size - 1;
  }

  /** Maps the user ring buffer `map` (a BpfMap, an Fd or a descriptor number; not taken over). */
  static open(map: EventMapLike): UserRingBuffer<Uint8Array> {
    const m = eventMap(map, MapType.USER_RINGBUF);
    try {
      return new UserRingBuffer<Uint8Array>(m);
    } finally {
      // The mappings hold the map alive; the writer never waits on the descriptor.
      m.fd.close();
    }
  }

  /**
   * Encode values with a type from here on, for write(): a codec, or a BTF type by id or C name
   * (`rb.encodeWith(obj.spec.btf, 'struct user_msg')`). Returns this writer, retyped.
   */
  encodeWith<U>(codec: Codec<U>): UserRingBuffer<U>;
  encodeWith<U = unknown>(btf: Btf, type: string | number): UserRingBuffer<U>;
  encodeWith<U>(source: Codec<U> | Btf, type?: string | number): UserRingBuffer<U> {
    const codec = 'decodeView' in source ? source : (codecForType(source, type ?? '') as Codec<U>);
    const self = this as unknown as UserRingBuffer<U>;
    self.#codec = codec;
    return self;
  }

  /** Bytes free for records now (each takes its length plus an 8-byte header, rounded to 8). */
  available(): number {
    this.checkOpen();
    return this.size - Number(Atomics.load(this.#producerPos, 0) - Atomics.load(this.#consumerPos, 0));
  }

  /**
   * Reserves a record of `length` bytes; undefined when the ring has no room until the program
   * drains. The record blocks later ones from the drain until it is submitted or discarded.
   */
  reserve(length: number): UserRecord | undefined {
    this.checkOpen();
    if (!Number.isInteger(length) || length <= 0 || length > this.size - BPF_RINGBUF_HDR_SZ) {
      throw new EbpfError(`a record of ${length} bytes does not fit a ${this.size} byte ring`, {
        map: this.name,
      });
    }
    const total = (length + BPF_RINGBUF_HDR_SZ + 7) & ~7;
    const consumed = Atomics.load(this.#consumerPos, 0);
    const produced = Atomics.load(this.#producerPos, 0);
    if (Number(produced - consumed) + total > this.size) return undefined;
    const at = Number(produced & BigInt(this.#mask));
    const word = at >>> 2;
    this.#words[word + 1] = 0; // pg_off: unused for user records
    Atomics.store(this.#words, word, length | BPF_RINGBUF_BUSY_BIT);
    // Published with the busy bit set: the kernel stops there until the header changes.
    Atomics.store(this.#producerPos, 0, produced + BigInt(total));
    const data = this.#bytes.subarray(at + BPF_RINGBUF_HDR_SZ, at + BPF_RINGBUF_HDR_SZ + length);
    let done = false;
    const finish = (bits: number): void => {
      if (done) throw new EbpfError('record already submitted or discarded', { map: this.name });
      done = true;
      this.checkOpen();
      Atomics.store(this.#words, word, length | bits);
    };
    return { data, submit: () => finish(0), discard: () => finish(BPF_RINGBUF_DISCARD_BIT) };
  }

  /**
   * Writes one record and submits it: bytes as they are, or a value through the codec set by
   * encodeWith(). Returns false (nothing written) when the ring has no room.
   */
  write(value: T | Uint8Array): boolean {
    const codec = this.#codec;
    if (codec === undefined || value instanceof Uint8Array) {
      if (!(value instanceof Uint8Array))
        throw new EbpfError('write() takes bytes unless encodeWith() set a type');
      const r = this.reserve(value.length);
      if (!r) return false;
      r.data.set(value);
      r.submit();
      return true;
    }
    const r = this.reserve(codec.size);
    if (!r) return false;
    codec.encode(value, r.data, 0);
    r.submit();
    return true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Unmaps the ring (records reserved and not submitted are left busy). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    munmap(this.#producerPages);
    munmap(this.#consumerPage);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private checkOpen(): void {
    if (this.#closed) throw new EbpfError('user ring buffer writer is closed', { map: this.name });
  }
}
