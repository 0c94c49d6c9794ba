// PerfBuffer: the reader of a BPF_MAP_TYPE_PERF_EVENT_ARRAY map — one BPF output perf event per
// CPU, stored in the map at the CPU's index, each with its own mmap'd ring of perf records.
import type { Btf } from '../btf/btf.js';
import { MapType } from '../constants.js';
import { EbpfError } from '../errors.js';
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
import { codecForType, decodeRecord } from './decode.js';
import { eventMap, type EventMap, type EventMapLike } from './event-map.js';
import { EventReader } from './reader.js';

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

const HEAD = PERF_EVENT_MMAP_PAGE.data_head / 8;
const TAIL = PERF_EVENT_MMAP_PAGE.data_tail / 8;
const OFFSET = PERF_EVENT_MMAP_PAGE.data_offset / 8;
const SIZE = PERF_EVENT_MMAP_PAGE.data_size / 8;
const HEADER = 8;

/** One CPU's perf event and its mapped ring. */
interface CpuRing {
  readonly cpu: number;
  readonly fd: Fd;
  readonly memory: ArrayBuffer;
  /** The control page as u64 words: data_head, data_tail... */
  readonly control: BigUint64Array;
  readonly data: Uint8Array;
  readonly view: DataView;
  readonly size: number;
  readonly mask: bigint;
  tail: bigint;
  head: bigint;
}

function u32Bytes(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, HOST_LITTLE_ENDIAN);
  return b;
}

/**
 * Reads perf records from a perf event array: samples (per CPU in the order they were written)
 * and lost counts. Opening stores this reader's perf event descriptors in the map; close()
 * removes them again. The map must stay open while the reader is.
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
  #codec: Codec<T> | undefined;

  private constructor(map: EventMap, opts: PerfBufferOptions) {
    super();
    this.#map = map;
    this.name = map.name;
    const pages = opts.pagesPerCpu ?? 64;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) {
      throw new EbpfError(`pagesPerCpu must be a power of two, not ${pages}`, { map: map.name });
    }
    const wakeupEvents = opts.wakeupEvents ?? 1;
    if (!Number.isInteger(wakeupEvents) || wakeupEvents < 1 || wakeupEvents > 0xffffffff) {
      throw new EbpfError(`wakeupEvents must be a positive integer, not ${wakeupEvents}`, { map: map.name });
    }
    const page = pageSize();
    this.size = pages * page;
    // A CPU that goes offline later keeps its event; its buffer just stays quiet.
    const cpus = opts.cpus ?? readCpuList('online').filter((c) => c < map.maxEntries);
    for (const c of cpus) {
      if (!Number.isInteger(c) || c < 0 || c >= map.maxEntries) {
        throw new EbpfError(`cpu ${c} has no slot in the map (max_entries ${map.maxEntries})`, {
          map: map.name,
        });
      }
    }
    this.cpus = [...cpus];
    const mapFd = map.fd();
    if (mapFd === undefined) throw new EbpfError('the map is closed', { map: map.name });
    this.#rings = [];
    try {
      for (const cpu of cpus) this.#rings.push(this.openCpu(cpu, mapFd, pages, wakeupEvents));
    } catch (e) {
      this.release();
      throw e;
    }
  }

  /**
   * Opens a perf buffer on `map` (a BpfMap, an Fd or a descriptor number; not taken over).
   */
  static open(map: EventMapLike, opts: PerfBufferOptions = {}): PerfBuffer<Uint8Array> {
    return new PerfBuffer<Uint8Array>(eventMap(map, MapType.PERF_EVENT_ARRAY), opts);
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
      const tail = Atomics.load(control, TAIL);
      return {
        cpu,
        fd,
        memory,
        control,
        data: new Uint8Array(memory, offset, size),
        view: new DataView(memory, offset, size),
        size,
        mask: BigInt(size - 1),
        tail,
        head: tail,
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

  protected readNext(): PerfRecord<T> | undefined {
    if (this.closed) return undefined;
    const n = this.#rings.length;
    for (let i = 0; i < n; i++) {
      const k = (this.#next + i) % n;
      const r = this.readRing(this.#rings[k]!);
      if (r !== undefined) {
        // Round robin, so one busy CPU does not starve the others.
        this.#next = (k + 1) % n;
        return r;
      }
    }
    return undefined;
  }

  private readRing(ring: CpuRing): PerfRecord<T> | undefined {
    for (;;) {
      if (ring.tail === ring.head) {
        ring.head = Atomics.load(ring.control, HEAD);
        if (ring.tail === ring.head) return undefined;
      }
      const at = Number(ring.tail & ring.mask);
      const type = ring.view.getUint32(at, HOST_LITTLE_ENDIAN);
      const size = ring.view.getUint16(at + 6, HOST_LITTLE_ENDIAN);
      if (size < HEADER || BigInt(size) > ring.head - ring.tail) {
        throw new EbpfError(`perf record of ${size} bytes at position ${ring.tail} (head ${ring.head})`, {
          map: this.name,
          offset: at,
        });
      }
      let view = ring.view;
      let start = at;
      if (at + size > ring.size) {
        // The record wraps around the end of the ring: join its two parts.
        const joined = new Uint8Array(size);
        joined.set(ring.data.subarray(at));
        joined.set(ring.data.subarray(0, size - (ring.size - at)), ring.size - at);
        view = new DataView(joined.buffer);
        start = 0;
      }
      let out: PerfRecord<T> | undefined;
      if (type === PERF_RECORD_SAMPLE && size >= HEADER + 4) {
        const raw = view.getUint32(start + HEADER, HOST_LITTLE_ENDIAN);
        if (HEADER + 4 + raw > size) {
          throw new EbpfError(`perf sample claims ${raw} raw bytes in a ${size} byte record`, {
            map: this.name,
            offset: at,
          });
        }
        out = { kind: 'sample', cpu: ring.cpu, data: this.decode(view, start + HEADER + 4, raw) };
      } else if (type === PERF_RECORD_LOST && size >= HEADER + 16) {
        const lost = view.getBigUint64(start + HEADER + 8, HOST_LITTLE_ENDIAN);
        this.#lost += lost;
        out = { kind: 'lost', cpu: ring.cpu, lost };
      }
      ring.tail += BigInt(size);
      Atomics.store(ring.control, TAIL, ring.tail);
      if (out !== undefined) return out;
    }
  }

  private decode(view: DataView, at: number, length: number): T {
    const codec = this.#codec;
    if (codec !== undefined) return decodeRecord(codec, view, at, length, { map: this.name });
    const b = view.byteOffset + at;
    return new Uint8Array(view.buffer, b, length).slice() as T;
  }

  protected pollFds(): number[] {
    return this.#rings.map((r) => r.fd.fd);
  }

  protected errorContext(): { map?: string } {
    return { map: this.name };
  }

  protected release(): void {
    const mapFd = this.#map.fd();
    for (const r of this.#rings) {
      if (mapFd !== undefined) {
        try {
          // The map holds a reference to the event: without this it would outlive the reader.
          mapDeleteElem(mapFd, u32Bytes(r.cpu));
        } catch {
          // A slot already replaced or deleted, or a map no longer there: nothing left to undo.
        }
      }
      munmap(r.memory);
      r.fd.close();
    }
  }

  override toString(): string {
    return `perf buffer '${this.name}' (${this.#rings.length} CPUs × ${this.size} bytes)`;
  }
}
