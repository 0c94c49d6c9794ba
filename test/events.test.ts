// Ring buffer and perf buffer readers against the kernel: testdata/events.c's XDP programs, run
// with BPF_PROG_TEST_RUN, write records; the programs' own counters (sequence numbers, drops the
// helpers reported) and the kernel's positions are the oracles for what must come out.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFile, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadKernelBtf } from '../src/btf/kernel.js';
import { EbpfError, NotFoundError } from '../src/errors.js';
import {
  BPF_RINGBUF_HDR_SZ,
  PERF_EVENT_MMAP_PAGE,
  PerfBuffer,
  RingBuffer,
  RingBuffers,
  type EventReader,
  type PerfRecord,
} from '../src/events/index.js';
import { loadObject, type LoadedObject } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { readCpuList } from '../src/sys/cpus.js';
import {
  VMLINUX,
  KERNEL_SERIES,
  NODE_TS,
  needFile,
  needRoot,
  needTool,
  srcModule,
  TESTDATA,
  bpfDescriptors,
} from './helpers.js';

const OBJECT = join(TESTDATA, 'events-el.o');
const STAT_SEQ = 0;
const STAT_RING_DROPS = 1;
const STAT_PERF_DROPS = 2;
const DISCARD_ODD = 1;
/** struct event {u32 pid; u64 seq; char comm[16]}: 32 bytes; a ring record adds its 8-byte header. */
const EVENT_SIZE = 32;
const RING_SIZE = 4096;

interface Event {
  pid: number;
  seq: bigint;
  comm: string;
}

/** What events.c reads from the packet: u32 pid, u32 flags, char comm[16]. */
function command(pid: number, comm: string, flags = 0): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setUint32(0, pid, true);
  v.setUint32(4, flags, true);
  b.set(new TextEncoder().encode(comm).subarray(0, 15), 8);
  return b;
}

function openFds(): number {
  return bpfDescriptors().length;
}

/**
 * Starts waiting on `reader`'s iterator with nothing written, and checks `ms` later that it is
 * still waiting in the event loop: no record, no wakeup, and under `cpuLimitUs` of CPU (a busy
 * poll would burn the whole time; sleeping in epoll costs next to nothing). The CPU is the whole
 * process's: the first window may also hold work of the process's other threads (Node 24 spends
 * ~270 ms of them in a test file's first moments), so up to three windows in a row are measured,
 * and one must be under the limit. A busy poll is over it in every window.
 */
async function waitsIdle<T>(
  reader: EventReader<T>,
  ms: number,
  cpuLimitUs: number,
): Promise<{ it: AsyncIterator<T>; next: Promise<IteratorResult<T>> }> {
  // In the kernel matrix's emulated VMs a fixed cost (GC, JIT) is several times larger: a longer
  // wait under the same share of CPU dilutes it, and a busy poll would still burn all of it.
  const scale = KERNEL_SERIES !== undefined ? 8 : 1;
  ms *= scale;
  cpuLimitUs *= scale;
  const it = reader[Symbol.asyncIterator]();
  let settled = false;
  const next = it.next().finally(() => (settled = true));
  const spent: number[] = [];
  for (let window = 0; window < 3; window++) {
    const cpu0 = process.cpuUsage();
    await sleep(ms);
    const cpu = process.cpuUsage(cpu0);
    assert.equal(settled, false, 'nothing was written yet');
    assert.equal(reader.wakeups, 0);
    spent.push(cpu.user + cpu.system);
    if (cpu.user + cpu.system < cpuLimitUs) return { it, next };
  }
  assert.fail(`${spent.map((us) => us / 1000).join(', ')} ms CPU in three windows of ${ms} ms while waiting`);
}

function load(t: TestContext): LoadedObject | undefined {
  if (!needRoot(t)) return undefined;
  return loadObject(OBJECT);
}

function run(
  obj: LoadedObject,
  prog: string,
  times: number,
  packet = command(process.pid, 'events-test'),
): void {
  const r = obj.program(prog).testRun({ dataIn: packet, repeat: times });
  assert.notEqual(r.retval, 0, `${prog} aborted (packet too short?)`);
}

function stat(obj: LoadedObject, which: number): bigint {
  return obj.map<number, bigint>('stats').lookup(which) ?? -1n;
}

/** Decodes a raw ring/perf record as struct event (x86: little endian). */
function parseEvent(b: Uint8Array): Event {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const comm = b.subarray(16, 32);
  const end = comm.indexOf(0);
  return {
    pid: v.getUint32(0, true),
    seq: v.getBigUint64(8, true),
    comm: new TextDecoder().decode(end < 0 ? comm : comm.subarray(0, end)),
  };
}

function expectSeqs(events: Event[], from: bigint, count: number, step = 1n): void {
  assert.deepEqual(
    events.map((e) => e.seq),
    Array.from({ length: count }, (_, i) => from + BigInt(i) * step),
  );
}

test('ring buffer: N events in, N records out in order, raw and BTF-decoded', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const ring = RingBuffer.open(obj.map('ring'));
    assert.equal(ring.size, RING_SIZE);
    assert.deepEqual(ring.readAvailable(), []);
    run(obj, 'ring_reserve', 30);
    // The kernel's producer position: 30 records of header + 32 bytes, 8-aligned.
    assert.equal(ring.pending(), 30 * (BPF_RINGBUF_HDR_SZ + EVENT_SIZE));
    const raw = ring.readAvailable();
    assert.equal(ring.pending(), 0);
    assert.equal(raw.length, 30);
    for (const r of raw) assert.equal(r.byteLength, EVENT_SIZE);
    const events = raw.map(parseEvent);
    expectSeqs(events, 0n, 30);
    for (const e of events) assert.deepEqual([e.pid, e.comm], [process.pid, 'events-test']);
    assert.equal(stat(obj, STAT_SEQ), 30n);

    // bpf_ringbuf_output copies from the stack; decoded through the object's BTF.
    const typed = ring.decodeWith<Event>(obj.spec.btf!, 'struct event');
    run(obj, 'ring_output', 25, command(4242, 'output'));
    const decoded = typed.readAvailable();
    assert.deepEqual(
      decoded,
      Array.from({ length: 25 }, (_, i) => ({ pid: 4242, seq: 30n + BigInt(i), comm: 'output' })),
    );
    // readAvailable(max) stops early and leaves the rest in the ring.
    run(obj, 'ring_output', 5);
    assert.equal(typed.readAvailable(2).length, 2);
    expectSeqs(typed.readAvailable(), 57n, 3);
    assert.equal(stat(obj, STAT_RING_DROPS), 0n);
    ring.close();
  } finally {
    obj.close();
  }
});

test('ring buffer: a reader continues where an earlier one on the same map stopped', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const early = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    const first = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    // Enough records for the ring to wrap, so a stale position would read overwritten bytes.
    for (let i = 0; i < 3; i++) {
      run(obj, 'ring_output', 80);
      assert.equal(first.readAvailable().length, 80);
    }
    first.close();
    run(obj, 'ring_output', 3);
    expectSeqs(early.readAvailable(), 240n, 3);
    const later = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    run(obj, 'ring_output', 2);
    expectSeqs(later.readAvailable(), 243n, 2);
    early.close();
    later.close();
  } finally {
    obj.close();
  }
});

test('ring buffer: discarded records are skipped and their space released', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const ring = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    run(obj, 'ring_reserve', 40, command(1, 'discard', DISCARD_ODD));
    // Discarded records keep their place until consumed.
    assert.equal(ring.pending(), 40 * (BPF_RINGBUF_HDR_SZ + EVENT_SIZE));
    const got = ring.readAvailable();
    expectSeqs(got, 0n, 20, 2n);
    assert.equal(ring.pending(), 0);
    // Only discards at the head: nothing to read, but the consumer position moves on.
    run(obj, 'ring_reserve', 1, command(1, 'discard', DISCARD_ODD)); // seq 40: kept
    run(obj, 'ring_reserve', 1, command(1, 'discard', DISCARD_ODD)); // seq 41: discarded
    expectSeqs(ring.readAvailable(), 40n, 1);
    run(obj, 'ring_reserve', 1, command(1, 'discard', DISCARD_ODD)); // 42 kept
    run(obj, 'ring_reserve', 1, command(1, 'discard', DISCARD_ODD)); // 43 discarded
    run(obj, 'ring_reserve', 1, command(1, 'discard', DISCARD_ODD)); // 44 kept
    expectSeqs(ring.readAvailable(), 42n, 2, 2n);
    run(obj, 'ring_reserve', 1, command(1, 'discard', DISCARD_ODD)); // 45 discarded
    assert.deepEqual(ring.readAvailable(), []);
    assert.equal(ring.pending(), 0);
    ring.close();
  } finally {
    obj.close();
  }
});

test('ring buffer: records of 1..64 bytes wrap around a 4 KiB ring many times', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const ring = RingBuffer.open(obj.map('ring'));
    const out: Uint8Array[] = [];
    // 50 records of at most 72 bytes each fit in the ring, so nothing is dropped between drains.
    for (let round = 0; round < 20; round++) {
      run(obj, 'ring_varlen', 50);
      out.push(...ring.readAvailable());
    }
    assert.equal(stat(obj, STAT_RING_DROPS), 0n);
    assert.equal(out.length, 1000);
    let pos = 0;
    let straddled = 0;
    out.forEach((rec, seq) => {
      assertVarlen(rec, seq);
      const start = (pos % RING_SIZE) + BPF_RINGBUF_HDR_SZ;
      if (start + rec.byteLength > RING_SIZE && start < RING_SIZE) straddled++;
      pos += (rec.byteLength + BPF_RINGBUF_HDR_SZ + 7) & ~7;
    });
    assert.ok(pos > 10 * RING_SIZE, `went round ${pos / RING_SIZE} times`);
    assert.ok(straddled > 0, 'some record data crossed the end of the ring');

    // A full ring: the helper fails and the program counts the drop; what fit comes out intact.
    run(obj, 'ring_output', 200);
    const fit = Math.floor(RING_SIZE / (BPF_RINGBUF_HDR_SZ + EVENT_SIZE));
    const got = ring.readAvailable().map(parseEvent);
    assert.equal(got.length, fit);
    assert.equal(stat(obj, STAT_RING_DROPS), BigInt(200 - fit));
    expectSeqs(got, 1000n, fit);
    ring.close();
  } finally {
    obj.close();
  }
});

/** ring_varlen's record `seq`: (seq % 64) + 1 bytes, byte i being (seq + i) & 0xff. */
function assertVarlen(rec: Uint8Array, seq: number): void {
  assert.equal(rec.byteLength, (seq % 64) + 1, `record ${seq} length`);
  for (let i = 0; i < rec.byteLength; i++) {
    if (rec[i] !== ((seq + i) & 0xff)) assert.fail(`record ${seq} byte ${i}: ${rec[i]}`);
  }
}

/** Resolves once `done()` holds, checked after each macrotask; rejects after `ms`. */
async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(1);
  }
}

test('ring buffer: onData copies survive the ring reusing their bytes; discards skipped; stop() inside the handler leaves the rest', async (t) => {
  const obj = load(t);
  if (!obj) return;
  const ring = RingBuffer.open(obj.map('ring'));
  t.after(() => {
    ring.close();
    obj.close();
  });
  // Every record kept: each must be a copy, since the ring goes round ten times under them.
  const kept: Uint8Array[] = [];
  let stop = ring.onData((r) => kept.push(r));
  for (let round = 1; round <= 20; round++) {
    run(obj, 'ring_varlen', 50);
    await until(() => kept.length === 50 * round, 5000, `round ${round}'s records`);
  }
  stop();
  assert.equal(stat(obj, STAT_RING_DROPS), 0n);
  kept.forEach((rec, seq) => {
    assertVarlen(rec, seq);
    assert.notEqual(rec.buffer, ring.mappings[1], `record ${seq} is a copy`);
  });

  // Discarded records (odd seqs) are skipped; stopping in the handler leaves what follows.
  // The programs share one sequence counter: these are seqs 1000..1009.
  run(obj, 'ring_reserve', 10, command(3, 'copies', DISCARD_ODD));
  const seqs: bigint[] = [];
  stop = ring.onData((r) => {
    seqs.push(parseEvent(r).seq);
    if (seqs.length === 2) stop();
  });
  await until(() => seqs.length === 2, 5000, 'two records');
  await sleep(20);
  assert.deepEqual(seqs, [1000n, 1002n]);
  // Three records consumed (a discarded one between the two kept), seven still in the ring.
  assert.equal(ring.pending(), 7 * (BPF_RINGBUF_HDR_SZ + EVENT_SIZE));
  stop = ring.onData((r) => seqs.push(parseEvent(r).seq));
  await until(() => seqs.length === 5, 5000, 'the rest');
  stop();
  assert.deepEqual(seqs, [1000n, 1002n, 1004n, 1006n, 1008n]);
  assert.equal(ring.pending(), 0);
});

test('ring buffer: onData records outlive the slabs recycled under them', async (t) => {
  const obj = load(t);
  if (!obj) return;
  const ring = RingBuffer.open(obj.map('ring'));
  t.after(() => {
    ring.close();
    obj.close();
  });
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  // Every 7th record kept, the rest dropped: collections between rounds send the slabs whose
  // records all died back to the pool, and later copies reuse their memory.
  const kept = new Map<number, Uint8Array>();
  let seq = 0;
  const stop = ring.onData((r) => {
    if (seq % 7 === 0) kept.set(seq, r);
    seq++;
  });
  for (let round = 1; round <= 60; round++) {
    run(obj, 'ring_varlen', 50);
    await until(() => seq === 50 * round, 5000, `round ${round}'s records`);
    if (round % 5 === 0) {
      gc();
      await sleep(1);
    }
  }
  stop();
  assert.equal(kept.size, Math.ceil(3000 / 7));
  for (const [s, rec] of kept) assertVarlen(rec, s);
});

test('ring buffer: a record shorter than the decoded type is an EbpfError; a wrong map is refused', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const ring = RingBuffer.open(obj.map('ring')).decodeWith(obj.spec.btf!, 'struct event');
    run(obj, 'ring_varlen', 1); // seq 0: 1 byte
    assert.throws(
      () => ring.readAvailable(),
      (e: unknown) => e instanceof EbpfError && /shorter/.test(e.message),
    );
    assert.throws(
      () => RingBuffer.open(obj.map('stats')),
      (e: unknown) => e instanceof EbpfError && /RINGBUF/.test(e.message),
    );
    assert.throws(
      () => PerfBuffer.open(obj.map('ring')),
      (e: unknown) => e instanceof EbpfError && /PERF_EVENT_ARRAY/.test(e.message),
    );
    assert.throws(() => ring.decodeWith(obj.spec.btf!, 'struct nonexistent'), NotFoundError);
    ring.close();
  } finally {
    obj.close();
  }
});

test('ring buffer: the async iterator sleeps in the event loop and wakes when a record comes', async (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const ring = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    // Closed however the test ends: a reader left polling the ring after obj.close() would hold
    // its descriptor number in the event loop and fail the next test's reader (EEXIST).
    t.after(() => ring.close());
    // A busy wait would spend the whole 300 ms on the CPU; GC and JIT on a CI machine can take
    // about 100 ms of it.
    const { it, next: first } = await waitsIdle(ring, 300, 150_000);

    setTimeout(() => run(obj, 'ring_output', 1, command(7, 'late')), 10);
    const r = await first;
    assert.deepEqual(r, { done: false, value: { pid: 7, seq: 0n, comm: 'late' } });
    assert.ok(ring.wakeups >= 1 && ring.wakeups <= 2, `${ring.wakeups} wakeups`);

    // for await over records produced one by one from timers; close() ends the loop.
    const seen: bigint[] = [];
    let n = 0;
    const timer = setInterval(() => {
      run(obj, 'ring_reserve', 1);
      if (++n === 5) clearInterval(timer);
    }, 15);
    for await (const e of ring) {
      seen.push(e.seq);
      if (seen.length === 5) setImmediate(() => ring.close());
    }
    assert.deepEqual(seen, [1n, 2n, 3n, 4n, 5n]);
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  } finally {
    obj.close();
  }
});

test('ring buffer: poll(timeout), onData handler, and two rings on one loop', async (t) => {
  const obj = load(t);
  if (!obj) return;
  const obj2 = loadObject(OBJECT);
  try {
    const a = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    const b = RingBuffer.open(obj2.map('ring')).decodeWith<Event>(obj2.spec.btf!, 'struct event');

    const t0 = Date.now();
    assert.deepEqual(await a.poll(120), []);
    assert.ok(Date.now() - t0 >= 110, 'poll waited for its timeout');

    setTimeout(() => run(obj2, 'ring_output', 3, command(2, 'second')), 30);
    setTimeout(() => run(obj, 'ring_output', 2, command(1, 'first')), 60);
    const [fromA, fromB] = await Promise.all([a.poll(5000), b.poll(5000)]);
    assert.deepEqual(
      fromA.map((e) => [e.pid, e.comm, e.seq]),
      [
        [1, 'first', 0n],
        [1, 'first', 1n],
      ],
    );
    assert.deepEqual(
      fromB.map((e) => [e.pid, e.comm]),
      [
        [2, 'second'],
        [2, 'second'],
        [2, 'second'],
      ],
    );

    // Handler mode: records already there and later ones, until stopped.
    run(obj, 'ring_output', 2);
    const got: bigint[] = [];
    let resolveAll!: () => void;
    const all = new Promise<void>((r) => (resolveAll = r));
    const stop = a.onData((e) => {
      got.push(e.seq);
      if (got.length === 6) resolveAll();
    });
    setTimeout(() => run(obj, 'ring_output', 4), 20);
    await all;
    stop();
    assert.deepEqual(got, [2n, 3n, 4n, 5n, 6n, 7n]);
    run(obj, 'ring_output', 1);
    await sleep(30);
    assert.equal(got.length, 6, 'no delivery after stop');
    expectSeqs(a.readAvailable(), 8n, 1);
    a.close();
    b.close();
  } finally {
    obj.close();
    obj2.close();
  }
});

test('concurrent producer: bpftool runs the program on another CPU while a handler reads', async (t) => {
  if (!needTool(t, 'bpftool') || !needRoot(t)) return;
  // A 1 MiB ring (the spec is editable before load), so most records are read while produced.
  const spec = loadObjectSpec(OBJECT);
  const ringSpec = spec.maps.find((m) => m.name === 'ring');
  assert.ok(ringSpec);
  ringSpec.maxEntries = 1 << 20;
  const obj = loadObject(spec);
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-events-'));
  const pin = `/sys/fs/bpf/ebpf_events_test_${process.pid}`;
  try {
    const ring = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    obj.program('ring_reserve').pin(pin);
    const packet = join(dir, 'packet');
    writeFileSync(packet, command(31337, 'concurrent'));
    const sent = 300_000;
    const producer = spawn(
      'bpftool',
      ['prog', 'run', 'pinned', pin, 'data_in', packet, 'repeat', String(sent)],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise<number | null>((resolve) => producer.on('exit', (code) => resolve(code)));
    let got = 0;
    let last = -1n;
    let bad = 0;
    const check = (e: Event): void => {
      if (e.pid !== 31337 || e.comm !== 'concurrent' || e.seq <= last) bad++;
      last = e.seq;
      got++;
    };
    const stop = ring.onData(check);
    const code = await exited;
    stop();
    const whileRunning = got;
    ring.readAvailable().forEach(check);
    assert.equal(code, 0, 'bpftool prog run succeeded');
    assert.ok(whileRunning > 0, 'records were handled while the producer ran');
    assert.equal(bad, 0, 'every record intact and in order');
    const drops = stat(obj, STAT_RING_DROPS);
    assert.equal(stat(obj, STAT_SEQ), BigInt(sent));
    assert.equal(BigInt(got) + drops, BigInt(sent), `${got} read, ${drops} dropped`);
    t.diagnostic(
      `${whileRunning} records handled while the producer ran, ${got} in all, ${drops} dropped by a full ring, ${ring.wakeups} wakeups`,
    );
    ring.close();
  } finally {
    rmSync(pin, { force: true });
    rmSync(dir, { recursive: true, force: true });
    obj.close();
  }
});

test('a waiting reader keeps the process alive unless unref()ed', async (t) => {
  if (!needRoot(t)) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-events-'));
  try {
    const script = join(dir, NODE_TS.length > 0 ? 'wait.ts' : 'wait.mjs');
    const src = (unref: boolean): string => `
      import { loadObject } from ${JSON.stringify(srcModule('src/loader/index'))};
      import { RingBuffer } from ${JSON.stringify(srcModule('src/events/index'))};
      const obj = loadObject(${JSON.stringify(OBJECT)});
      const ring = RingBuffer.open(obj.map('ring'));
      ${unref ? 'ring.unref();' : ''}
      void ring[Symbol.asyncIterator]().next();
      process.stdout.write('waiting');
    `;
    // Judged from when the child says it waits, not from its start: starting tsx on a busy
    // machine took over 4 s.
    for (const unref of [true, false]) {
      writeFileSync(script, src(unref));
      const child = spawn(process.execPath, [...NODE_TS, script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // (A guard against a hang only: a loaded host's emulated VM took over a minute to start it.)
      const deadline = Date.now() + 240_000;
      while (out !== 'waiting' && child.exitCode === null && Date.now() < deadline) await sleep(20);
      assert.equal(out, 'waiting', err);
      const gone = await Promise.race([
        exited.then(() => true),
        sleep(unref ? 10_000 : 1000).then(() => false),
      ]);
      if (unref) {
        assert.ok(gone, 'exited once nothing but the unref()ed reader was left');
        assert.equal(await exited, 0, err);
      } else {
        assert.equal(gone, false, 'still waiting a second after it said so');
        child.kill();
        await exited;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Samples in the order of their sequence numbers, after checking each CPU's are in order. */
function samples(records: PerfRecord<Event>[]): Event[] {
  const perCpu = new Map<number, bigint[]>();
  const out: Event[] = [];
  for (const r of records) {
    if (r.kind !== 'sample') continue;
    const l = perCpu.get(r.cpu) ?? [];
    l.push(r.data.seq);
    perCpu.set(r.cpu, l);
    out.push(r.data);
  }
  for (const [cpu, seqs] of perCpu) {
    assert.deepEqual(
      seqs,
      [...seqs].sort((x, y) => (x < y ? -1 : 1)),
      `cpu ${cpu} in order`,
    );
  }
  return out.sort((x, y) => (x.seq < y.seq ? -1 : 1));
}

test('perf buffer: N events in, N samples out with their CPU, raw and decoded', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 4 });
    assert.deepEqual(perf.cpus, readCpuList('online'));
    assert.equal(perf.size, 4 * 4096);
    run(obj, 'perf_output', 40);
    const raw = perf.readAvailable();
    assert.equal(raw.length, 40);
    for (const r of raw) {
      assert.equal(r.kind, 'sample');
      if (r.kind !== 'sample') continue;
      assert.ok(perf.cpus.includes(r.cpu));
      // perf pads raw data so that its u32 size and the data end on 8 bytes: 4 + 32 + 4.
      assert.equal(r.data.byteLength, 36);
      assert.deepEqual([...r.data.subarray(32)], [0, 0, 0, 0]);
    }
    const events = samples(raw.map((r) => (r.kind === 'sample' ? { ...r, data: parseEvent(r.data) } : r)));
    expectSeqs(events, 0n, 40);
    for (const e of events) assert.deepEqual([e.pid, e.comm], [process.pid, 'events-test']);

    const typed = perf.decodeWith<Event>(obj.spec.btf!, 'struct event');
    run(obj, 'perf_output', 300, command(99, 'perf'));
    const decoded: PerfRecord<Event>[] = typed.readAvailable();
    expectSeqs(samples(decoded), 40n, 300);
    assert.ok(samples(decoded).every((e) => e.pid === 99 && e.comm === 'perf'));
    assert.equal(stat(obj, STAT_PERF_DROPS), 0n);
    assert.equal(typed.lost, 0n);
    perf.close();
  } finally {
    obj.close();
  }
});

/** Runs `fn` with this thread pinned to `cpu` (BPF_PROG_TEST_RUN cannot choose the CPU of an XDP run). */
function onCpu<T>(cpu: number, fn: () => T): T {
  const pid = String(process.pid);
  const mask = /: ([0-9a-f]+)\s*$/.exec(execFileSync('taskset', ['-p', pid], { encoding: 'utf8' }))?.[1];
  assert.ok(mask !== undefined, 'taskset -p shows the affinity mask');
  execFileSync('taskset', ['-pc', String(cpu), pid], { stdio: 'ignore' });
  try {
    return fn();
  } finally {
    execFileSync('taskset', ['-p', mask, pid], { stdio: 'ignore' });
  }
}

test('perf buffer: an overflowing ring reports lost samples, as many as the helper failed', (t) => {
  if (!needTool(t, 'taskset')) return;
  const obj = load(t);
  if (!obj) return;
  try {
    const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 1 }).decodeWith<Event>(
      obj.spec.btf!,
      'struct event',
    );
    const cpu = perf.cpus[perf.cpus.length - 1]!;
    const records = onCpu(cpu, () => {
      // 48-byte records (8 header + 4 size + 36 data) in a 4 KiB ring: 85 fit, the rest are lost.
      run(obj, 'perf_output', 200);
      const first: PerfRecord<Event>[] = perf.readAvailable();
      assert.equal(first.length, Math.floor(4096 / 48));
      assert.equal(perf.lost, 0n, 'the loss is only written once there is room again');
      // The kernel writes PERF_RECORD_LOST ahead of the next sample that fits.
      run(obj, 'perf_output', 1);
      return [...first, ...perf.readAvailable()];
    });
    const drops = stat(obj, STAT_PERF_DROPS);
    assert.equal(drops, 200n - 85n);
    assert.deepEqual(
      records
        .slice(-2)
        .map((r) => (r.kind === 'lost' ? ['lost', r.cpu, r.lost] : ['sample', r.cpu, r.data.seq])),
      [
        ['lost', cpu, drops],
        ['sample', cpu, 200n],
      ],
    );
    assert.equal(perf.lost, drops, 'lost records add up to the helper failures');
    assert.deepEqual(
      samples(records).map((e) => e.seq),
      [...Array.from({ length: 85 }, (_, i) => BigInt(i)), 200n],
    );
    assert.ok(records.slice(0, 85).every((r) => r.kind === 'sample' && r.cpu === cpu));
    perf.close();
  } finally {
    obj.close();
  }
});

test('perf buffer: records wrap around the end of a one-page ring', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 1 }).decodeWith<Event>(
      obj.spec.btf!,
      'struct event',
    );
    const records: PerfRecord<Event>[] = [];
    // 4096 is no multiple of 48, so records keep straddling the end of the ring.
    for (let round = 0; round < 20; round++) {
      run(obj, 'perf_output', 50, command(round, `round ${round}`));
      records.push(...perf.readAvailable());
    }
    assert.equal(stat(obj, STAT_PERF_DROPS), 0n);
    const got = samples(records);
    expectSeqs(got, 0n, 1000);
    got.forEach((e, i) =>
      assert.deepEqual([e.pid, e.comm], [Math.floor(i / 50), `round ${Math.floor(i / 50)}`]),
    );
    perf.close();
  } finally {
    obj.close();
  }
});

test('perf buffer: the async iterator wakes through the event loop', async (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const perf = PerfBuffer.open(obj.map('perf')).decodeWith<Event>(obj.spec.btf!, 'struct event');
    t.after(() => perf.close());
    const { it, next } = await waitsIdle(perf, 200, 120_000);
    setTimeout(() => run(obj, 'perf_output', 1, command(5, 'wake')), 5);
    const r = await next;
    assert.equal(r.done, false);
    const rec = r.value as PerfRecord<Event>;
    assert.equal(rec.kind, 'sample');
    if (rec.kind === 'sample') assert.deepEqual(rec.data, { pid: 5, seq: 0n, comm: 'wake' });
    assert.ok(perf.wakeups >= 1);
    perf.close();
    assert.deepEqual(await it.next(), { done: true, value: undefined });
  } finally {
    obj.close();
  }
});

test('close() unmaps, removes the perf events from the map, leaks no descriptor, and is idempotent', async (t) => {
  if (!needRoot(t)) return;
  const before = openFds();
  const obj = loadObject(OBJECT);
  const loaded = openFds();
  assert.equal(loaded, before + 1 + 4 + 4, 'BTF, 3 maps and .bss, 4 programs');
  const ring = RingBuffer.open(obj.map('ring'));
  const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 2 });
  assert.equal(
    openFds(),
    loaded + perf.cpus.length + 2,
    'a perf event per CPU, and each reader its own descriptor for its map',
  );
  // Wait once so that pollers exist, then close while one is armed.
  const pending = ring.poll(10_000);
  await sleep(10);
  const maps = [...ring.mappings, ...perf.mappings];
  assert.ok(maps.every((m) => m.byteLength > 0));
  const ringLen = ring.mappings[1]!.byteLength;
  assert.equal(ringLen, 4096 + 2 * RING_SIZE, 'producer page and the data area twice');
  ring.close();
  assert.deepEqual(await pending, []);
  perf.close();
  assert.ok(
    maps.every((m) => m.byteLength === 0),
    'every mapping detached',
  );
  ring.close();
  perf[Symbol.dispose]();
  assert.throws(() => ring.readAvailable(), EbpfError);
  assert.equal(openFds(), loaded);
  // The map slots are empty again: the helper finds no event on this CPU and fails.
  run(obj, 'perf_output', 1);
  assert.equal(stat(obj, STAT_PERF_DROPS), 1n);
  obj.close();
  assert.equal(openFds(), before);
});

test('readers own their map descriptor: closing the object first leaves them working, and their poller holds no reused number', async (t) => {
  if (!needRoot(t)) return;
  const before = openFds();
  const obj = loadObject(OBJECT);
  const ring = RingBuffer.open(obj.map('ring'));
  const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 2 });
  t.after(() => {
    ring.close();
    perf.close();
    obj.close();
  });
  run(obj, 'ring_output', 2);
  // Armed (the poller registers the descriptor with the loop), then the object goes away.
  assert.equal(await ring.ready(0), true);
  const waiting = perf.poll(10_000);
  await sleep(10);
  obj.close();
  // Records written before are still there; the perf reader still waits on its own events.
  assert.equal(ring.readAvailable().length, 2);
  const idle = ring.poll(50);
  // A second object takes the descriptor numbers the first freed; its readers poll them.
  const obj2 = loadObject(OBJECT);
  t.after(() => obj2.close());
  const ring2 = RingBuffer.open(obj2.map('ring'));
  t.after(() => ring2.close());
  const next = ring2.poll(5000);
  run(obj2, 'ring_output', 1, command(9, 'second'));
  assert.equal(parseEvent((await next)[0]!).pid, 9);
  assert.deepEqual(await idle, []);
  // Closing the readers after their object: no error, and every descriptor is back.
  perf.close();
  assert.deepEqual(await waiting, []);
  ring.close();
  ring2.close();
  obj2.close();
  assert.equal(openFds(), before);
});

test('perf buffer: a sample written while the reader first registers with epoll is delivered', async (t) => {
  const obj = load(t);
  if (!obj) return;
  const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 2 });
  t.after(() => {
    perf.close();
    obj.close();
  });
  const send = (pid: number): void => run(obj, 'perf_output', 1, command(pid, 'edge'));
  // From an I/O callback (the loop's poll phase), the handler's first delivery runs before libuv
  // registers the perf event with epoll. A sample written after that delivery (from a microtask,
  // so not read by the same drain) is seen by the registration's poll, which clears the event's
  // wakeup flag: epoll then reports nothing for it, and the reader must find it by looking once
  // the registration is done (without that look, it stayed unread until the next sample).
  const pids: number[] = [];
  const got = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${pids.join(',')} after 3 s`)), 3000);
    readFile(OBJECT, () => {
      perf.onData((r) => {
        if (r.kind !== 'sample') return;
        pids.push(parseEvent(r.data).pid);
        if (pids.length === 1) queueMicrotask(() => send(2));
        if (pids.length === 2) {
          clearTimeout(timer);
          resolve();
        }
      });
      send(1);
    });
  });
  await got;
  assert.deepEqual(pids, [1, 2]);
});

test('waits take an AbortSignal and a deadline: poll, ready, records()', async (t) => {
  const obj = load(t);
  if (!obj) return;
  const ring = RingBuffer.open(obj.map('ring')).decodeWith<Event>(obj.spec.btf!, 'struct event');
  t.after(() => {
    ring.close();
    obj.close();
  });
  const isAbort = (e: unknown): boolean => e instanceof Error && e.name === 'AbortError';
  // Aborted while waiting: rejects with the signal's reason, and the reader keeps working.
  const ac = new AbortController();
  const waiting = ring.poll({ signal: ac.signal });
  setTimeout(() => ac.abort(), 20);
  await assert.rejects(waiting, isAbort);
  await assert.rejects(ring.ready({ signal: AbortSignal.abort() }), isAbort);
  // A deadline ends a wait quietly.
  const t0 = Date.now();
  assert.equal(await ring.ready({ deadline: t0 + 50 }), false);
  assert.deepEqual(await ring.poll({ timeoutMs: 30 }), []);
  assert.ok(Date.now() - t0 >= 75, 'each wait lasted until its deadline');
  // records(): yields what comes, ends at its deadline...
  run(obj, 'ring_output', 2);
  const seen: bigint[] = [];
  for await (const e of ring.records({ timeoutMs: 100 })) seen.push(e.seq);
  assert.deepEqual(seen, [0n, 1n]);
  // ...and throws once its signal aborts, records read until then kept.
  const stop = new AbortController();
  const timer = setInterval(() => run(obj, 'ring_output', 1), 10);
  t.after(() => clearInterval(timer));
  const more: bigint[] = [];
  await assert.rejects(async () => {
    for await (const e of ring.records({ signal: stop.signal })) {
      more.push(e.seq);
      if (more.length === 3) stop.abort();
    }
  }, isAbort);
  clearInterval(timer);
  assert.deepEqual(more, [2n, 3n, 4n]);
  // The reader reads on after the aborted iteration.
  const rest = ring.readAvailable().length;
  run(obj, 'ring_output', 1);
  assert.deepEqual(
    (await ring.poll(1000)).map((e) => e.seq),
    [BigInt(5 + rest)],
  );
});

test('RingBuffers: two rings behind one epoll descriptor, a callback each, raw and decoded', async (t) => {
  const obj = load(t);
  if (!obj) return;
  const obj2 = loadObject(OBJECT);
  const before = openFds();
  const raw: number[] = [];
  const decoded: Event[] = [];
  const set = new RingBuffers()
    .add(obj.map('ring'), (view, offset, length) => {
      assert.equal(length, EVENT_SIZE);
      raw.push(view.getUint32(offset, true));
    })
    .add(obj2.map('ring'), obj2.codec('struct event'), (e) => decoded.push(e as Event));
  t.after(() => {
    set.close();
    obj.close();
    obj2.close();
  });
  assert.equal(openFds(), before + 2, 'a descriptor per ring (the epoll one is not a bpf descriptor)');
  assert.equal(set.rings.length, 2);
  // One descriptor to wait on: readable once either ring has a record.
  const t0 = Date.now();
  assert.equal(await set.poll(60), 0);
  assert.ok(Date.now() - t0 >= 50);
  setTimeout(() => run(obj2, 'ring_output', 2, command(22, 'two')), 20);
  assert.equal(await set.poll(5000), 2);
  assert.deepEqual(
    decoded.map((e) => [e.pid, e.comm, e.seq]),
    [
      [22, 'two', 0n],
      [22, 'two', 1n],
    ],
  );
  run(obj, 'ring_output', 3, command(11, 'one'));
  run(obj2, 'ring_output', 1, command(22, 'two'));
  assert.equal(set.consume(), 4);
  assert.deepEqual(raw, [11, 11, 11]);
  // Handler mode through the event loop, and an aborted poll.
  const stop = set.start();
  const seen = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (raw.length === 5) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });
  run(obj, 'ring_output', 2, command(11, 'one'));
  await seen;
  stop();
  await assert.rejects(
    set.poll({ signal: AbortSignal.timeout(20) }),
    (e: Error) => e.name === 'TimeoutError',
  );
  set.close();
  assert.equal(openFds(), before);
  assert.equal(await set.poll(10), 0);
});

test('perf_event_mmap_page offsets are those of the running kernel', (t) => {
  if (!needFile(t, VMLINUX)) return;
  const btf = loadKernelBtf();
  const page = btf.findOne('perf_event_mmap_page', 'STRUCT');
  assert.ok(page.kind === 'STRUCT');
  const offsets = Object.fromEntries(page.members.map((m) => [m.name, m.bitsOffset / 8]));
  for (const [name, off] of Object.entries(PERF_EVENT_MMAP_PAGE)) assert.equal(offsets[name], off, name);
});

test('ring buffer: consume() hands out the ring’s own bytes, skips discards, and stores the position per batch', (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const ring = RingBuffer.open(obj.map('ring'));
    run(obj, 'ring_reserve', 10, command(3, 'consume', DISCARD_ODD)); // seqs 0..9, odd ones discarded
    const seen: { seq: bigint; zeroCopy: boolean; length: number }[] = [];
    const fn = (view: DataView, offset: number, length: number): void => {
      seen.push({
        seq: view.getBigUint64(offset + 8, true),
        zeroCopy: view.buffer === ring.mappings[1],
        length,
      });
    };
    assert.equal(ring.consume(fn, 2), 2);
    // Two kept records and the discarded one between them: 3 records' space released.
    assert.equal(ring.pending(), 7 * (BPF_RINGBUF_HDR_SZ + EVENT_SIZE));
    assert.equal(ring.consume(fn), 3);
    assert.equal(ring.pending(), 0);
    assert.deepEqual(
      seen.map((s) => s.seq),
      [0n, 2n, 4n, 6n, 8n],
    );
    assert.ok(seen.every((s) => s.zeroCopy && s.length === EVENT_SIZE));
    assert.equal(ring.consume(fn), 0);

    // A callback that throws: its record and those before it are consumed, the rest stay.
    run(obj, 'ring_output', 4);
    let calls = 0;
    assert.throws(
      () =>
        ring.consume(() => {
          if (++calls === 2) throw new Error('handler failed');
        }),
      /handler failed/,
    );
    assert.equal(ring.pending(), 2 * (BPF_RINGBUF_HDR_SZ + EVENT_SIZE));
    assert.deepEqual(
      ring
        .readAvailable()
        .map(parseEvent)
        .map((e) => e.seq),
      [12n, 13n],
    );
    ring.close();
    assert.throws(() => ring.consume(fn), EbpfError);
  } finally {
    obj.close();
  }
});

test('ring buffer: ready() resolves once records are there, without reading them', async (t) => {
  const obj = load(t);
  if (!obj) return;
  try {
    const ring = RingBuffer.open(obj.map('ring'));
    assert.equal(await ring.ready(50), false, 'times out on an empty ring');
    setTimeout(() => run(obj, 'ring_output', 2), 20);
    assert.equal(await ring.ready(5000), true);
    assert.equal(ring.pending(), 2 * (BPF_RINGBUF_HDR_SZ + EVENT_SIZE), 'nothing read');
    assert.equal(await ring.ready(0), true);
    assert.equal(
      ring.consume(() => {}),
      2,
    );
    const pending = ring.ready();
    ring.close();
    assert.equal(await pending, false, 'close ends a wait');
  } finally {
    obj.close();
  }
});

test('perf buffer: consume() reads samples per CPU, joins those that wrap, reports losses', (t) => {
  if (!needTool(t, 'taskset')) return;
  const obj = load(t);
  if (!obj) return;
  try {
    const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 1 });
    const cpu = perf.cpus[perf.cpus.length - 1]!;
    const seqs: bigint[] = [];
    const lostReports: [number, bigint][] = [];
    const fn = (view: DataView, offset: number, length: number, c: number): void => {
      assert.equal(c, cpu);
      assert.equal(length, 36, 'raw size with perf padding');
      seqs.push(view.getBigUint64(offset + 8, true));
    };
    onCpu(cpu, () => {
      // 48-byte records: a 4 KiB ring holds 85, and 4096 is no multiple of 48, so they wrap.
      for (let round = 0; round < 5; round++) {
        run(obj, 'perf_output', 60);
        assert.equal(perf.consume(fn), 60);
      }
      run(obj, 'perf_output', 100); // 15 lost
      assert.equal(
        perf.consume(fn, Infinity, (c, n) => lostReports.push([c, n])),
        85,
      );
      run(obj, 'perf_output', 1); // the loss is written ahead of this one
      assert.equal(
        perf.consume(fn, Infinity, (c, n) => lostReports.push([c, n])),
        1,
      );
    });
    assert.deepEqual(
      seqs,
      Array.from({ length: 386 }, (_, i) => BigInt(i < 385 ? i : 400)),
    );
    assert.deepEqual(lostReports, [[cpu, 15n]]);
    assert.equal(perf.lost, 15n);
    perf.close();
  } finally {
    obj.close();
  }
});

test("perf buffer: consume() takes `max` at a time across the ring's end; a throwing or stopping callback ends the batch after its sample", async (t) => {
  if (!needTool(t, 'taskset')) return;
  const obj = load(t);
  if (!obj) return;
  try {
    const perf = PerfBuffer.open(obj.map('perf'), { pagesPerCpu: 1 });
    const cpu = perf.cpus[perf.cpus.length - 1]!;
    const seqs: number[] = [];
    const fn = (view: DataView, offset: number, length: number, c: number): void => {
      assert.equal(c, cpu);
      assert.equal(length, 36);
      seqs.push(Number(view.getBigUint64(offset + 8, true)));
    };
    const expect = (from: number, count: number): void =>
      assert.deepEqual(
        seqs.splice(0),
        Array.from({ length: count }, (_, i) => from + i),
      );
    onCpu(cpu, () => {
      run(obj, 'perf_output', 10);
      assert.equal(perf.consume(fn, 2), 2);
      assert.equal(perf.consume(fn, 3.5), 3);
      assert.equal(perf.consume(fn, 0), 0);
      assert.equal(perf.consume(fn), 5);
      expect(0, 10);
      // 48-byte records in a 4 KiB ring: batches of 7 keep starting and ending next to its end.
      for (let round = 0; round < 6; round++) {
        run(obj, 'perf_output', 80);
        let n = 0;
        for (let got = perf.consume(fn, 7); got > 0; got = perf.consume(fn, 7)) {
          assert.ok(got <= 7);
          n += got;
        }
        assert.equal(n, 80);
      }
      expect(10, 480);
      run(obj, 'perf_output', 6);
      assert.throws(
        () =>
          perf.consume((v, o, l, c) => {
            fn(v, o, l, c);
            if (seqs.length === 2) throw new Error('from fn');
          }),
        /from fn/,
      );
      expect(490, 2);
    });
    // onView: a callback that stops the handler gets no further sample; the rest stay.
    await new Promise<void>((resolve) => {
      const stop = perf.onView((v, o, l, c) => {
        fn(v, o, l, c);
        if (seqs.length === 2) {
          stop();
          resolve();
        }
      });
    });
    await sleep(20);
    expect(492, 2);
    assert.equal(perf.consume(fn), 2);
    expect(494, 2);
    assert.equal(stat(obj, STAT_PERF_DROPS), 0n);
    perf.close();
  } finally {
    obj.close();
  }
});
