// The command line's contract: -h/--help and -j/--json on every command, --version, every option
// value checked (a usage error, exit 2, never silently ignored), errors as one JSON object on
// stdout under --json, and the documented exit codes — checked in process through main(), and
// from the shell for what only a process shows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type CliResult, ROOT, TESTDATA, captureAll, cli, needRoot } from './helpers.js';

const FLOW = join(TESTDATA, 'flow-el.o');
const COMMANDS = [
  'inspect',
  'disasm',
  'btf',
  'core',
  'link',
  'build',
  'gen',
  'load',
  'run',
  'prog',
  'map',
  'attach',
  'binfmt',
  'demo',
];
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const capture = (argv: string[]): CliResult => captureAll([argv])[0]!;

test('ebpf --version and -V print the package version; with -j as JSON', () => {
  for (const flag of ['--version', '-V']) {
    const r = capture([flag]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `ebpf ${VERSION}\n`);
  }
  const j = capture(['-j', '--version']);
  assert.deepEqual(JSON.parse(j.stdout), { version: VERSION });
  // From the shell, as a user (and the package's consumer test) runs it.
  const shell = cli(['--version']);
  assert.equal(shell.status, 0, shell.stderr);
  assert.equal(shell.stdout, `ebpf ${VERSION}\n`);
});

test('ebpf help lists every command and the exit codes; help CMD, CMD -h and CMD --help print its usage', () => {
  const h = capture(['help']);
  assert.equal(h.code, 0);
  for (const c of COMMANDS) assert.match(h.stdout, new RegExp(`^ {2}${c} +\\S`, 'm'), c);
  for (const code of ['0', '1', '2', '3']) assert.match(h.stdout, new RegExp(`^ {2}${code} {2}\\S`, 'm'));
  assert.match(h.stdout, /-j, --json/);
  assert.deepEqual(capture(['--help']), h);
  const all = captureAll(
    COMMANDS.flatMap((c) => [
      ['help', c],
      [c, '-h'],
      [c, 'x', '--help'],
    ]),
  );
  COMMANDS.forEach((c, i) => {
    const [usage, short, long] = all.slice(3 * i, 3 * i + 3);
    assert.equal(usage!.code, 0);
    assert.match(usage!.stdout, new RegExp(`^usage: ebpf ${c}\\b`), c);
    // Every command documents -j.
    assert.match(usage!.stdout, /-j\b/, `${c}'s usage mentions -j`);
    assert.deepEqual(short, usage, `${c} -h`);
    assert.deepEqual(long, usage, `${c} x --help`);
  });
  // Help is asked wherever -h stands, before the command's own checks (a missing file, an option).
  assert.equal(capture(['load', 'nowhere.o', '--bogus', '-h']).code, 0);
});

test('no command: the usage on stderr, exit 2; an unknown command or option: exit 2 naming it', () => {
  const none = capture([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^usage: ebpf /);
  assert.equal(none.stdout, '');
  const bogus = capture(['bogus']);
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /^ebpf: unknown command 'bogus'\n/);
  const opt = capture(['inspect', FLOW, '--jsn']);
  assert.equal(opt.code, 2);
  assert.equal(opt.stderr, "ebpf: unknown option --jsn\n(see 'ebpf inspect --help')\n");
  assert.equal(capture(['--bogus', 'inspect', FLOW]).code, 2);
});

test('every malformed option value is a usage error (exit 2) that names the option, before anything is done', () => {
  const pin = '/sys/fs/bpf/ebpf-cli-args-never-made';
  const cases: [string[], RegExp][] = [
    [
      ['load', FLOW, '--pin-dir', pin, '--log-level', 'x'],
      /--log-level wants a whole number from 0 to 7, not 'x'/,
    ],
    [['load', FLOW, '--pin-dir', pin, '--log-level', '8'], /--log-level .* not '8'/],
    [['load', FLOW, '--pin-dir', pin, '--log-level', '-1'], /--log-level.*--log-level=VALUE/],
    [['load', FLOW, '--pin-dir', '', '--trace'], /--pin-dir wants a path/],
    [['load', FLOW], /--pin-dir DIR is needed/],
    [['load', FLOW, '--pin-dir'], /option --pin-dir needs a value/],
    [['load', FLOW, '--pin-dir', pin, '--freplace-target', 'id', 'x'], /--freplace-target program id wants/],
    [['run', FLOW, '--seconds', 'x'], /--seconds wants a positive number, not 'x'/],
    [['run', FLOW, '--seconds', '0'], /--seconds wants a positive number/],
    [['run', FLOW, '--interval', '1e'], /--interval/],
    [['run', FLOW, '--entries', '0'], /--entries wants a whole number >= 1/],
    [['run', FLOW, '--entries', '2.5'], /--entries/],
    [
      ['run', FLOW, '--xdp-mode', 'genric'],
      /--xdp-mode wants one of auto, generic, driver, offload, not 'genric'/,
    ],
    [['run', FLOW, '--pid', '0'], /--pid/],
    [['run'], /missing OBJ/],
    [['run', FLOW, FLOW], /unexpected/],
    [['btf', 'dump', FLOW, '--format', 'json'], /--format wants one of raw, c, tree, not 'json'/],
    [['btf', 'dump', FLOW, '--format', 'tree', '--depth', 'abc'], /--depth wants a whole number/],
    [['btf', 'dump', FLOW, '--depth', '2'], /--depth is for --format tree/],
    [['btf', 'dump'], /missing FILE/],
    [['btf'], /which btf command/],
    [['core', 'explain'], /missing OBJ/],
    [['gen', 'types', FLOW, '--name', '1x'], /--name '1x' is not a TypeScript identifier/],
    [['inspect', FLOW, '--json=yes'], /option --json takes no value/],
    [['prog', 'show', 'id', 'x'], /program id wants a whole number from 1 to 4294967295, not 'x'/],
    [['prog', 'show', 'id', '0'], /program id/],
    [['prog', 'run', 'id', '5', '--repeat', '-3'], /--repeat/],
    [['prog', 'run', 'id', '5', '--repeat', 'many'], /--repeat wants a whole number/],
    [['prog', 'pin', 'id', '5'], /missing PATH/],
    [['map', 'pin', 'id', '5'], /missing PATH/],
    [
      [
        'attach',
        'cgroup',
        'id',
        '1',
        '/sys/fs/cgroup',
        'egress',
        '--mode',
        'legacy',
        '--pin',
        '/sys/fs/bpf/x',
      ],
      /not a bpf_link/,
    ],
    [['prog', 'frobnicate'], /unknown prog command 'frobnicate'/],
    [['map', 'dump', 'nowhere'], /which map\? give 'pinned PATH' or 'id N'/],
    [['map', 'get', 'id', '99999999999'], /map id/],
    [['map', 'frob', 'id', '1'], /unknown map command 'frob'/],
    [
      ['attach', 'xdp', 'id', '1', 'lo', '--mode', 'genric'],
      /--mode wants one of auto, generic, driver, offload/,
    ],
    [['attach', 'tc', 'id', '1', 'lo', 'ingress', '--mode', 'fast'], /--mode wants one of auto, tcx, legacy/],
    [
      ['attach', 'tc', 'id', '1', 'lo', 'ingress', '--priority', '70000'],
      /--priority wants a whole number from 1 to 65535/,
    ],
    [
      ['attach', 'kprobe', 'id', '1', 'do_sys_open', '--cookie', 'abc'],
      /--cookie wants a number from 0 to 2\^64-1/,
    ],
    [['attach', 'kprobe', 'id', '1', 'do_sys_open', '--cookie', String(1n << 64n)], /--cookie/],
    [['attach', 'tracepoint', 'id', '1', 'a/b', '--retprobe'], /attach tracepoint takes no --retprobe/],
    [
      ['attach', 'cgroup', 'id', '1', '/sys/fs/cgroup', 'egress', '--mode', 'x'],
      /--mode wants one of auto, link, legacy/,
    ],
    [['attach', 'warp', 'id', '1'], /unknown attach kind 'warp'/],
    [['attach', 'detach', 'name', 'x'], /which link\?/],
    [['binfmt', 'install', '--name', 'a/b'], /--name wants letters/],
    [['binfmt', 'install', '--launcher', 'rel/path'], /--launcher wants an absolute path/],
    [['binfmt', 'frob'], /unknown binfmt command/],
    [['demo', '--seconds', '5000'], /--seconds wants at most 3600/],
    [['demo', '--mode', 'offload'], /--mode wants one of auto, generic, driver/],
  ];
  const results = captureAll(cases.map(([argv]) => argv));
  for (const [i, [argv, why]] of cases.entries()) {
    const r = results[i]!;
    assert.equal(r.code, 2, `ebpf ${argv.join(' ')}: exit ${r.code}, ${r.stderr}`);
    assert.match(r.stderr, why, `ebpf ${argv.join(' ')}`);
    assert.match(r.stderr, /^ebpf: [^\n]+\n\(see 'ebpf \w* ?--help'\)\n$/, `ebpf ${argv.join(' ')}`);
    assert.equal(r.stdout, '', `ebpf ${argv.join(' ')}: nothing on stdout`);
  }
});

test('under -j an error is one JSON object on stdout (as bpftool -j), with its exit code; stderr stays empty', () => {
  const usage = capture(['load', FLOW, '--pin-dir', '/sys/fs/bpf/x', '--log-level', 'x', '-j']);
  assert.equal(usage.code, 2);
  assert.equal(usage.stderr, '');
  assert.deepEqual(JSON.parse(usage.stdout), {
    error: "--log-level wants a whole number from 0 to 7, not 'x'",
    type: 'UsageError',
    exitCode: 2,
  });
  const missing = join(TESTDATA, 'no-such-object.o');
  for (const argv of [
    ['-j', 'inspect', missing],
    ['inspect', '--json', missing],
    ['inspect', missing, '-j'],
  ]) {
    const r = capture(argv);
    assert.equal(r.code, 1, argv.join(' '));
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.split('\n').length, 2, 'one line');
    assert.deepEqual(JSON.parse(r.stdout), {
      error: `${missing}: no such file`,
      type: 'NotFoundError',
      exitCode: 1,
      location: { file: missing },
    });
  }
  const unknown = capture(['-j', 'bogus']);
  assert.equal(unknown.code, 2);
  assert.equal((JSON.parse(unknown.stdout) as { type: string }).type, 'UsageError');
  // From the shell: the process's exit status is the one in the object.
  const shell = cli(['disasm', process.execPath, '--json']);
  assert.equal(shell.status, 1);
  assert.equal(shell.stderr, '');
  const e = JSON.parse(shell.stdout) as { error: string; exitCode: number; location: { offset: number } };
  assert.match(e.error, /not a BPF object/);
  assert.equal(e.exitCode, 1);
  assert.equal(e.location.offset, 18);
});

test('-j before the command is the same as --json after it', () => {
  const before = capture(['-j', 'inspect', FLOW]);
  const after = capture(['inspect', FLOW, '--json']);
  assert.equal(before.code, 0);
  assert.deepEqual(before, after);
  assert.equal((JSON.parse(before.stdout) as { name: string }).name, 'flow-el');
  // After `--` every word is a positional, -j too: it is not a flag there.
  const r = capture(['inspect', '--', '-j']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^ebpf: -j: no such file/);
});

test('a kernel error under -j carries the syscall, errno and hint', (t) => {
  if (!needRoot(t)) return;
  const r = capture(['-j', 'prog', 'show', 'id', String(0xfffffff0)]);
  assert.equal(r.code, 1);
  const e = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(e.type, 'SyscallError');
  assert.equal(e.command, 'BPF_PROG_GET_FD_BY_ID');
  assert.equal(e.code, 'ENOENT');
});
