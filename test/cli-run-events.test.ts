// `ebpf run` streams ring buffer and perf buffer records while it runs: testdata/exec_events.c's
// tracepoint program sends a struct event for every exec, and the test execs a copy of
// /bin/true under a name of its own while the CLI runs; those records must come out decoded
// (type found from the size the program reserves, or named by --record), one line each.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/** Runs `ebpf run` with `args` while exec'ing `marker` every 100 ms; its stdout and status. */
async function runWhileExecing(
  args: string[],
  marker: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setInterval(() => spawn(marker, [], { stdio: 'ignore' }), 100);
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(timer);
  clearTimeout(kill);
  return { status, stdout, stderr };
}

function marker(t: TestContext): { path: string; comm: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-run-events-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const comm = `evt${process.pid}`.slice(0, 15);
  const path = join(dir, comm);
  copyFileSync('/bin/true', path);
  return { path, comm };
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
