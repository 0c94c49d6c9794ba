// Crash-safe pinning (src/loader/pin-set.ts): a child process loading an object with pins is
// SIGKILLed at every step of the pin protocol in turn (a step hook), and at random moments of the
// whole load (a timer), 200 times. After each kill the pins are none or the complete set, except
// while the child's committed journal is there to finish them; the next load settles the journal
// (completing or removing the set) and succeeds, reusing the pinned-by-name maps when complete.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { loadObject, loaderFeatures, type TraceEvent } from '../src/loader/index.js';
import { recoverPins } from '../src/loader/pin-set.js';
import { BPFFS_ROOT, onBpffs } from '../src/sys/bpffs.js';
import { bundleScript } from './bundle.js';
import { BY_NAME, crashOptions, crashSpec } from './pin-crash-object.js';
import { bpfDescriptors, need, needRoot, TESTDATA } from './helpers.js';

const TRIES = 200;
const OBJECT = join(TESTDATA, 'events-el.o');

/** Every pin under `root`, as paths relative to it, sorted (directories left out). */
function pinsUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  if (existsSync(root)) walk(root);
  return out.sort();
}

/** The journals (ebpf_pending_<pid>_...) process `pid` left at the mount root. */
function journalsOf(pid: number): string[] {
  return readdirSync(BPFFS_ROOT)
    .filter((n) => n.startsWith(`ebpf_pending_${pid}_`))
    .map((n) => join(BPFFS_ROOT, n));
}

test(`SIGKILL at any point of a pinning load leaves no partial pin set (${TRIES} tries)`, (t) => {
  if (!needRoot(t)) return;
  if (!need(t, onBpffs(BPFFS_ROOT), `no bpffs at ${BPFFS_ROOT}`)) return;
  const child = bundleScript('test/pin-crash-child.ts');
  const root = join(BPFFS_ROOT, `ebpf_test_${process.pid}_crash`);
  const opts = crashOptions(root);
  const features = JSON.stringify(loaderFeatures());
  const spawnChild = (killAt: number, timeout?: number): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [child, OBJECT, root, String(killAt), features], {
      encoding: 'utf8',
      timeout: timeout ?? 60_000,
      killSignal: 'SIGKILL',
    });
  const clear = (): void => {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root);
  };
  const fds = bpfDescriptors().length;
  try {
    clear();
    // A whole run: the steps the protocol takes, and the complete set it leaves.
    const full = spawnChild(0);
    assert.equal(full.status, 0, String(full.stderr));
    const steps = (JSON.parse(String(full.stdout)) as { steps: string[] }).steps;
    const complete = pinsUnder(root);
    assert.ok(steps.includes('commit') && steps.length > 20, steps.join(' '));
    assert.equal(complete.length, 8, complete.join(' ')); // 2 by name + 2 pinMaps + 4 programs
    const outcomes = { none: 0, complete: 0, committedPartial: 0, timed: 0 };
    const killedAt = new Set<string>();
    let hooked = 0;
    for (let i = 0; i < TRIES; i++) {
      clear();
      // Every fifth try a kill at a random time; the others at each step in turn, then at random steps.
      const timed = i % 5 === 4;
      const killAt = timed
        ? 0
        : hooked < steps.length
          ? ++hooked
          : 1 + Math.floor(Math.random() * steps.length);
      const r = spawnChild(killAt, timed ? 150 + Math.floor(Math.random() * 700) : undefined);
      const what = timed
        ? `try ${i} (killed after ${r.error ? 'a timeout' : 'finishing'})`
        : `try ${i} (step ${killAt} '${steps[killAt - 1]}')`;
      if (!timed) {
        assert.equal(r.signal, 'SIGKILL', `${what}: ${String(r.stderr)}`);
        killedAt.add(steps[killAt - 1]!);
      } else {
        outcomes.timed++;
        assert.ok(r.signal === 'SIGKILL' || r.status === 0, `${what}: ${String(r.stderr)}`);
      }
      const left = pinsUnder(root);
      const journals = journalsOf(r.pid!);
      const committed = journals.some((j) => existsSync(join(j, 'committed')));
      if (left.length === 0) outcomes.none++;
      else if (left.join() === complete.join()) outcomes.complete++;
      else {
        // Partial only while the journal that completes it is there.
        assert.ok(committed, `${what}: partial pin set with no committed journal: ${left.join(' ')}`);
        assert.ok(
          left.every((p) => complete.includes(p)),
          `${what}: pins outside the set: ${left.join(' ')}`,
        );
        outcomes.committedPartial++;
      }
      // The next load settles the journal first; what it leaves is none or the complete set.
      // (A load running elsewhere at the same time may settle it first, and this one may settle
      // other dead loads' journals too.)
      for (const s of recoverPins(root)) {
        if (journals.includes(s.journal)) assert.equal(s.action, committed ? 'completed' : 'removed', what);
      }
      assert.deepEqual(journalsOf(r.pid!), [], `${what}: journal left after recovery`);
      const after = pinsUnder(root);
      assert.ok(
        after.length === 0 || after.join() === complete.join(),
        `${what}: after recovery: ${after.join(' ') || '(none)'}`,
      );
      // The next load with the same pins: as after any completed load, the pinDir/pinMaps pins
      // are removed first (loading over them is EEXIST, as in bpftool); pinned-by-name maps stay
      // and are reused.
      if (after.length > 0) {
        rmSync(opts.pinDir!, { recursive: true });
        rmSync(opts.pinMaps!, { recursive: true });
      }
      const events: TraceEvent[] = [];
      const obj = loadObject(crashSpec(OBJECT), { ...opts, trace: (e) => events.push(e) });
      try {
        const reused = events
          .filter((e) => e.kind === 'map' && e.how === 'reused')
          .map((e) => (e as { name: string }).name);
        assert.deepEqual(reused.sort(), after.length > 0 ? BY_NAME : [], `${what}: maps reused`);
        assert.deepEqual(pinsUnder(root), complete, `${what}: the next load's pins`);
      } finally {
        obj.close();
      }
    }
    for (const s of steps) assert.ok(killedAt.has(s), `never killed before step '${s}'`);
    t.diagnostic(`${TRIES} kills over ${steps.length} steps: ${JSON.stringify(outcomes)}`);
    assert.ok(
      outcomes.none > 0 && outcomes.complete > 0 && outcomes.committedPartial > 0,
      JSON.stringify(outcomes),
    );
    assert.equal(bpfDescriptors().length, fds, 'descriptors leaked');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the journal of a dead load, made after a scan that found none, is settled by the next scan', async (t) => {
  if (!needRoot(t)) return;
  if (!need(t, onBpffs(BPFFS_ROOT), `no bpffs at ${BPFFS_ROOT}`)) return;
  const dir = join(BPFFS_ROOT, `ebpf_test_${process.pid}_rescan`);
  // No process has a pid above pid_max (at most 2^22): the journal's owner is dead.
  const journal = join(BPFFS_ROOT, `ebpf_pending_${2 ** 22 + process.pid}_1_${'0'.repeat(12)}`);
  mkdirSync(dir);
  try {
    // Once the root's last change is old, a scan that finds no journal is remembered...
    await new Promise((resolve) => setTimeout(resolve, 200));
    recoverPins(dir);
    assert.deepEqual(recoverPins(dir), []);
    // ...until the root changes: a journal made since is found and settled.
    mkdirSync(journal);
    const settled = recoverPins(dir);
    assert.deepEqual(
      settled.filter((s) => s.journal === journal),
      [{ journal, action: 'removed', pins: [] }],
    );
    assert.equal(existsSync(journal), false);
  } finally {
    rmSync(journal, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
