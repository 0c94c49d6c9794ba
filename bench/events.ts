// ring-* and perf-* benchmarks, our side: testdata/event_load-el.o's raw tracepoint program,
// run with BPF_PROG_TEST_RUN, fills the ring buffer (16 MiB) or every CPU's perf ring (1024
// pages) to capacity with records of one size; the records are read back through one of the
// reader's ways (consume: zero-copy batch; onData: a callback per record, each a copy; onView: a
// callback per record over the ring's own bytes; the async iterator), each record's producer and sequence number read as bench/c/events.c's callback
// does. Only the reading is timed, in CPU time of the process (wall clock in `extra`), from the
// end of the fill to the last record; the fill's own time is in `extra` too.
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { PerfBuffer, RingBuffer, type EventReader, type PerfRecord } from '../src/events/index.js';
import { loadObject, type LoadedObject } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { possibleCpus } from '../src/map/cpus.js';
import { pageSize } from '../src/sys/mmap.js';
import { median, type Measurement, type TimeOptions } from './measure.js';

const OBJECT = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata', 'event_load-el.o');
// Keep these in step with bench/c/events.c.
const RING_BYTES = 16 << 20;
const PERF_PAGES = 1024;
const RINGBUF_HDR = 8;
/** perf_event_header and the u32 size of the raw data. */
const PERF_HDR = 12;
const BPF_F_TEST_RUN_ON_CPU = 1;
const PRODUCER = 1;
const MAX_SAMPLES = 15;
/** Warm-up samples: at least `opts.warmup`, and enough for WARMUP_RECORDS records (JIT tiers). */
const WARMUP_RECORDS = 200_000;
const MAX_WARMUP = 16;

export type EventKind = 'ring' | 'perf';
export type ReadMode = 'consume' | 'ondata' | 'onview' | 'iterator';

interface Counter {
  seen: number;
  bad: number;
  /** Sum of the sequence numbers' low words, mod 2^32 (an int32, so it never leaves V8's Smis). */
  sum: number;
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Runs the program once with struct load_args as its context: `count` records from `firstSeq`. */
function fill(
  obj: LoadedObject,
  kind: EventKind,
  count: number,
  size: number,
  cpu: number,
  firstSeq: number,
) {
  const args = new BigUint64Array([BigInt(count), BigInt(size), BigInt(PRODUCER), BigInt(firstSeq)]);
  obj.program(kind === 'ring' ? 'ring_load' : 'perf_load').testRun({
    ctxIn: new Uint8Array(args.buffer),
    ctxSizeOut: 0,
    ...(cpu >= 0 ? { flags: BPF_F_TEST_RUN_ON_CPU, cpu } : {}),
  });
}

/** What bench/c/events.c's callback does with a record: producer and low word of seq. */
function checkBytes(c: Counter, b: Uint8Array): void {
  if (b.byteLength < 16 || b[0] !== PRODUCER) c.bad++;
  c.sum = (c.sum + (b[8]! | (b[9]! << 8) | (b[10]! << 16) | (b[11]! << 24))) | 0;
  c.seen++;
}

/** Reads `want` records (beyond what `c` saw) the way `mode` says. */
type Drain = (want: number) => Promise<void>;

function drainFor(reader: EventReader<unknown>, kind: EventKind, mode: ReadMode, c: Counter): Drain {
  if (mode === 'consume') {
    // One closure shape for both readers; perf adds the CPU argument, which is not read.
    const fn = (view: DataView, offset: number, length: number): void => {
      if (length < 16 || view.getUint32(offset, true) !== PRODUCER) c.bad++;
      c.sum = (c.sum + view.getUint32(offset + 8, true)) | 0;
      c.seen++;
    };
    const consume =
      kind === 'ring'
        ? (r: EventReader<unknown>) => (r as RingBuffer).consume(fn)
        : (r: EventReader<unknown>) => (r as PerfBuffer).consume(fn, Infinity, () => c.bad++);
    return async (want) => {
      const until = c.seen + want;
      while (c.seen < until) {
        if (!(await reader.ready(5000))) throw new Error('no records within 5 s');
        consume(reader);
      }
    };
  }
  const onRecord =
    kind === 'ring'
      ? (r: unknown) => checkBytes(c, r as Uint8Array)
      : (r: unknown) => {
          const p = r as PerfRecord;
          if (p.kind === 'sample') checkBytes(c, p.data);
          else c.bad++;
        };
  if (mode === 'iterator') {
    const it = reader[Symbol.asyncIterator]();
    return async (want) => {
      for (let i = 0; i < want; i++) {
        const r = await it.next();
        if (r.done) throw new Error('reader closed');
        onRecord(r.value);
      }
    };
  }
  let target = 0;
  let done: (() => void) | undefined;
  const finish = (): void => {
    if (c.seen >= target && done !== undefined) {
      const d = done;
      done = undefined;
      d();
    }
  };
  if (mode === 'onview') {
    // The same callback as consume's, called from the event loop per record over the ring.
    const fn = (view: DataView, offset: number, length: number): void => {
      if (length < 16 || view.getUint32(offset, true) !== PRODUCER) c.bad++;
      c.sum = (c.sum + view.getUint32(offset + 8, true)) | 0;
      c.seen++;
      finish();
    };
    if (kind === 'ring') (reader as RingBuffer).onView(fn);
    else (reader as PerfBuffer).onView(fn, { onLost: () => c.bad++ });
  } else {
    reader.onData((r) => {
      onRecord(r);
      finish();
    });
  }
  return (want) =>
    new Promise<void>((resolve, reject) => {
      target = c.seen + want;
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no records within 5 s: ${c.seen} of ${target}, ${c.bad} bad, lost ${String((reader as { lost?: bigint }).lost)}, wakeups ${reader.wakeups}`,
            ),
          ),
        5000,
      );
      done = () => {
        clearTimeout(timer);
        resolve();
      };
    });
}

/**
 * One benchmark: `kind` read with `mode`, records of `size` bytes. Reports records per second of
 * CPU time (median over the samples).
 */
export async function benchEvents(
  opts: TimeOptions,
  kind: EventKind,
  mode: ReadMode,
  size: number,
): Promise<Measurement> {
  // The async iterator is slow enough (~1 µs a record) that a few samples tell its rate.
  const iterations = Math.min(opts.iterations ?? 10, mode === 'iterator' ? 3 : MAX_SAMPLES);
  const spec = loadObjectSpec(OBJECT);
  spec.maps.find((m) => m.name === 'ring')!.maxEntries = RING_BYTES;
  const obj = loadObject(spec, { programs: [kind === 'ring' ? 'ring_load' : 'perf_load'] });
  let reader: EventReader<unknown> | undefined;
  try {
    const cpus = possibleCpus();
    const perFill =
      kind === 'ring'
        ? Math.floor(RING_BYTES / ((RINGBUF_HDR + size + 7) & ~7))
        : Math.floor((PERF_PAGES * pageSize() - 8) / ((PERF_HDR + size + 4 + 7) & ~7));
    const perSample = kind === 'ring' ? perFill : perFill * cpus;
    const warmup = Math.min(Math.max(opts.warmup ?? 1, Math.ceil(WARMUP_RECORDS / perSample)), MAX_WARMUP);
    reader = (
      kind === 'ring'
        ? RingBuffer.open(obj.map('ring'))
        : PerfBuffer.open(obj.map('perf'), { pagesPerCpu: PERF_PAGES })
    ) as EventReader<unknown>;
    const c: Counter = { seen: 0, bad: 0, sum: 0 };
    const drain = drainFor(reader, kind, mode, c);
    const cpuSamples: number[] = [];
    const wallSamples: number[] = [];
    const fillSamples: number[] = [];
    let seq = 0;
    for (let i = -warmup; i < iterations; i++) {
      const f0 = performance.now();
      if (kind === 'ring') {
        fill(obj, kind, perFill, size, -1, seq);
        seq += perFill;
      } else {
        for (let cpu = 0; cpu < cpus; cpu++) {
          fill(obj, kind, perFill, size, cpu, seq);
          seq += perFill;
        }
      }
      const c0 = cpuMs();
      const w0 = performance.now();
      await drain(perSample);
      const c1 = cpuMs();
      const w1 = performance.now();
      if (i >= 0) {
        cpuSamples.push(c1 - c0);
        wallSamples.push(w1 - w0);
        fillSamples.push(w0 - f0);
      }
    }
    reader.close();
    const drops = obj.map<number, bigint>('drops').lookup(PRODUCER) ?? 0n;
    if (c.bad > 0 || drops > 0n || c.seen !== perSample * (iterations + warmup)) {
      throw new Error(`${c.bad} bad records, ${drops} dropped, ${c.seen} seen`);
    }
    for (const s of [cpuSamples, wallSamples, fillSamples]) s.sort((a, b) => a - b);
    const cpu = median(cpuSamples);
    const wall = median(wallSamples);
    const fillMs = median(fillSamples);
    return {
      value: perSample / (cpu / 1e3),
      min: cpuSamples[0]!,
      iterations,
      maxRssKb: process.resourceUsage().maxRSS,
      extra: {
        median_ms: cpu,
        wall_ops_per_sec: Math.round(perSample / (wall / 1e3)),
        records_per_sample: perSample,
        fill_ms: fillMs,
        checksum: c.sum >>> 0,
      },
    };
  } finally {
    // Closed here too, so that a failed sample does not leave a poller keeping the process up.
    reader?.close();
    obj.close();
  }
}
