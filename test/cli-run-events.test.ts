// `ebpf run` streams ring buffer and perf buffer records while it runs: testdata/exec_events.c's
// tracepoint program sends a struct event through a ring buffer for every exec, and
// testdata/exec_perf.c's a struct exec_sample through a perf event array; the test execs copies
// of /bin/true under names of its own while the CLI runs, and those records must come out decoded
// (type found from the size the program sends, or named by --record), one line each; the perf
// tests count exactly: one sample per exec once the stream is live, each with its CPU, and every
// sample the program sent streamed by the time the CLI exits.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { recordSizes, recordType } from '../src/events/record-type.js';
import { loadObjectSpec } from '../src/object/index.js';
import { cli, needFile, needRoot, ROOT, TESTDATA } from './helpers.js';

const EXEC_EVENTS = join(TESTDATA, 'exec_events-el.o');

test('record types: the size each map is sent, and the one struct of that size', () => {
  for (const o of ['events-el.o', 'events-eb.o']) {
    const spec = loadObjectSpec(join(TESTDATA, o));
    // ring_output_var sends a length it computes: only the constant sizes count.
    assert.deepEqual(
      recordSizes(spec),
      new Map([
        ['ring', new Set([32])],
        ['perf', new Set([32])],
      ]),
    );
    assert.deepEqual(
      [recordType(spec, 'ring'), recordType(spec, 'perf')].map((r) => r.typeId !== undefined && r.name),
      ['struct event', 'struct event'],
    );
    assert.equal(recordType(spec, 'stats').typeId, undefined);
  }
  const exec = recordType(loadObjectSpec(EXEC_EVENTS), 'events');
  assert.equal(exec.typeId !== undefined && `${exec.name} ${exec.size}`, 'struct event 92');
  // Records of several sizes have no one type.
  assert.deepEqual(recordType(loadObjectSpec(join(TESTDATA, 'event_load-el.o')), 'ring'), {
    sizes: [16, 128, 1024],
    candidates: [],
  });
});

/** `ebpf run ARGS` from the checkout, its stdout and stderr gathered as they come. */
function spawnRun(args: string[]): { child: ChildProcess; out: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  return { child, out };
}

/** A copy of /bin/true named `<prefix><pid>` (a comm the BPF side can match) in `dir`. */
function execMarker(dir: string, prefix: string): { path: string; comm: string } {
  const comm = `${prefix}${process.pid}`.slice(0, 15);
  const path = join(dir, comm);
  copyFileSync('/bin/true', path);
  return { path, comm };
}

/** Runs `ebpf run` with `args` while exec'ing `marker` every 100 ms; its stdout and status. */
async function runWhileExecing(
  args: string[],
  marker: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const { child, out } = spawnRun(args);
  const timer = setInterval(() => spawn(marker, [], { stdio: 'ignore' }), 100);
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(timer);
  clearTimeout(kill);
  return { status, ...out };
}

function marker(t: TestContext): { path: string; comm: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-run-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return execMarker(dir, 'evt');
}

test('ebpf run --json: a JSON line per ring buffer record, decoded as the type the program reserves', async (t) => {
  if (!needRoot(t) || !needFile(t, '/sys/kernel/tracing/events/sched/sched_process_exec')) return;
  const m = marker(t);
  const r = await runWhileExecing([EXEC_EVENTS, '--seconds', '4', '--json'], m.path);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const summary = lines.pop()!;
  assert.deepEqual(summary.streams, [
    {
      map: 'events',
      kind: 'ringbuf',
      type: 'struct event',
      how: 'the 92-byte records its programs send',
    },
  ]);
  assert.deepEqual((summary.maps as Record<string, unknown>).events, {
    type: 'ringbuf',
    note: 'records streamed',
  });
  assert.ok(lines.length > 0 && lines.every((l) => l.map === 'events' && 'record' in l));
  const mine = lines
    .map((l) => l.record as { pid: number; ppid: number; uid: number; comm: string; filename: string })
    .filter((e) => e.ppid === process.pid);
  assert.ok(mine.length >= 3, `${mine.length} of our execs seen in ${lines.length} records`);
  for (const e of mine) {
    assert.deepEqual(
      { comm: e.comm, filename: e.filename, uid: e.uid },
      { comm: m.comm, filename: m.path, uid: 0 },
    );
    assert.ok(e.pid > 0);
  }
  assert.equal(new Set(mine.map((e) => e.pid)).size, mine.length, 'each exec once');
});

test('ebpf run: --record names the type; text lines; bad --record values are usage errors', async (t) => {
  if (!needRoot(t) || !needFile(t, '/sys/kernel/tracing/events/sched/sched_process_exec')) return;
  const m = marker(t);
  const r = await runWhileExecing(
    [EXEC_EVENTS, '--seconds', '3', '--interval', '10', '--record', 'events=struct event'],
    m.path,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /map 'events' \(ringbuf\): streaming records as struct event \(--record\)/);
  assert.match(
    r.stdout,
    new RegExp(
      `^events: \\{ pid: \\d+, ppid: ${process.pid}, uid: 0, comm: '${m.comm}', filename: '${m.path}' \\}$`,
      'm',
    ),
  );

  const badForm = cli(['run', EXEC_EVENTS, '--record', 'events', '--seconds', '1']);
  assert.equal(badForm.status, 2);
  assert.match(badForm.stderr, /--record wants MAP=TYPE/);
  const noMap = cli(['run', EXEC_EVENTS, '--record', 'nosuch=struct event', '--seconds', '1']);
  assert.equal(noMap.status, 2);
  assert.match(noMap.stderr, /no ring buffer or perf buffer map 'nosuch'/);
  const noType = cli(['run', EXEC_EVENTS, '--record', 'events=struct nosuch', '--seconds', '1']);
  assert.equal(noType.status, 1);
  assert.match(noType.stderr, /struct nosuch/);
});

const EXEC_PERF = join(TESTDATA, 'exec_perf-el.o');

interface Streamed {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `ebpf run` with `args` until stopped: execs `warm` every 100 ms until `seen(stdout, warm's
 * comm)` says the stream is live, then `counted` exactly `n` times one after another, waits for
 * its n records, a moment more for any extra, and stops the CLI with SIGINT (a clean exit).
 */
async function streamExactly(
  args: string[],
  warm: { path: string; comm: string },
  counted: { path: string; comm: string },
  n: number,
  seen: (stdout: string, comm: string) => number,
): Promise<Streamed> {
  const { child, out } = spawnRun(args);
  let done = false;
  const closed = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const kill = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const exec = (path: string): Promise<unknown> =>
    new Promise((resolve) => spawn(path, [], { stdio: 'ignore' }).on('close', resolve));
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  try {
    while (seen(out.stdout, warm.comm) === 0 && !done) {
      await exec(warm.path);
      await sleep(100);
    }
    for (let i = 0; i < n; i++) await exec(counted.path);
    for (let waited = 0; seen(out.stdout, counted.comm) < n && waited < 10_000; waited += 50) await sleep(50);
    await sleep(300);
    child.kill('SIGINT');
    return { status: await closed, ...out };
  } finally {
    clearTimeout(kill);
  }
}

function markers(t: TestContext): {
  warm: { path: string; comm: string };
  counted: { path: string; comm: string };
} {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-run-perf-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { warm: execMarker(dir, 'pw'), counted: execMarker(dir, 'pc') };
}

test('ebpf run --json: a JSON line per perf buffer sample with its CPU, decoded through BTF, exactly one per exec', async (t) => {
  if (!needRoot(t) || !needFile(t, '/sys/kernel/tracing/events/sched/sched_process_exec')) return;
  const { warm, counted } = markers(t);
  const n = 5;
  const parse = (stdout: string): Record<string, unknown>[] =>
    stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const ofComm = (stdout: string, comm: string): number =>
    parse(stdout).filter((l) => (l.record as { comm?: string } | undefined)?.comm === comm).length;
  const r = await streamExactly([EXEC_PERF, '--json'], warm, counted, n, ofComm);
  assert.equal(r.status, 0, r.stderr);
  const lines = parse(r.stdout);
  const summary = lines.pop()!;
  assert.deepEqual(summary.streams, [
    {
      map: 'samples',
      kind: 'perf_event_array',
      type: 'struct exec_sample',
      how: 'the 96-byte records its programs send',
    },
  ]);
  assert.ok(
    lines.every((l) => l.map === 'samples' && 'record' in l && !('lost' in l)),
    r.stdout,
  );
  const cpus = availableParallelism();
  const mine = lines
    .filter((l) => (l.record as { comm: string }).comm === counted.comm)
    .map((l) => ({
      cpu: l.cpu as number,
      ...(l.record as { pid: number; ppid: number; seq: string; filename: string }),
    }));
  assert.equal(mine.length, n, `${mine.length} samples of our ${n} execs`);
  for (const s of mine) {
    assert.deepEqual({ ppid: s.ppid, filename: s.filename }, { ppid: process.pid, filename: counted.path });
    assert.ok(Number.isInteger(s.cpu) && s.cpu >= 0 && s.cpu < cpus, `cpu ${s.cpu}`);
  }
  assert.equal(new Set(mine.map((s) => s.pid)).size, n, 'each exec once');
  // seq numbers every sample the program sent; ours are among them in exec order.
  const seqs = mine.map((s) => Number(s.seq));
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
  );
  const all = lines.map((l) => Number((l.record as { seq: string }).seq));
  assert.equal(new Set(all).size, all.length, 'no sample twice');
  // Readers open before the program attaches and drain after it detaches: every sample sent is here.
  const sent = Number((summary.globals as Record<string, { sent: string }>)['.bss']!.sent);
  assert.deepEqual(
    [...all].sort((a, b) => a - b),
    Array.from({ length: sent }, (_, i) => i + 1),
  );
});

test('ebpf run: a text line per perf buffer sample, "MAP cpu N: { ... }", exactly one per exec', async (t) => {
  if (!needRoot(t) || !needFile(t, '/sys/kernel/tracing/events/sched/sched_process_exec')) return;
  const { warm, counted } = markers(t);
  const n = 4;
  const line = (comm: string): RegExp =>
    new RegExp(
      `^samples cpu \\d+: \\{ pid: \\d+, ppid: ${process.pid}, seq: \\d+n?, comm: '${comm}', filename: '[^']*${comm}' \\}$`,
      'gm',
    );
  const ofComm = (stdout: string, comm: string): number => (stdout.match(line(comm)) ?? []).length;
  const r = await streamExactly([EXEC_PERF, '--interval', '30'], warm, counted, n, ofComm);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /map 'samples' \(perf_event_array\): streaming records as struct exec_sample \(the 96-byte records its programs send\)/,
  );
  assert.equal(ofComm(r.stdout, counted.comm), n, r.stdout);
  assert.match(r.stdout, /detached and closed\n$/);
});
