// Ring buffer and perf buffer readers under load: a producer thread per CPU (two on each) runs
// testdata/event_load.c's program pinned to its CPU in bursts, numbering its records in its own
// sequence, while the main thread reads through the event loop only. Every record must come out
// exactly once, intact and in its producer's order; what is missing must be exactly what the
// program counted as refused by a full ring; nothing may stay unread once the producers stop (a
// lost wakeup would leave the reader asleep with records in the ring); an idle reader must sleep.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { PerfBuffer, RingBuffer, type EventReader } from '../src/events/index.js';
import { loadObject, type LoadedObject } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { progTestRun } from '../src/sys/bpf.js';
import { readCpuList } from '../src/sys/cpus.js';
import type { ProducerData } from './event-producer.js';
import { needRoot, TESTDATA } from './helpers.js';

const OBJECT = join(TESTDATA, 'event_load-el.o');
const PER_CPU = 2;
const ROUNDS = 800;
const MAX_BURST = 32;
/** How long the reader may take to catch up once the producers stopped. */
const CATCH_UP_MS = 15_000;
const BPF_F_TEST_RUN_ON_CPU = 1;
const PRODUCER_BOOT = `import('tsx/esm/api').then((tsx) => {
  tsx.register();
  return import(${JSON.stringify(new URL('./event-producer.ts', import.meta.url).href)});
});`;
/** event_load.c's CHECK_XOR, as two u32 halves. */
const CHECK_LO = 0xc3c33c3c;
const CHECK_HI = 0x5a5aa5a5;

/** Size of record `seq` when the producer cycles sizes (event_load.c's size_of). */
function sizeOf(seq: number): number {
  return [16, 128, 1024][seq % 3]!;
}

/** What came out, per producer, and everything wrong with it. */
class Tally {
  readonly received: number[];
  readonly last: number[];
  readonly problems: string[] = [];
  total = 0;

  constructor(producers: number) {
    this.received = new Array<number>(producers).fill(0);
    this.last = new Array<number>(producers).fill(-1);
  }

  private problem(p: string): void {
    if (this.problems.length < 10) this.problems.push(p);
  }

  /** One record: `length` bytes at `offset`; `padded` when perf may add up to 7 bytes after it. */
  check(view: DataView, offset: number, length: number, padded: boolean): void {
    this.total++;
    const producer = view.getUint32(offset, true);
    const size = view.getUint32(offset + 4, true);
    const seq = view.getUint32(offset + 8, true);
    if (producer >= this.received.length) return this.problem(`record from unknown producer ${producer}`);
    if (view.getUint32(offset + 12, true) !== 0) return this.problem(`producer ${producer}: seq over 2^32`);
    if (size !== sizeOf(seq)) return this.problem(`producer ${producer} seq ${seq}: size field ${size}`);
    if (padded ? length < size || length - size >= 8 : length !== size)
      return this.problem(`producer ${producer} seq ${seq}: ${length} bytes for a ${size}-byte record`);
    if (size >= 32) {
      const lo = view.getUint32(offset + size - 8, true);
      const hi = view.getUint32(offset + size - 4, true);
      if (lo !== (seq ^ CHECK_LO) >>> 0 || hi !== CHECK_HI)
        return this.problem(`producer ${producer} seq ${seq}: check word torn or overwritten`);
    }
    if (seq <= this.last[producer]!)
      return this.problem(
        `producer ${producer}: seq ${seq} after ${this.last[producer]} (doubled or reordered)`,
      );
    this.last[producer] = seq;
    this.received[producer]!++;
  }
}

interface Producers {
  done: Promise<number[]>;
  count: number;
}

/** Starts PER_CPU producer threads on each online CPU; resolves to what each sent. */
function startProducers(progFd: number, cpus: readonly number[]): Producers {
  const workers: Promise<{ producer: number; sent: number }>[] = [];
  let producer = 0;
  for (const cpu of cpus) {
    for (let k = 0; k < PER_CPU; k++) {
      const data: ProducerData = {
        progFd,
        cpu,
        producer: producer++,
        rounds: ROUNDS,
        maxBurst: MAX_BURST,
        size: 0,
        pauseEvery: 8 + 8 * k,
      };
      // The worker is TypeScript too: it registers tsx's loader before importing it.
      const w = new Worker(PRODUCER_BOOT, { eval: true, workerData: data });
      // Resolved once the thread is gone, so its teardown is not counted in the idle check.
      workers.push(
        new Promise((resolve, reject) => {
          let sent: { producer: number; sent: number } | undefined;
          w.once('message', (m: { producer: number; sent: number }) => (sent = m));
          w.once('error', reject);
          w.once('exit', (code) => {
            if (code !== 0 || sent === undefined)
              reject(new Error(`producer ${data.producer} exited with ${code}`));
            else resolve(sent);
          });
        }),
      );
    }
  }
  const count = producer;
  const done = Promise.all(workers).then((rs) => {
    const sent = new Array<number>(count).fill(0);
    for (const r of rs) sent[r.producer] = r.sent;
    return sent;
  });
  return { done, count };
}

function drops(obj: LoadedObject, producers: number): number[] {
  const m = obj.map<number, bigint>('drops');
  return Array.from({ length: producers }, (_, p) => Number(m.lookup(p) ?? 0n));
}

/** Waits until `tally` has everything the producers sent and the program did not drop. */
async function caughtUp(tally: Tally, expected: () => number, what: () => string): Promise<void> {
  const deadline = Date.now() + CATCH_UP_MS;
  while (tally.total < expected()) {
    if (Date.now() > deadline) {
      assert.fail(
        `reader still asleep after ${CATCH_UP_MS} ms with records unread (${what()}): a lost wakeup`,
      );
    }
    await sleep(10);
  }
}

/** An idle reader sleeps: no wakeup and little CPU over `ms`, while `reading` is still pending. */
async function sleepsWhenIdle<T>(reader: EventReader<T>, ms: number): Promise<void> {
  const w0 = reader.wakeups;
  const cpu0 = process.cpuUsage();
  await sleep(ms);
  const cpu = process.cpuUsage(cpu0);
  assert.equal(reader.wakeups, w0, 'no wakeup while nothing was written');
  const used = (cpu.user + cpu.system) / 1000;
  // A busy wait spends all of it; GC and JIT on a loaded machine can take a third.
  assert.ok(used < ms / 2, `${used} ms of CPU in ${ms} ms idle`);
}

function setup(t: TestContext): { obj: LoadedObject; cpus: number[] } | undefined {
  if (!needRoot(t)) return undefined;
  const spec = loadObjectSpec(OBJECT);
  // A 1 MiB ring: it wraps often, and fills up when the reader falls behind.
  spec.maps.find((m) => m.name === 'ring')!.maxEntries = 1 << 20;
  return { obj: loadObject(spec), cpus: readCpuList('online') };
}

/** One more record from producer `producer` on `cpu`, from this thread. */
function produceOne(obj: LoadedObject, prog: string, producer: number, seq: number, cpu: number): void {
  const ctx = new BigUint64Array([1n, 0n, BigInt(producer), BigInt(seq)]);
  progTestRun(obj.program(prog).fd.fd, {
    ctxIn: new Uint8Array(ctx.buffer),
    flags: BPF_F_TEST_RUN_ON_CPU,
    cpu,
  });
}

function assertExact(tally: Tally, sent: number[], dropped: number[]): void {
  assert.deepEqual(tally.problems, []);
  for (let p = 0; p < sent.length; p++) {
    assert.equal(
      tally.received[p]! + dropped[p]!,
      sent[p],
      `producer ${p}: ${tally.received[p]} read + ${dropped[p]} refused by a full ring = ${sent[p]} sent`,
    );
    assert.ok(tally.last[p]! < sent[p]!, `producer ${p}: no seq beyond what it sent`);
  }
}

test('stress: ring buffer, producers on every CPU, consume() woken by the event loop', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { obj, cpus } = s;
  const ring = RingBuffer.open(obj.map('ring'));
  try {
    const producers = startProducers(obj.program('ring_load').fd.fd, cpus);
    const tally = new Tally(producers.count + 1);
    const fn = (view: DataView, offset: number, length: number): void =>
      tally.check(view, offset, length, false);
    let batches = 0;
    const reading = (async () => {
      while (await ring.ready()) {
        // Small batches now and then, so the consumer position moves mid-burst as well.
        ring.consume(fn, batches++ % 4 === 0 ? 7 : Infinity);
      }
    })();
    const sent = await producers.done;
    const expected = (): number =>
      sent.reduce((a, b) => a + b, 0) - drops(obj, producers.count).reduce((a, b) => a + b, 0);
    await caughtUp(tally, expected, () => `${ring.pending()} bytes pending`);
    assertExact(tally, sent, drops(obj, producers.count));
    assert.equal(ring.pending(), 0);
    t.diagnostic(
      `${tally.total} records read in ${batches} batches, ${ring.wakeups} wakeups, ${expected() - tally.total} left, ` +
        `${drops(obj, producers.count).reduce((a, b) => a + b, 0)} refused by a full ring, from ${producers.count} producers on CPUs ${cpus.join(',')}`,
    );

    await sleepsWhenIdle(ring, 300);
    // And wakes for one more record on each CPU.
    const extra = producers.count;
    cpus.forEach((cpu, i) => produceOne(obj, 'ring_load', extra, i, cpu));
    await caughtUp(
      tally,
      () => expected() + cpus.length,
      () => `${ring.pending()} bytes pending`,
    );
    assert.equal(tally.received[extra], cpus.length);
    ring.close();
    await reading;
  } finally {
    ring.close();
    obj.close();
  }
});

test('stress: perf buffer, producers on every CPU, onData handler', async (t) => {
  const s = setup(t);
  if (!s) return;
  const { obj, cpus } = s;
  // 8 pages per CPU: records wrap around the ring's end often, and a slow reader loses some.
  const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 8 });
  try {
    const producers = startProducers(obj.program('perf_load').fd.fd, cpus);
    const tally = new Tally(producers.count + 1);
    let lost = 0n;
    const stop = perf.onData((r) => {
      if (r.kind === 'lost') lost += r.lost;
      else
        tally.check(
          new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength),
          0,
          r.data.byteLength,
          true,
        );
    });
    const sent = await producers.done;
    const dropped = (): number => drops(obj, producers.count).reduce((a, b) => a + b, 0);
    const expected = (): number => sent.reduce((a, b) => a + b, 0) - dropped();
    await caughtUp(tally, expected, () => `${lost} reported lost`);
    assertExact(tally, sent, drops(obj, producers.count));

    await sleepsWhenIdle(perf, 300);
    // One more sample on each CPU: it wakes the reader, and the kernel reports any loss not yet
    // reported ahead of it, so the lost counts now add up to the helper's failures.
    const extra = producers.count;
    cpus.forEach((cpu, i) => produceOne(obj, 'perf_load', extra, i, cpu));
    await caughtUp(
      tally,
      () => expected() + cpus.length,
      () => `${lost} reported lost`,
    );
    // The kernel's lost reports are its own count: once it reported one more than the helper
    // failures the program counted (1 in ~300), so only their presence is checked exactly.
    assert.equal(lost > 0n, dropped() > 0, `${lost} reported lost, ${dropped()} refused`);
    assert.equal(perf.lost, lost);
    t.diagnostic(
      `${tally.total} samples read, ${perf.wakeups} wakeups, ${lost} reported lost, ${dropped()} refused, from ${producers.count} producers on CPUs ${cpus.join(',')}`,
    );
    stop();
  } finally {
    perf.close();
    obj.close();
  }
});
