// Every CLI command given wrong, negative, huge, malformed or missing arguments (a generated sweep:
// each argument slot of each command with each bad value, and every prefix of each command line):
// an exit code of 1, 2 or 3 with one `ebpf: ...` line naming what is wrong, never a stack trace,
// a success or a hang; and nothing left behind: no pin, no kernel object (program, map, link and
// BTF ids compared before and after through the kernel's id iteration).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BPFFS_ROOT } from '../src/sys/bpffs.js';
import { TESTDATA, captureAll, kernelObjectsLeft, kernelIds, needRoot } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-edges-cli-'));
const PIN = join(BPFFS_ROOT, `ebpf_test_${process.pid}_edges_cli`);
after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(PIN, { recursive: true, force: true });
});

const FLOW = join(TESTDATA, 'flow-el.o');
/** An object that is not there: commands that would load and run fail on it, never run. */
const MISSING = join(dir, 'missing.o');
/** An id no kernel object has (ids are allocated from 1 upwards and never reach it here). */
const NOID = '4294967295';
const V = Symbol('slot');
type Arg = string | typeof V;

/** Wrong numbers and words for a slot that wants a number (an id, a count, a priority). */
const NUMBERS = [
  '-1',
  '0',
  '-0',
  '1.5',
  '4294967296',
  '99999999999999999999999',
  '1e400',
  'NaN',
  '0x',
  '',
  'x',
];
/** Wrong paths: empty, missing, not in a bpffs, a directory, a bpffs directory, a device. */
const PATHS = ['', join(dir, 'nowhere'), '/proc/self/status', dir, BPFFS_ROOT, '/dev/null'];

/** Command lines with one slot, and the values tried in it. */
const TEMPLATES: [Arg[], string[]][] = [
  // Program, map and link ids.
  ...(
    [
      ['prog', 'show', 'id', V],
      ['prog', 'run', 'id', V],
      ['prog', 'pin', 'id', V, join(PIN, 'p')],
      ['map', 'dump', 'id', V],
      ['map', 'get', 'id', V, 'key', '0', '0', '0', '0'],
      ['map', 'update', 'id', V, 'key', '0', '0', '0', '0', 'value', '0', '0', '0', '0'],
      ['map', 'delete', 'id', V, 'key', '0', '0', '0', '0'],
      ['map', 'pin', 'id', V, join(PIN, 'm')],
      ['attach', 'xdp', 'id', V, 'lo'],
      ['attach', 'tc', 'id', V, 'lo', 'ingress'],
      ['attach', 'tracepoint', 'id', V, 'syscalls/sys_enter_openat'],
      ['attach', 'raw_tp', 'id', V, 'sys_enter'],
      ['attach', 'kprobe', 'id', V, 'do_sys_open'],
      ['attach', 'uprobe', 'id', V, '/bin/true:main'],
      ['attach', 'cgroup', 'id', V, '/sys/fs/cgroup', 'egress'],
      ['attach', 'struct_ops', 'id', V],
      ['attach', 'detach', 'id', V],
    ] as Arg[][]
  ).map((t): [Arg[], string[]] => [t, [...NUMBERS, NOID]]),
  // Numeric options (on a program that does not exist, or an object that is not there: a value
  // the option takes fails on that instead, so nothing ever runs).
  ...(
    [
      ['prog', 'run', 'id', NOID, '--repeat', V],
      ['prog', 'run', 'id', NOID, '--data-size-out', V],
      ['prog', 'run', 'id', NOID, '--ctx-size-out', V],
      ['attach', 'tc', 'id', NOID, 'lo', 'ingress', '--priority', V],
      ['attach', 'tc', 'id', NOID, 'lo', 'ingress', '--handle', V],
      ['attach', 'uprobe', 'id', NOID, '/bin/true:main', '--pid', V],
      ['attach', 'kprobe', 'id', NOID, 'do_sys_open', '--cookie', V],
      ['run', MISSING, '--seconds', V],
      ['run', MISSING, '--interval', V],
      ['run', MISSING, '--entries', V],
      ['run', MISSING, '--pid', V],
      ['load', MISSING, '--pin-dir', join(PIN, 'l'), '--log-level', V],
      ['btf', 'dump', MISSING, '--format', 'tree', '--depth', V],
    ] as Arg[][]
  ).map((t): [Arg[], string[]] => [t, NUMBERS]),
  // Paths to read, and pins to open or make.
  ...(
    [
      ['inspect', V],
      ['disasm', V],
      ['btf', 'dump', V],
      ['core', 'explain', V],
      ['gen', 'types', V],
      ['link', V, FLOW, '-o', join(dir, 'linked.o')],
      ['load', V, '--pin-dir', join(PIN, 'l')],
      ['load', FLOW, '--pin-dir', V, '--programs', 'nonexistent_program'],
      ['prog', 'show', 'pinned', V],
      ['prog', 'pin', 'id', NOID, V],
      ['map', 'dump', 'pinned', V],
      ['map', 'pin', 'id', NOID, V],
      ['attach', 'detach', 'pinned', V],
      ['attach', 'xdp', 'pinned', V, 'lo'],
    ] as Arg[][]
  ).map((t): [Arg[], string[]] => [t, PATHS]),
];

/** Prefixes that are whole, valid commands (they list, as bpftool's `prog` and `prog show` do). */
const VALID = new Set(['prog', 'prog show', ...['prog', 'map', 'attach'].map((c) => `${c} list`)]);

function cases(): string[][] {
  const out = new Map<string, string[]>();
  for (const [template, values] of TEMPLATES) {
    for (const v of values) {
      const argv = template.map((a) => (a === V ? v : a));
      out.set(JSON.stringify(argv), argv);
    }
    // Every argument missing from the end: each prefix, its slot filled with an id that is not there.
    const full = template.map((a) => (a === V ? NOID : a));
    for (let n = 1; n < full.length; n++) {
      const argv = full.slice(0, n);
      if (!VALID.has(argv.join(' '))) out.set(JSON.stringify(argv), argv);
    }
  }
  return [...out.values()];
}

test('every CLI command with wrong, negative, huge or missing arguments: a typed one-line error, nothing left behind', async (t) => {
  if (!needRoot(t)) return;
  mkdirSync(PIN, { recursive: true });
  const argvs = cases();
  const before = kernelIds();
  const results = captureAll(argvs);
  const problems: string[] = [];
  const codes = new Map<number, number>();
  for (const [i, argv] of argvs.entries()) {
    const r = results[i]!;
    const line = `ebpf ${argv.map((a) => (a === '' ? "''" : a)).join(' ')}`;
    codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
    if (![1, 2, 3].includes(r.code)) problems.push(`${line}: exit ${r.code} ${r.stderr.slice(0, 300)}`);
    else if (r.stdout !== '') problems.push(`${line}: wrote to stdout: ${r.stdout.slice(0, 200)}`);
    else if (/\n\s+at /.test(r.stderr)) problems.push(`${line}: a stack trace: ${r.stderr.slice(0, 300)}`);
    else if (!/^ebpf: [^\n]+\n(\(see 'ebpf [\w ]*--help'\)\n)?$/.test(r.stderr))
      problems.push(`${line}: not one 'ebpf: ...' line: ${JSON.stringify(r.stderr.slice(0, 300))}`);
    else if (r.code === 2 && !/\(see 'ebpf/.test(r.stderr))
      problems.push(`${line}: usage error without usage hint`);
  }
  t.diagnostic(`${argvs.length} command lines; exit codes ${JSON.stringify(Object.fromEntries(codes))}`);
  assert.deepEqual(problems, []);
  // The malformed values themselves are usage errors naming the value (checked on a few of each).
  for (const [argv, why] of [
    [['prog', 'show', 'id', '1.5'], /program id wants a whole number from 1 to 4294967295, not '1\.5'/],
    // A negative number reads as an option, as in bpftool.
    [['prog', 'show', 'id', '-1'], /unknown option -1/],
    [['core', 'explain', ''], /an empty argument where OBJ, the object to explain was expected/],
    [['map', 'dump', 'pinned', ''], /which map\? give 'pinned PATH' or 'id N'/],
    [
      ['map', 'dump', 'id', '4294967296'],
      /map id wants a whole number from 1 to 4294967295, not '4294967296'/,
    ],
    [['attach', 'tc', 'id', NOID, 'lo', 'ingress', '--priority', '1e400'], /--priority wants .* not '1e400'/],
    [['run', MISSING, '--entries', 'NaN'], /--entries wants a whole number >= 1, not 'NaN'/],
  ] as const) {
    const r = results[argvs.findIndex((a) => JSON.stringify(a) === JSON.stringify(argv))]!;
    assert.equal(r.code, 2, argv.join(' '));
    assert.match(r.stderr, why, argv.join(' '));
  }
  // An id that is not there is a failure (1) saying so.
  const noProg = results[argvs.findIndex((a) => a.join(' ') === `prog show id ${NOID}`)]!;
  assert.equal(noProg.code, 1);
  assert.match(noProg.stderr, /4294967295/);
  // Nothing pinned, nothing left in the kernel: ids that appeared meanwhile are other processes'
  // (held by their descriptors) or gone once RCU has run.
  assert.deepEqual(existsSync(PIN) ? readdirSync(PIN, { recursive: true }) : [], []);
  const left = await kernelObjectsLeft(before);
  assert.deepEqual(left, [], 'kernel objects left by the sweep');
});
