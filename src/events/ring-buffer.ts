// RingBuffer: the reader of a BPF_MAP_TYPE_RINGBUF map (Linux 5.8) over its mmap'd pages —
// consumer page read-write, producer page and the twice-mapped data area read-only.
import type { Btf } from '../btf/btf.js';
import { MapType } from '../constants.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import type { Codec } from '../btf/codec.js';
import { mmap, munmap, pageSize, slab, SLAB_BYTES } from '../sys/mmap.js';
import { codecForType, RecordCopier } from './decode.js';
import { eventMap, type EventMap, type EventMapLike } from './event-map.js';
import { batchLimit, low, publishPosition } from './position.js';
import { EventReader, type HandlerState } from './reader.js';

/** The state of consume(), which no handler stops. */
const ALWAYS: HandlerState = { active: true };

/** Record header bits (uapi linux/bpf.h). */
export const BPF_RINGBUF_BUSY_BIT = 1 << 31;
export const BPF_RINGBUF_DISCARD_BIT = 1 << 30;
/** Bytes of the header before each record: u32 length with the bits above, u32 page offset. */
export const BPF_RINGBUF_HDR_SZ = 8;

/** Low 32 bits of the consumer and producer positions (each u64 number 0 of its page). */
const LO = low(0);
/**
 * Whether a plain load of a record header orders the loads of its data after it, as the kernel's
 * release store of the header needs: on x86 the hardware does not reorder loads with loads (TSO),
 * and V8 keeps typed-array loads in program order. Elsewhere (arm64...) headers are read with
 * Atomics.load, which costs several nanoseconds a record in V8 (a call, not an instruction).
 */
const PLAIN_LOAD_ACQUIRES = process.arch === 'x64' || process.arch === 'ia32';
/** Bits of a record's length in its header. */
const LENGTH_MASK = ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
/**
 * onData() copies records into slabs of SLAB_BYTES (a record larger than that gets its own). A
 * slab with less free room than this is left for a fresh one rather than split runs across.
 */
const MIN_ROOM = 4096;

/**
 * Records walkRun() hands out per call, at most: V8 then optimizes it as a function called
 * often. One call over a whole full ring runs in code compiled on the stack mid-loop (OSR), which
 * V8 keeps using for every later call, with its values in stack slots rather than registers.
 */
const RUN = 1024;
/** walkRun()'s results besides its return value: the position it reached, records handed out. */
let runPos = 0;
let runCount = 0;

/** Thrown by walkRun() at a header that claims more bytes than were written. */
class BadLength {
  constructor(
    readonly length: number,
    readonly at: number,
  ) {}
}

/**
 * The zero-copy loop: hands the records from position `pos` up to `end` (at most `want`) to
 * `fn`, then sets runPos and runCount (also when `fn` throws). Returns false when it stopped
 * before (a record not committed yet, or `state.active` turned false). Every value is an
 * argument or a local and every number an int32 (positions and the distance between them: the
 * ring is at most 1 GiB), so V8 keeps them in registers. A header is an int32 whose sign is the
 * busy bit; below DISCARD_BIT the record is neither busy nor discarded.
 */
function walkRun(
  fn: RecordView,
  state: HandlerState,
  words: Int32Array,
  view: DataView,
  mask: number,
  pos: number,
  end: number,
  want: number,
): boolean {
  const plain = PLAIN_LOAD_ACQUIRES;
  const discard = BPF_RINGBUF_DISCARD_BIT | 0;
  const lengthMask = LENGTH_MASK | 0;
  // int32 locals: arguments used as they are would be untagged again on every record.
  const ringMask = mask | 0;
  const stop = end | 0;
  const most = want | 0;
  let n = 0;
  let more = true;
  while (pos !== stop) {
    const at = pos & ringMask;
    // The kernel publishes the header with a release store once the record is committed.
    const header = plain ? words[at >>> 2]! : Atomics.load(words, at >>> 2);
    if (header < 0) {
      more = false;
      break;
    }
    const length = header & lengthMask;
    const next = (pos + ((length + 15) & ~7)) | 0;
    if (((stop - next) | 0) < 0) {
      runPos = pos;
      runCount = n;
      throw new BadLength(length, at);
    }
    pos = next;
    if (header < discard) {
      n++;
      try {
        fn(view, at + 8, length);
      } catch (e) {
        runPos = pos;
        runCount = n;
        throw e;
      }
      if (state.active !== true) {
        more = false;
        break;
      }
      if (n >= most) break;
    }
  }
  // Set here and where it throws rather than in a finally around the loop: TurboFan compiled
  // that form ~5% slower a record (ring-consume-16).
  runPos = pos;
  runCount = n;
  return more;
}

/**
 * Called by RingBuffer.consume for each record: its `length` bytes start at `offset` of `view`,
 * a view over the ring's own (read-only) memory. Valid only until consume() returns.
 */
export type RecordView = (view: DataView, offset: number, length: number) => void;

/**
 * Reads records from a ring buffer map. Records come out in the order the kernel committed
 * them; discarded records are skipped. Each record is a copy (a Uint8Array of exactly the
 * length the program gave), or a value when decodeWith() set a type; consume() hands out the
 * ring's own bytes instead, without copying. The reader holds its own descriptor for the map
 * (a duplicate), so the object or map handle may be closed before or after it.
 *
 * Positions are kept as their low 32 bits (the ring is at most 2^32 bytes, so offsets and the
 * distance between producer and consumer fit); the consumer position is published with a
 * sequentially consistent store of its low word, or of the whole u64 when the low word wraps.
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
  /** consumer_pos and producer_pos as u64s and as pairs of u32s. */
  readonly #consumer64: BigUint64Array;
  readonly #producer64: BigUint64Array;
  readonly #consumer: Uint32Array;
  readonly #producer: Uint32Array;
  /** The data area (2 × size bytes) as u32 words, for atomic header loads. */
  readonly #words: Int32Array;
  readonly #view: DataView;
  readonly #bytes: Uint8Array;
  readonly #mask: number;
  #codec: Codec<T> | undefined;
  readonly #copier = new RecordCopier();
  /** onData()'s slab: the records copied so far are views into its first #slabUsed bytes. */
  #slab = new ArrayBuffer(0);
  #slabBytes = new Uint8Array(0);
  #slabWords = new Int32Array(0);
  #slabUsed = SLAB_BYTES;

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
    if (size > 2 ** 30) {
      // Positions are int32 distances in the loops; the kernel takes larger rings, no one uses them.
      throw new NotSupportedError(`ring buffer of ${size} bytes: this reader takes up to 1 GiB`, {
        map: map.name,
      });
    }
    this.size = size;
    const fd = map.fd.fd;
    this.#consumerPage = mmap(fd, page, { write: true });
    try {
      // The kernel maps the data pages twice in a row, so a record that wraps reads contiguously.
      this.#producerPages = mmap(fd, page + 2 * size, { offset: page });
    } catch (e) {
      munmap(this.#consumerPage);
      throw e;
    }
    this.#consumer64 = new BigUint64Array(this.#consumerPage, 0, 1);
    this.#producer64 = new BigUint64Array(this.#producerPages, 0, 1);
    this.#consumer = new Uint32Array(this.#consumerPage, 0, 2);
    this.#producer = new Uint32Array(this.#producerPages, 0, 2);
    this.#words = new Int32Array(this.#producerPages, page, (2 * size) / 4);
    this.#view = new DataView(this.#producerPages, page, 2 * size);
    this.#bytes = new Uint8Array(this.#producerPages, page, 2 * size);
    this.#mask = size - 1;
  }

  /**
   * Maps the ring buffer `map` (a BpfMap, an Fd or a descriptor number; not taken over).
   */
  static open(map: EventMapLike): RingBuffer<Uint8Array> {
    const m = eventMap(map, MapType.RINGBUF);
    try {
      return new RingBuffer<Uint8Array>(m);
    } catch (e) {
      m.fd.close();
      throw e;
    }
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
    return Number(Atomics.load(this.#producer64, 0) - Atomics.load(this.#consumer64, 0));
  }

  /** The mappings (consumer page, producer page + data); detached (byteLength 0) after close. */
  get mappings(): readonly ArrayBuffer[] {
    return [this.#consumerPage, this.#producerPages];
  }

  /**
   * Zero-copy batch: calls `fn(view, offset, length)` for each complete record now in the ring
   * (at most `max`), in order, then releases their space with one store of the consumer
   * position. `view` is over the ring's own memory, mapped read-only (writing to it kills the
   * process, as in C): read what you need before returning, since the kernel may reuse the
   * bytes once consume() returns. Discarded records are skipped. If `fn` throws, the records up
   * to and including that one are consumed and the exception propagates. Returns how many
   * records `fn` saw. Never waits: pair it with ready() or onReadable() to sleep until there is
   * data. decodeWith() does not apply here.
   */
  consume(fn: RecordView, max = Infinity): number {
    this.checkOpen();
    return this.walk(fn, max, ALWAYS);
  }

  /**
   * Handler mode, zero-copy: from now on `fn(view, offset, length)` is called for each record as
   * soon as the event loop reports it, over the ring's own bytes as consume() hands them out
   * (the same `view` each time: read what you need before returning). The ring's space is
   * released once per batch. An exception from `fn` propagates as an uncaught exception (its
   * record consumed); a malformed record goes to `onError` when given. Returns a function that
   * stops it. Use one way of consuming at a time.
   */
  onView(fn: RecordView, onError?: (error: EbpfError) => void): () => void {
    return this.startHandler(onError, (state) => () => this.walk(fn, Infinity, state));
  }

  /** consume()'s loop; stops early once `state.active` is false. */
  private walk(fn: RecordView, max: number, state: HandlerState): number {
    const limit = batchLimit(max);
    const start = Atomics.load(this.#consumer, LO) | 0;
    let pos = start;
    let n = 0;
    try {
      while (n < limit) {
        const left = (Atomics.load(this.#producer, LO) - pos) | 0;
        if (left <= 0 || left > this.size) break;
        const want = limit - n < RUN ? limit - n : RUN;
        let more: boolean;
        try {
          more = walkRun(fn, state, this.#words, this.#view, this.#mask, pos, (pos + left) | 0, want);
        } catch (e) {
          if (e instanceof BadLength) throw this.badLength(e.length, e.at);
          throw e;
        } finally {
          pos = runPos;
          n += runCount;
        }
        if (!more) break;
      }
    } finally {
      // One store for the batch, after the records were read out.
      if (pos !== start) this.publish(start >>> 0, pos >>> 0);
    }
    return n;
  }

  protected readNext(): T | undefined {
    let out: T | undefined;
    this.readInto((r) => (out = r), 1);
    return out;
  }

  /**
   * Handler mode: every complete record, the consumer position moved once per batch read.
   * @internal
   */
  protected override drain(take: (record: T) => void, state: HandlerState): void {
    if (this.#codec !== undefined) this.readInto(take, Infinity, state);
    else this.drainCopies(take as unknown as (record: Uint8Array) => void, state);
  }

  /**
   * Handler mode's reading of copies: each run of committed records is copied out of the ring in
   * one go, headers included, into the free part of a slab (or, for one record larger than a
   * slab, a buffer of its own), and each record handed out as a Uint8Array over its bytes there;
   * the consumer position moves past the records handed out, once per call. A copy per record
   * would cost a call into TypedArray.prototype.set, or a byte loop, for every record; a fresh
   * buffer per run, the faults of its fresh pages (slabs come from a pool of collected ones).
   */
  private drainCopies(take: (record: Uint8Array) => void, state: HandlerState): void {
    const words = this.#words;
    const bytes = this.#bytes;
    const mask = this.#mask;
    const size = this.size;
    const plain = PLAIN_LOAD_ACQUIRES;
    const discard = BPF_RINGBUF_DISCARD_BIT;
    const lengthMask = LENGTH_MASK;
    const start = Atomics.load(this.#consumer, LO) | 0;
    let pos = start;
    try {
      while (state.active === true) {
        const left = (Atomics.load(this.#producer, LO) - pos) | 0;
        if (left <= 0 || left > size) break;
        let room = SLAB_BYTES - this.#slabUsed;
        if (room < MIN_ROOM) room = SLAB_BYTES;
        // The committed records from pos that fit in `room` (at least one): their headers are
        // read (with the ordering their data needs) before any of their bytes are copied.
        let end = pos;
        let bad = -1;
        while (((end - pos) | 0) < left) {
          const at = end & mask;
          const header = plain ? words[at >>> 2]! : Atomics.load(words, at >>> 2);
          if (header < 0) break;
          const next = (end + (((header & lengthMask) + 15) & ~7)) | 0;
          if (((next - pos) | 0) > left) {
            bad = at;
            break;
          }
          if (((next - pos) | 0) > room && end !== pos) break;
          end = next;
        }
        const run = (end - pos) | 0;
        if (run > 0) {
          const from = pos & mask;
          // Every byte of the copy handed out is written here, so it need not be zeroed first.
          let buffer: ArrayBuffer;
          let base: number;
          let copied: Int32Array;
          if (run > SLAB_BYTES) {
            const own = Buffer.allocUnsafeSlow(run);
            own.set(bytes.subarray(from, from + run));
            buffer = own.buffer;
            base = 0;
            copied = new Int32Array(buffer, 0, run >>> 2);
          } else {
            if (run > SLAB_BYTES - this.#slabUsed) this.newSlab();
            base = this.#slabUsed;
            buffer = this.#slab;
            copied = this.#slabWords;
            this.#slabBytes.set(bytes.subarray(from, from + run), base);
            this.#slabUsed = base + run;
          }
          const stop = base + run;
          for (let off = base; off < stop;) {
            const header = copied[off >>> 2]!;
            const length = header & lengthMask;
            const step = (length + 15) & ~7;
            pos = (pos + step) | 0;
            if (header < discard) {
              take(new Uint8Array(buffer, off + 8, length));
              if (state.active !== true) return;
            }
            off += step;
          }
        }
        if (bad >= 0) throw this.badLength(words[bad >>> 2]! & lengthMask, bad);
        if (run === 0) break;
      }
    } finally {
      if (pos !== start) this.publish(start >>> 0, pos >>> 0);
    }
  }

  /** Starts copying into a fresh slab; the last one lives on while records refer to it. */
  private newSlab(): void {
    const buffer = slab();
    this.#slab = buffer;
    this.#slabBytes = new Uint8Array(buffer);
    this.#slabWords = new Int32Array(buffer);
    this.#slabUsed = 0;
  }

  /**
   * Reads up to `max` records (copied or decoded) into `take` while `state.active`, then publishes
   * the consumer position once. The consumer position is read back from the shared page rather
   * than kept here, so that a ring another reader (or an earlier process) consumed from stays
   * consistent.
   */
  private readInto(take: (record: T) => void, max: number, state: HandlerState = ALWAYS): number {
    if (this.closed) return 0;
    const start = Atomics.load(this.#consumer, LO) | 0;
    let pos = start;
    let left = 0;
    let n = 0;
    try {
      while (n < max && state.active === true) {
        if (left <= 0) {
          left = (Atomics.load(this.#producer, LO) - pos) | 0;
          if (left <= 0 || left > this.size) break;
        }
        const at = pos & this.#mask;
        const header = PLAIN_LOAD_ACQUIRES ? this.#words[at >>> 2]! : Atomics.load(this.#words, at >>> 2);
        if (header & BPF_RINGBUF_BUSY_BIT) break;
        const length = header & LENGTH_MASK;
        const step = (length + BPF_RINGBUF_HDR_SZ + 7) & ~7;
        if (step > left) throw this.badLength(length, at);
        // Decoded before the position moves: a record that fails to decode stays in the ring.
        const discarded = (header & BPF_RINGBUF_DISCARD_BIT) !== 0;
        const record = discarded ? undefined : this.decode(at + BPF_RINGBUF_HDR_SZ, length);
        pos = (pos + step) | 0;
        left = (left - step) | 0;
        if (!discarded) {
          n++;
          take(record as T);
        }
      }
    } finally {
      // Release the space only after the records were read out.
      if (pos !== start) this.publish(start >>> 0, pos >>> 0);
    }
    return n;
  }

  protected hasData(): boolean {
    const left = (Atomics.load(this.#producer, LO) - Atomics.load(this.#consumer, LO)) | 0;
    return left > 0 && left <= this.size;
  }

  private publish(from: number, to: number): void {
    publishPosition(this.#consumer, this.#consumer64, 0, from, to);
  }

  private badLength(length: number, at: number): EbpfError {
    return this.readError(
      new EbpfError(`record header claims ${length} bytes, more than the ring holds`, {
        map: this.name,
        offset: at,
      }),
    );
  }

  private decode(at: number, length: number): T {
    const codec = this.#codec;
    if (codec !== undefined) return this.decodeChecked(codec, this.#view, at, length);
    return this.#copier.copy(this.#bytes, at, length) as T;
  }

  protected pollFds(): number[] {
    return [this.#map.fd.fd];
  }

  /** The reader's own descriptor for the map, which readiness is polled on. */
  get pollFd(): number {
    return this.#map.fd.fd;
  }

  protected errorContext(): { map?: string } {
    return { map: this.name };
  }

  protected release(): void {
    munmap(this.#producerPages);
    munmap(this.#consumerPage);
    this.#map.fd.close();
  }

  override toString(): string {
    return `ring buffer '${this.name}' (${this.size} bytes)`;
  }
}
