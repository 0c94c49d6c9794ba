// perf_event programs on a software event (context switches, every one a sample) opened on each
// online CPU: the program's count per CPU equals each perf event's own counter once the events are
// disabled (within one switch per CPU, see below); closed, the program runs no more. And a process-only event (pid filter).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { attachPerfEvent, PerfSwEvent } from '../src/link/perf-event.js';
import { loadObject } from '../src/loader/index.js';
import { readCpuList } from '../src/sys/cpus.js';
import { needRoot, TESTDATA } from './helpers.js';

const PERF_O = join(TESTDATA, 'perf_event-el.o');
const samples = (bss: unknown): bigint[] =>
  Array.from((bss as { samples: ArrayLike<bigint> }).samples, BigInt);

test('perf_event on context switches of every CPU: samples per CPU equal the event counters', (t) => {
  if (!needRoot(t)) return;
  using obj = loadObject(PERF_O);
  const a = attachPerfEvent(obj.program('on_sample'), {
    config: PerfSwEvent.CONTEXT_SWITCHES,
    samplePeriod: 1n,
  });
  try {
    assert.deepEqual(a.cpus, readCpuList('online'));
    for (let i = 0; i < 5; i++) spawnSync('true');
    a.disable();
    const counts = a.counts();
    const got = samples(obj.bss);
    assert.ok(counts.reduce((x, y) => x + y, 0n) > 0n, 'context switches happened');
    // Exact on a quiet machine. The kernel skips the program, counting no miss, for a switch that
    // happens while bpf_prog_active is held on that CPU, which another process's bpf() map update
    // does with preemption allowed; with other BPF users running here a few per CPU go unsampled.
    // Never more samples than switches, and never more than a few missing.
    a.cpus.forEach((cpu, i) => {
      const d = counts[i]! - got[cpu]!;
      assert.ok(
        d >= 0n && d <= 3n + counts[i]! / 100n,
        `cpu ${cpu}: ${got[cpu]} samples, counter ${counts[i]}`,
      );
    });
  } finally {
    a.close();
  }
  const after = samples(obj.bss);
  spawnSync('true');
  assert.deepEqual(samples(obj.bss), after, 'closed: no more samples');
});

test('perf_event for one process: its own task clock, sampled', (t) => {
  if (!needRoot(t)) return;
  using obj = loadObject(PERF_O);
  using a = attachPerfEvent(obj.program('on_sample'), {
    config: PerfSwEvent.TASK_CLOCK,
    samplePeriod: 1_000_000n, // every millisecond of this process's CPU time
    pid: process.pid,
  });
  assert.deepEqual(a.cpus, [-1]);
  const start = process.cpuUsage();
  while (process.cpuUsage(start).user < 50_000) Math.sqrt(Math.random());
  a.disable();
  const [ns] = a.counts();
  const total = samples(obj.bss).reduce((x, y) => x + y, 0n);
  // One sample per full millisecond counted (the last partial period gives none); the hrtimer
  // behind task-clock may fire a period late at the disable, as with the switches above.
  const periods = ns! / 1_000_000n;
  assert.ok(total === periods || total === periods - 1n, `${total} samples for ${ns} ns`);
  assert.ok(total >= 40n);
});
