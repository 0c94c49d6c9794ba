// PerfBuffer: the reader of a BPF_MAP_TYPE_PERF_EVENT_ARRAY map — one BPF output perf event per
// CPU, stored in the map at the CPU's index, each with its own mmap'd ring of perf records.
import type { Btf } from '../btf/btf.js';
import { MapType } from '../constants.js';
import { EbpfError, OptionError } from '../errors.js';
import { checkInteger } from '../internal/options.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import type { Codec } from '../btf/codec.js';
import { mapDeleteElem, mapUpdateElem } from '../sys/bpf.js';
import { readCpuList } from '../sys/cpus.js';
import type { Fd } from '../sys/fd.js';
import { mmap, munmap, pageSize } from '../sys/mmap.js';
import {
  ioctl,
  PERF_COUNT_SW_BPF_OUTPUT,
  PERF_EVENT_IOC_ENABLE,
  PERF_SAMPLE_RAW,
  PERF_TYPE_SOFTWARE,
  perfEventOpen,
} from '../sys/perf.js';
import { codecForType, RecordCopier } from './decode.js';
import { eventMap, type EventMap, type EventMapLike } from './event-map.js';
import { batchLimit, low, publishPosition } from './position.js';
import { EventReader, type HandlerState } from './reader.js';

/** The state of consume(), which no handler stops. */
const ALWAYS: HandlerState = { active: true };

/** Record types in the ring (uapi linux/perf_event.h enum perf_event_type). */
export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_SAMPLE = 9;
/** Byte offsets of the ring positions in struct perf_event_mmap_page (checked against kernel BTF in tests). */
export const PERF_EVENT_MMAP_PAGE = {
  data_head: 1024,
  data_tail: 1032,
  data_offset: 1040,
  data_size: 1048,
} as const;

/** A sample a program sent with bpf_perf_event_output, or a count of samples the kernel dropped. */
export type PerfRecord<T = Uint8Array> =
  | {
      kind: 'sample';
      cpu: number;
      /**
       * The raw bytes (perf pads them so that size field plus data end on 8 bytes: a 32-byte
       * struct comes with 4 trailing zero bytes), or the decoded value.
       */
      data: T;
    }
  | { kind: 'lost'; cpu: number; lost: bigint };

export interface PerfBufferOptions {
  /** Data pages of each CPU's ring, a power of two (default 64). */
  pagesPerCpu?: number;
  /** Samples per wakeup (default 1: every sample wakes the reader). */
  wakeupEvents?: number;
  /** CPUs to open (default: the online CPUs that have a slot in the map). */
  cpus?: readonly number[];
}

/** u64 numbers of data_head and data_tail in the control page, and their low u32 halves. */
const TAIL = PERF_EVENT_MMAP_PAGE.data_tail / 8;
const HEAD_LO = low(PERF_EVENT_MMAP_PAGE.data_head / 8);
const TAIL_LO = low(TAIL);
const OFFSET = PERF_EVENT_MMAP_PAGE.data_offset / 8;
const SIZE = PERF_EVENT_MMAP_PAGE.data_size / 8;
const HEADER = 8;
/** Where perf_event_header's u16 size sits in its second u32 word (after the u16 misc). */
const SIZE_SHIFT = HOST_LITTLE_ENDIAN ? 16 : 0;

/** One CPU's perf event and its mapped ring. */
interface CpuRing {
  readonly cpu: number;
  readonly fd: Fd;
  readonly memory: ArrayBuffer;
  /** The control page as u64 words (data_head, data_tail...), and as u32 words. */
  readonly control: BigUint64Array;
  readonly control32: Uint32Array;
  readonly data: Uint8Array;
  readonly view: DataView;
  /** The data area as int32 words (records are 8-byte aligned). */
  readonly words: Int32Array;
  readonly size: number;
  readonly mask: number;
  /** Low 32 bits of data_tail as this reader last stored it. */
  tail: number;
}

/** sampleRun()'s outcomes: done (at `end`, or `want` samples), stopped, or at another record. */
const RUN_DONE = 0;
const RUN_STOPPED = 1;
const RUN_OTHER = 2;
/** Samples sampleRun() hands out per call, at most (see RingBuffer's walkRun for why). */
const RUN = 1024;
/** sampleRun()'s results besides its return value: the offset it reached, samples handed out. */
let runAt = 0;
let runCount = 0;

/**
 * The zero-copy loop over one CPU's ring: hands the samples from offset `at` of the data area on
 * to `fn` until offset `end` (head, or the end of the ring if that comes first), `want` samples,
 * `state.active` turning false (RUN_STOPPED), or a record it leaves to the caller (RUN_OTHER: a
 * lost report, another type, one that runs past `end` — it wraps around the ring's end or claims
 * more bytes than were written — or one that is malformed), then sets runAt and runCount (also
 * when `fn` throws). `at` is 8-aligned, and records are 8-byte multiples, so their header words
 * are read from an Int32Array: the type, then misc and size (u16s) in one word, then a sample's
 * u32 size of raw data. Because `end` bounds both what was written and the ring, one comparison a
 * record covers both, and the size checks fold into one sign test. Every bound is made an int32
 * local on entry, so the loop compares registers rather than untagging arguments each record.
 */
function sampleRun(
  fn: SampleView,
  state: HandlerState,
  words: Int32Array,
  view: DataView,
  cpu: number,
  at: number,
  end: number,
  want: number,
): number {
  const sizeShift = SIZE_SHIFT | 0;
  const sample = PERF_RECORD_SAMPLE | 0;
  const stop = end | 0;
  const most = want | 0;
  let pos = at | 0;
  let n = 0;
  let status = RUN_DONE;
  while (pos < stop) {
    const w = pos >>> 2;
    const size = (words[w + 1]! >>> sizeShift) & 0xffff;
    const next = (pos + size) | 0;
    // Negative when the size is under a sample's minimum (header, u32 raw size, 4 bytes), not a
    // multiple of 8, or runs past `end`.
    if (words[w] !== sample || ((size - 16) | -(size & 7) | (stop - next)) < 0) {
      status = RUN_OTHER;
      break;
    }
    const raw = words[w + 2]!;
    // Negative when the raw size is (as a u32) over 2^31, or more than the record holds.
    if (((size - HEADER - 4 - raw) | raw) < 0) {
      status = RUN_OTHER;
      break;
    }
    n++;
    try {
      fn(view, pos + HEADER + 4, raw, cpu);
    } catch (e) {
      runAt = next;
      runCount = n;
      throw e;
    }
    pos = next;
    if (state.active !== true) {
      status = RUN_STOPPED;
      break;
    }
    if (n >= most) break;
  }
  // Set here and where fn throws rather than in a finally (see RingBuffer's walkRun).
  runAt = pos;
  runCount = n;
  return status;
}

/**
 * Called by PerfBuffer.consume for each sample: its `length` raw bytes (perf's padding
 * included) start at `offset` of `view`, which is over the CPU's ring (or over a copy, for a
 * sample that wraps around the ring's end). Valid only until consume() returns.
 */
export type SampleView = (view: DataView, offset: number, length: number, cpu: number) => void;

function u32Bytes(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, HOST_LITTLE_ENDIAN);
  return b;
}

/**
 * Reads perf records from a perf event array: samples (per CPU in the order they were written)
 * and lost counts. Opening stores this reader's perf event descriptors in the map; close()
 * removes them again. The reader holds its own descriptor for the map (a duplicate), so the
 * object or map handle may be closed before or after it.
 *
 * Errors: EbpfError when the map is not a perf event array or an option is invalid;
 * SyscallError from perf_event_open, mmap or the map update.
 */
export class PerfBuffer<T = Uint8Array> extends EventReader<PerfRecord<T>> {
  readonly name: string;
  /** Data bytes of each CPU's ring. */
  readonly size: number;
  /** CPUs with a ring. */
  readonly cpus: readonly number[];
  readonly #map: EventMap;
  readonly #rings: CpuRing[];
  #next = 0;
  #lost = 0n;
  /** perf_poll() reads and clears the ring's wakeup flag (see EventReader). */
  protected override readonly pollConsumesReadiness = true;
  #codec: Codec<T> | undefined;
  readonly #copier = new RecordCopier();
  /** Where a record that wraps around the end of its ring is joined. */
  #joined = new Uint8Array(256);
  #joinedView = new DataView(this.#joined.buffer);

  private constructor(map: EventMap, opts: PerfBufferOptions) {
    super();
    this.#map = map;
    this.name = map.name;
    const pages = opts.pagesPerCpu ?? 64;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) {
      throw new OptionError('pagesPerCpu', pages, 'a power of two', { map: map.name });
    }
    const wakeupEvents =
      checkInteger('wakeupEvents', opts.wakeupEvents, 1, 0xffffffff, { map: map.name }) ?? 1;
    const page = pageSize();
    this.size = pages * page;
    // A CPU that goes offline later keeps its event; its buffer just stays quiet.
    const cpus = opts.cpus ?? readCpuList('online').filter((c) => c < map.maxEntries);
    for (const c of cpus) {
      if (!Number.isInteger(c) || c < 0 || c >= map.maxEntries) {
        throw new OptionError('cpus', c, `a CPU with a slot in the map (0 to ${map.maxEntries - 1})`, {
          map: map.name,
        });
      }
    }
    this.cpus = [...cpus];
    const mapFd = map.fd.fd;
    this.#rings = [];
    try {
      for (const cpu of cpus) this.#rings.push(this.openCpu(cpu, mapFd, pages, wakeupEvents));
    } catch (e) {
      this.releaseRings();
      throw e;
    }
  }

  /**
   * Opens a perf buffer on `map` (a BpfMap, an Fd or a descriptor number; not taken over).
   */
  static open(map: EventMapLike, opts: PerfBufferOptions = {}): PerfBuffer<Uint8Array> {
    const m = eventMap(map, MapType.PERF_EVENT_ARRAY);
    try {
      return new PerfBuffer<Uint8Array>(m, opts);
    } catch (e) {
      m.fd.close();
      throw e;
    }
  }

  private openCpu(cpu: number, mapFd: number, pages: number, wakeupEvents: number): CpuRing {
    const page = pageSize();
    const fd = perfEventOpen(
      {
        type: PERF_TYPE_SOFTWARE,
        config: BigInt(PERF_COUNT_SW_BPF_OUTPUT),
        sample_type: BigInt(PERF_SAMPLE_RAW),
        sample_period: 1n,
        wakeup_events: wakeupEvents,
      },
      -1,
      cpu,
    );
    let memory: ArrayBuffer | undefined;
    try {
      // Writable: the reader moves data_tail, which tells the kernel the space is free again.
      memory = mmap(fd.fd, (1 + pages) * page, { write: true });
      const control = new BigUint64Array(memory, 0, page / 8);
      // data_offset/data_size exist since Linux 4.1; before, data starts at the second page.
      const offset = Number(Atomics.load(control, OFFSET)) || page;
      const size = Number(Atomics.load(control, SIZE)) || pages * page;
      mapUpdateElem(mapFd, u32Bytes(cpu), u32Bytes(fd.fd));
      ioctl(fd.fd, PERF_EVENT_IOC_ENABLE, 0, 'PERF_EVENT_IOC_ENABLE');
      const control32 = new Uint32Array(memory, 0, page / 4);
      return {
        cpu,
        fd,
        memory,
        control,
        control32,
        data: new Uint8Array(memory, offset, size),
        view: new DataView(memory, offset, size),
        words: new Int32Array(memory, offset, size / 4),
        size,
        mask: size - 1,
        tail: Atomics.load(control32, TAIL_LO),
      };
    } catch (e) {
      if (memory !== undefined) munmap(memory);
      fd.close();
      throw e;
    }
  }

  /** Decode samples as a type from here on (see RingBuffer.decodeWith). Returns this reader, retyped. */
  decodeWith<U>(codec: Codec<U>): PerfBuffer<U>;
  decodeWith<U = unknown>(btf: Btf, type: string | number): PerfBuffer<U>;
  decodeWith<U>(source: Codec<U> | Btf, type?: string | number): PerfBuffer<U> {
    const codec = 'decodeView' in source ? source : (codecForType(source, type ?? '') as Codec<U>);
    const self = this as unknown as PerfBuffer<U>;
    self.#codec = codec;
    return self;
  }

  /** Samples the kernel reported lost so far, over all CPUs (as read: lost records count once read). */
  get lost(): bigint {
    return this.#lost;
  }

  /** The mappings, one per CPU; detached (byteLength 0) after close. */
  get mappings(): readonly ArrayBuffer[] {
    return this.#rings.map((r) => r.memory);
  }

  /** The perf event descriptors, one per CPU (owned by this reader). */
  get fds(): readonly Fd[] {
    return this.#rings.map((r) => r.fd);
  }

  /**
   * Zero-copy batch: calls `fn(view, offset, length, cpu)` for each sample now in the rings (at
   * most `max`), CPU by CPU, then releases each ring's space with one store of its data_tail.
   * `view` is over the ring itself (a sample that wraps around the ring's end is joined in a
   * buffer of this reader's first): read what you need before returning, the kernel may reuse
   * the bytes once consume() returns. Lost-sample reports are added to `lost` and passed to
   * `onLost`. If `fn` throws, the samples up to and including that one are consumed and the
   * exception propagates. Returns how many samples `fn` saw. Never waits (see ready()).
   */
  consume(fn: SampleView, max = Infinity, onLost?: (cpu: number, lost: bigint) => void): number {
    this.checkOpen();
    return this.walk(fn, max, onLost, ALWAYS);
  }

  /**
   * Handler mode, zero-copy: from now on `fn(view, offset, length, cpu)` is called for each
   * sample as soon as the event loop reports it, over the rings' own bytes as consume() hands
   * them out (read what you need before returning). Lost-sample reports are added to `lost` and
   * passed to `opts.onLost`. An exception from `fn` propagates as an uncaught exception (its
   * sample consumed); a malformed record goes to `opts.onError` when given. Returns a function
   * that stops it. Use one way of consuming at a time.
   */
  onView(
    fn: SampleView,
    opts: {
      onLost?: (cpu: number, lost: bigint) => void;
      onError?: (error: EbpfError) => void;
    } = {},
  ): () => void {
    const onLost = opts.onLost;
    return this.startHandler(opts.onError, (state) => () => this.walk(fn, Infinity, onLost, state));
  }

  private walk(
    fn: SampleView,
    max: number,
    onLost: ((cpu: number, lost: bigint) => void) | undefined,
    state: HandlerState,
  ): number {
    const rings = this.#rings;
    let n = 0;
    for (let i = 0; i < rings.length && n < max; i++) {
      if (!state.active) break;
      const k = (this.#next + i) % rings.length;
      n += this.consumeRing(rings[k]!, fn, max - n, onLost, state);
    }
    if (rings.length > 0) this.#next = (this.#next + 1) % rings.length;
    return n;
  }

  private consumeRing(
    ring: CpuRing,
    fn: SampleView,
    max: number,
    onLost: ((cpu: number, lost: bigint) => void) | undefined,
    state: HandlerState,
  ): number {
    const limit = batchLimit(max);
    const start = ring.tail | 0;
    let tail = start;
    // Read with a full barrier: the records up to head are complete once it is seen.
    const head = Atomics.load(ring.control32, HEAD_LO) | 0;
    let n = 0;
    try {
      while (tail !== head && n < limit) {
        const want = limit - n < RUN ? limit - n : RUN;
        const at = tail & ring.mask;
        // The bytes from `at` that are both written and before the ring's end.
        const written = (head - tail) | 0;
        const room = ring.size - at;
        const end = at + (written < room ? written : room);
        let status = RUN_OTHER;
        // A position off 8-byte alignment (only after a malformed record) or a head behind the
        // tail goes to record(), which reports it.
        if ((at & 7) === 0 && written > 0) {
          try {
            status = sampleRun(fn, state, ring.words, ring.view, ring.cpu, at, end, want);
          } finally {
            tail = (tail + (runAt - at)) | 0;
            n += runCount;
          }
        }
        if (status === RUN_STOPPED) break;
        if (status === RUN_OTHER) {
          // The record at tail: checked in full (joined first if it wraps), then consumed.
          const { view, offset, type, size } = this.record(ring, tail & ring.mask, written);
          tail = (tail + size) | 0;
          if (type === PERF_RECORD_SAMPLE) {
            n++;
            fn(view, offset + HEADER + 4, view.getUint32(offset + HEADER, HOST_LITTLE_ENDIAN), ring.cpu);
            if (state.active !== true) break;
          } else if (type === PERF_RECORD_LOST) {
            const lost = view.getBigUint64(offset + HEADER + 8, HOST_LITTLE_ENDIAN);
            this.#lost += lost;
            onLost?.(ring.cpu, lost);
          }
        }
      }
    } finally {
      if (tail !== start) this.publish(ring, start >>> 0, tail >>> 0);
    }
    return n;
  }

  /** A record that wraps around the end of its ring, its two parts joined in one buffer. */
  private join(ring: CpuRing, at: number, size: number): DataView {
    if (this.#joined.byteLength < size) {
      this.#joined = new Uint8Array(Math.max(size, 2 * this.#joined.byteLength));
      this.#joinedView = new DataView(this.#joined.buffer);
    }
    const first = ring.size - at;
    this.#joined.set(ring.data.subarray(at));
    this.#joined.set(ring.data.subarray(0, size - first), first);
    return this.#joinedView;
  }

  private badRecord(size: number, at: number, available: number): EbpfError {
    return this.readError(
      new EbpfError(`perf record of ${size} bytes at offset ${at} with ${available} bytes written`, {
        map: this.name,
        offset: at,
      }),
    );
  }

  private badSample(raw: number, size: number, at: number): EbpfError {
    return this.readError(
      new EbpfError(`perf sample claims ${raw} raw bytes in a ${size} byte record`, {
        map: this.name,
        offset: at,
      }),
    );
  }

  /**
   * The record at `at` of `ring` (`available` bytes before head), checked: its type and size,
   * and a view and offset where all its bytes are contiguous. Samples and lost reports are
   * checked to hold what they claim; other types are skipped by their size.
   */
  private record(
    ring: CpuRing,
    at: number,
    available: number,
  ): { view: DataView; offset: number; type: number; size: number } {
    const type = ring.view.getUint32(at, HOST_LITTLE_ENDIAN);
    const size = ring.view.getUint16(at + 6, HOST_LITTLE_ENDIAN);
    if (size < HEADER || size > available) throw this.badRecord(size, at, available);
    const wraps = at + size > ring.size;
    const view = wraps ? this.join(ring, at, size) : ring.view;
    const offset = wraps ? 0 : at;
    if (type === PERF_RECORD_SAMPLE) {
      const raw = size >= HEADER + 4 ? view.getUint32(offset + HEADER, HOST_LITTLE_ENDIAN) : size;
      if (HEADER + 4 + raw > size) throw this.badSample(raw, size, at);
    } else if (type === PERF_RECORD_LOST && size < HEADER + 16) {
      throw this.badRecord(size, at, available);
    }
    return { view, offset, type, size };
  }

  private publish(ring: CpuRing, from: number, to: number): void {
    ring.tail = to;
    publishPosition(ring.control32, ring.control, TAIL, from, to);
  }

  protected readNext(): PerfRecord<T> | undefined {
    if (this.closed) return undefined;
    const n = this.#rings.length;
    let out: PerfRecord<T> | undefined;
    const take = (r: PerfRecord<T>): void => {
      out = r;
    };
    for (let i = 0; i < n; i++) {
      const k = (this.#next + i) % n;
      if (this.readRing(this.#rings[k]!, take, 1) > 0) {
        // Round robin, so one busy CPU does not starve the others.
        this.#next = (k + 1) % n;
        return out;
      }
    }
    return undefined;
  }

  /**
   * Handler mode: each CPU's records in turn, its data_tail stored once for all of them.
   * @internal
   */
  protected override drain(take: (record: PerfRecord<T>) => void, state: HandlerState): void {
    const rings = this.#rings;
    const n = rings.length;
    for (let i = 0; i < n && state.active; i++)
      this.readRing(rings[(this.#next + i) % n]!, take, Infinity, state);
    if (n > 0) this.#next = (this.#next + 1) % n;
  }

  protected hasData(): boolean {
    return this.#rings.some((r) => Atomics.load(r.control32, HEAD_LO) !== r.tail);
  }

  /**
   * Hands the records of `ring` (copied or decoded, and lost reports) to `take`, at most `max`
   * and while `state.active`, then stores data_tail once. A sample is decoded before its space
   * is released, so one that fails to decode stays in the ring.
   */
  private readRing(
    ring: CpuRing,
    take: (record: PerfRecord<T>) => void,
    max: number,
    state: HandlerState = ALWAYS,
  ): number {
    const start = ring.tail;
    let tail = start;
    const head = Atomics.load(ring.control32, HEAD_LO);
    let n = 0;
    try {
      while (n < max && tail !== head && state.active) {
        const at = tail & ring.mask;
        const { view, offset, type, size } = this.record(ring, at, (head - tail) >>> 0);
        let out: PerfRecord<T> | undefined;
        if (type === PERF_RECORD_SAMPLE) {
          const raw = view.getUint32(offset + HEADER, HOST_LITTLE_ENDIAN);
          const bytes = view === ring.view ? ring.data : this.#joined;
          out = { kind: 'sample', cpu: ring.cpu, data: this.decode(view, bytes, offset + HEADER + 4, raw) };
        } else if (type === PERF_RECORD_LOST) {
          const lost = view.getBigUint64(offset + HEADER + 8, HOST_LITTLE_ENDIAN);
          this.#lost += lost;
          out = { kind: 'lost', cpu: ring.cpu, lost };
        }
        tail = (tail + size) >>> 0;
        if (out !== undefined) {
          n++;
          take(out);
        }
      }
    } finally {
      if (tail !== start) this.publish(ring, start, tail);
    }
    return n;
  }

  /** The sample at `at` of `view` (whose bytes are `bytes`), decoded or copied. */
  private decode(view: DataView, bytes: Uint8Array, at: number, length: number): T {
    const codec = this.#codec;
    if (codec !== undefined) return this.decodeChecked(codec, view, at, length);
    return this.#copier.copy(bytes, at, length) as T;
  }

  protected pollFds(): number[] {
    return this.#rings.map((r) => r.fd.fd);
  }

  protected errorContext(): { map?: string } {
    return { map: this.name };
  }

  protected release(): void {
    this.releaseRings();
    this.#map.fd.close();
  }

  /** Empties this reader's slots in the map, unmaps the rings and closes their events. */
  private releaseRings(): void {
    const mapFd = this.#map.fd.fd;
    for (const r of this.#rings) {
      try {
        // The map holds a reference to the event: without this it would outlive the reader.
        mapDeleteElem(mapFd, u32Bytes(r.cpu));
      } catch {
        // A slot already replaced or deleted: nothing left to undo.
      }
      munmap(r.memory);
      r.fd.close();
    }
  }

  override toString(): string {
    return `perf buffer '${this.name}' (${this.#rings.length} CPUs × ${this.size} bytes)`;
  }
}
