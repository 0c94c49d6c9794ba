// Concurrency: the addon in several worker_threads at once (each with its own N-API environment,
// instance data and uv_poll on its own loop), loads and map operations in parallel, ring buffer
// readers closed while a producer keeps writing, and workers terminated with readers open: no
// crash, no lost event (each record read or counted as dropped by the program), no leaked
// descriptor.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { MapType } from '../src/constants.js';
import { RingBuffer } from '../src/events/index.js';
import { loadObject } from '../src/loader/index.js';
import { BpfMap } from '../src/map/map.js';
import { programIds } from '../src/program/index.js';
import { mapGetNextId } from '../src/sys/bpf.js';
import { BPFFS_ROOT } from '../src/sys/bpffs.js';
import { bundleScript } from './bundle.js';
import { bpfDescriptors, needRoot, TESTDATA } from './helpers.js';

const OBJECT = join(TESTDATA, 'events-el.o');
const WORKERS = 4;
const ITERATIONS = 12;
const STAT_SEQ = 0;
const STAT_RING_DROPS = 1;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs one worker task to its end; its result, or a rejection with its error or exit code. */
function runWorker(
  script: string,
  data: object,
  timeoutMs = 120_000,
): { done: Promise<unknown>; worker: Worker } {
  const worker = new Worker(script, { workerData: data });
  const done = new Promise<unknown>((resolve, reject) => {
    let result: unknown;
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`worker did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    worker.on('message', (m) => (result = m));
    worker.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    worker.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(result);
      else reject(new Error(`worker exited with ${code}`));
    });
  });
  return { done, worker };
}

/** The descriptors of bpf objects, counted after the kernel had a moment (closing is synchronous; this is margin). */
async function fdsSettled(): Promise<number> {
  await sleep(50);
  return bpfDescriptors().length;
}

test(`loads, ring buffer reads and map operations from ${WORKERS} workers at once`, async (t) => {
  if (!needRoot(t)) return;
  const script = bundleScript('test/concurrency-worker.ts');
  const dir = join(BPFFS_ROOT, `ebpf_test_${process.pid}_workers`);
  mkdirSync(dir, { recursive: true });
  const fds = bpfDescriptors().length;
  try {
    const sharedMap = join(dir, 'shared');
    {
      using shared = BpfMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4096 });
      shared.pin(sharedMap);
    }
    const control = new SharedArrayBuffer(8);
    const runs = Array.from(
      { length: WORKERS },
      (_, index) =>
        runWorker(script, {
          task: 'load-maps',
          object: OBJECT,
          index,
          iterations: ITERATIONS,
          sharedMap,
          control,
        }).done,
    );
    // The main thread loads and reads meanwhile too.
    for (let i = 0; i < ITERATIONS; i++) {
      using obj = loadObject(OBJECT, { programs: ['ring_output'] });
      using ring = RingBuffer.open(obj.map('ring'));
      obj.program('ring_output').testRun({ dataIn: new Uint8Array(64), repeat: 8 });
      assert.equal((await ring.poll(5000)).length, 8);
      await sleep(1);
    }
    const results = (await Promise.all(runs)) as { events: number; mapOps: number }[];
    for (const r of results) assert.deepEqual(r, { events: ITERATIONS * 16, mapOps: ITERATIONS * 100 });
    // Every worker's keys are there with its values, none lost to another's writes.
    using shared = BpfMap.fromPin(sharedMap);
    let entries = 0;
    for (const [k, v] of shared.entries()) {
      const key = new DataView((k as Uint8Array).buffer, (k as Uint8Array).byteOffset).getUint32(0, true);
      const value = new DataView((v as Uint8Array).buffer, (v as Uint8Array).byteOffset).getBigUint64(
        0,
        true,
      );
      const w = Math.floor(key / 100_000);
      assert.equal(value, BigInt(w * 1_000_000 + (key % 100_000)), `key ${key}`);
      entries++;
    }
    assert.equal(entries, WORKERS * ITERATIONS * 50);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(await fdsSettled(), fds, 'descriptors leaked');
});

test('ring buffer readers closed while a worker keeps producing: no crash, no late callback, no lost record', async (t) => {
  if (!needRoot(t)) return;
  const script = bundleScript('test/concurrency-worker.ts');
  const dir = join(BPFFS_ROOT, `ebpf_test_${process.pid}_readers`);
  mkdirSync(dir, { recursive: true });
  const fds = bpfDescriptors().length;
  let stopProducer = async (): Promise<void> => {};
  try {
    const obj = loadObject(OBJECT, { programs: ['ring_output'] });
    try {
      const program = join(dir, 'ring_output');
      obj.program('ring_output').pin(program);
      const stat = (which: number): bigint => obj.map<number, bigint>('stats').lookup(which) ?? -1n;
      const control = new SharedArrayBuffer(12);
      const ctl = new Int32Array(control);
      const producer = runWorker(script, { task: 'produce', object: OBJECT, index: 1, program, control });
      producer.done.catch(() => {}); // awaited below; a failure before then must not go unhandled
      stopProducer = async (): Promise<void> => {
        Atomics.store(ctl, 0, 1);
        await producer.done;
      };
      for (let i = 0; i < 3000 && Atomics.load(ctl, 1) === 0; i++) await sleep(10);
      assert.ok(Atomics.load(ctl, 1) > 0, 'the producer never started');
      let lateCallbacks = 0;
      let read = 0;
      for (let round = 0; round < 60; round++) {
        const ring = RingBuffer.open(obj.map('ring'));
        ring.onData(() => {
          if (ring.closed) lateCallbacks++;
          read++;
        });
        await sleep(Math.floor(Math.random() * 12));
        ring.close();
      }
      await sleep(20);
      assert.equal(lateCallbacks, 0, 'a handler ran after close()');
      assert.ok(read > 0, 'the readers read nothing while the producer ran');
      // Now one reader stays open from an empty ring to the end: every record the producer makes
      // from here is read, or counted by the program as dropped (ring full).
      const ring = RingBuffer.open(obj.map('ring'));
      try {
        // The producer paused between batches, the ring drained of what the closed readers left:
        // from here every record counts.
        Atomics.store(ctl, 0, 2);
        for (let i = 0; i < 3000 && Atomics.load(ctl, 2) !== 1; i++) await sleep(5);
        assert.equal(Atomics.load(ctl, 2), 1, 'the producer did not pause');
        ring.readAvailable();
        const seq0 = stat(STAT_SEQ);
        const drops0 = stat(STAT_RING_DROPS);
        let got = 0;
        ring.onData(() => got++);
        Atomics.store(ctl, 0, 0);
        Atomics.notify(ctl, 0);
        await sleep(300);
        await stopProducer();
        const produced = stat(STAT_SEQ) - seq0;
        const dropped = stat(STAT_RING_DROPS) - drops0;
        // Whatever is still in the ring is delivered on the next wakeup; wait for it.
        for (let i = 0; i < 100 && BigInt(got) + dropped < produced; i++) await sleep(20);
        got += ring.readAvailable().length;
        assert.ok(produced > 0n, 'the producer ran');
        assert.equal(
          BigInt(got) + dropped,
          produced,
          `${got} read + ${dropped} dropped of ${produced} produced`,
        );
        t.diagnostic(`${produced} produced with a reader open: ${got} read, ${dropped} dropped (ring full)`);
      } finally {
        ring.close();
      }
    } finally {
      obj.close();
    }
  } finally {
    await stopProducer().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(await fdsSettled(), fds, 'descriptors leaked');
});

test('a worker terminated with a reader polling and a program open: the process goes on', async (t) => {
  if (!needRoot(t)) return;
  const script = bundleScript('test/concurrency-worker.ts');
  const dir = join(BPFFS_ROOT, `ebpf_test_${process.pid}_terminate`);
  mkdirSync(dir, { recursive: true });
  try {
    using obj = loadObject(OBJECT, { programs: ['ring_output'] });
    const program = join(dir, 'ring_output');
    const ring = join(dir, 'ring');
    obj.program('ring_output').pin(program);
    obj.map('ring').pin(ring);
    const fds = bpfDescriptors().length;
    for (let i = 0; i < 10; i++) {
      const worker = new Worker(script, {
        workerData: { task: 'hold', object: OBJECT, index: i, program, ring },
      });
      await new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
      // Records arrive for the worker's poller while it is torn down.
      obj.program('ring_output').testRun({ dataIn: new Uint8Array(64), repeat: 32 });
      assert.equal(await worker.terminate(), 1);
    }
    const left = (await fdsSettled()) - fds;
    // The main thread's own reader still works after the workers' pollers are gone.
    using reader = RingBuffer.open(obj.map('ring'));
    reader.readAvailable();
    obj.program('ring_output').testRun({ dataIn: new Uint8Array(64), repeat: 4 });
    assert.equal((await reader.poll(5000)).length, 4);
    // What a terminated worker held open the addon closed with the worker's environment.
    assert.equal(left, 0, 'descriptors left open by 10 terminated workers');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Every descriptor of this process (not only bpf ones: epoll, perf events, the workers' own). */
function allDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

test('workers that load objects and are terminated with everything open leave no descriptor and no kernel object', async (t) => {
  if (!needRoot(t)) return;
  const script = bundleScript('test/concurrency-worker.ts');
  // One worker first, so that what Node opens once per process for workers is counted before.
  const warm = new Worker(script, { workerData: { task: 'load-hold', object: OBJECT, index: 0 } });
  await new Promise((resolve, reject) => warm.once('message', resolve).once('error', reject));
  await warm.terminate();
  await sleep(100);
  const fds = allDescriptors();
  const bpfFds = bpfDescriptors().length;
  const made: { programs: number[]; maps: number[]; dup: number }[] = [];
  for (let round = 0; round < 3; round++) {
    // Three at once, each loading (probes, BTF, maps, programs), reading and holding.
    const workers = Array.from(
      { length: 3 },
      (_, i) =>
        new Worker(script, { workerData: { task: 'load-hold', object: OBJECT, index: round * 3 + i } }),
    );
    const held = (await Promise.all(
      workers.map((w) => new Promise((resolve, reject) => w.once('message', resolve).once('error', reject))),
    )) as (typeof made)[number][];
    made.push(...held);
    assert.ok(allDescriptors() > fds, 'the workers hold descriptors');
    for (const w of workers) assert.equal(await w.terminate(), 1);
  }
  await sleep(100);
  assert.equal(bpfDescriptors().length, bpfFds, 'bpf descriptors left by terminated workers');
  assert.equal(allDescriptors(), fds, 'descriptors left by terminated workers');
  // With their descriptors closed, what they made is gone from the kernel (RCU frees it shortly).
  const ids = (next: (id: number) => number | undefined): Set<number> => {
    const out = new Set<number>();
    for (let id = next(0); id !== undefined; id = next(id)) out.add(id);
    return out;
  };
  let left: string[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    const progs = new Set(programIds());
    const maps = ids(mapGetNextId);
    left = made.flatMap((m) => [
      ...m.programs.filter((id) => progs.has(id)).map((id) => `prog ${id}`),
      ...m.maps.filter((id) => maps.has(id)).map((id) => `map ${id}`),
    ]);
    if (left.length === 0) break;
    await sleep(50);
  }
  assert.deepEqual(left, [], 'kernel objects of terminated workers still there');
});
