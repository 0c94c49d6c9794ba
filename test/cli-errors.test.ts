// Bad inputs on the command line: every command that reads a file says what is wrong with it in one
// `ebpf: FILE...: why` line and exits non-zero; never a stack trace, never a silent success.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseElf } from '../src/elf/index.js';
import { EbpfError } from '../src/errors.js';
import { runCommand } from '../src/cli/main.js';
import { ROOT, TESTDATA, VMLINUX, cli, needRoot } from './helpers.js';
import { existsSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'ebpf-cli-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const MISSING = join(dir, 'missing.o');
const FOLDER = join(dir, 'folder');
const EMPTY = join(dir, 'empty.o');
const TRUNCATED = join(dir, 'truncated.o');
const RAW_BTF = join(dir, 'raw.btf');
mkdirSync(FOLDER);
writeFileSync(EMPTY, '');
writeFileSync(TRUNCATED, readFileSync(join(TESTDATA, 'flow-el.o')).subarray(0, 100));
// Raw BTF (the object's own .BTF section), as `/sys/kernel/btf/*` files are: what a user has at hand.
writeFileSync(
  RAW_BTF,
  parseElf(readFileSync(join(TESTDATA, 'flow-el.o')))
    .section('.BTF')!
    .data(),
);
// A host ELF object: a valid ELF, not a BPF one. Node itself is always there.
const HOST_ELF = process.execPath;

/** The bad object inputs and what the one-line message must say about each. */
const objectInputs: [string, string, RegExp][] = [
  ['a missing file', MISSING, /no such file/],
  ['a directory', FOLDER, /EISDIR/],
  ['an empty file', EMPTY, /not an ELF file.*empty/],
  ['a truncated object', TRUNCATED, /offset 0x[0-9a-f]+: .*out of bounds/],
  ['a non-BPF ELF', HOST_ELF, /offset 0x12: not a BPF object: e_machine is 62/],
  ['raw BTF', RAW_BTF, /not an ELF file.*raw BTF/],
];

/** Commands that read an object, with the arguments around it. */
const objectCommands: [string, (f: string) => string[]][] = [
  ['inspect', (f) => ['inspect', f]],
  ['disasm', (f) => ['disasm', f]],
  ['core explain', (f) => ['core', 'explain', f]],
  ['gen types', (f) => ['gen', 'types', f]],
  ['load', (f) => ['load', f, '--pin-dir', join(dir, 'pins')]],
];

/** Runs a command in process: it must fail with an EbpfError whose message names the file. */
async function expectFailure(args: string[], file: string, why: RegExp): Promise<void> {
  let err: unknown;
  try {
    await runCommand(args);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof EbpfError, `ebpf ${args.join(' ')}: threw ${String(err)} instead of an EbpfError`);
  const msg = err.message;
  assert.ok(msg.startsWith(file), `ebpf ${args.join(' ')}: '${msg}' does not start with the file`);
  assert.match(msg, why, `ebpf ${args.join(' ')}`);
  assert.ok(!msg.includes('\n'), `ebpf ${args.join(' ')}: one line, not '${msg}'`);
}

for (const [cmd, argsFor] of objectCommands) {
  for (const [what, file, why] of objectInputs) {
    test(`ebpf ${cmd} on ${what}: one error naming the file`, async () => {
      await expectFailure(argsFor(file), file, why);
    });
  }
}

test('ebpf btf dump: missing, directory, empty, truncated and BTF-less inputs', async () => {
  await expectFailure(['btf', 'dump', MISSING], MISSING, /no such file/);
  await expectFailure(['btf', 'dump', FOLDER], FOLDER, /EISDIR/);
  await expectFailure(['btf', 'dump', EMPTY], EMPTY, /too short for a BTF header/);
  await expectFailure(['btf', 'dump', TRUNCATED], TRUNCATED, /out of bounds/);
  await expectFailure(['btf', 'dump', HOST_ELF], HOST_ELF, /no \.BTF section/);
  await expectFailure(
    ['core', 'explain', join(TESTDATA, 'core-el.o'), '--target', EMPTY],
    EMPTY,
    /BTF header/,
  );
});

test('ebpf gen types -o into a directory or a missing directory names the output', async () => {
  const obj = join(TESTDATA, 'flow-el.o');
  await expectFailure(['gen', 'types', obj, '-o', FOLDER], FOLDER, /EISDIR/);
  const nowhere = join(dir, 'no', 'such', 'x.ts');
  await expectFailure(['gen', 'types', obj, '-o', nowhere], nowhere, /no such directory/);
});

test('from the shell: exit status 1 and exactly one stderr line, no stack trace', () => {
  for (const args of [
    ['load', MISSING, '--pin-dir', join(dir, 'pins')],
    ['disasm', HOST_ELF],
    ['inspect', TRUNCATED],
    ['gen', 'types', join(TESTDATA, 'flow-el.o'), '-o', FOLDER],
  ]) {
    const r = cli(args);
    assert.equal(r.status, 1, `ebpf ${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^ebpf: [^\n]+\n$/, `ebpf ${args.join(' ')}`);
  }
});

test('a reader that closes the pipe early ends the command quietly', () => {
  const r = spawnSync(
    'sh',
    ['-c', `"${process.execPath}" --import tsx src/cli/main.ts btf dump "${VMLINUX}" | head -n 1`],
    { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^\[1\] /);
  assert.equal(r.stderr, '', 'no EPIPE stack trace');
});

test('an option the command does not know is an error, not silently ignored', async () => {
  const obj = join(TESTDATA, 'flow-el.o');
  for (const args of [
    ['disasm', obj, '--relocs'],
    ['inspect', obj, '--jsn'],
    ['btf', 'dump', obj, '--tree'],
    ['core', 'explain', obj, '--verbose'],
    ['gen', 'types', obj, '--out', 'x.ts'],
    ['load', obj, '--pin-dir', join(dir, 'pins'), '--pin_maps', dir],
    ['prog', 'list', '--all'],
    ['attach', 'list', '--verbose'],
  ]) {
    await assert.rejects(runCommand(args), (e: unknown) => {
      assert.ok(e instanceof EbpfError, `ebpf ${args.join(' ')}: ${String(e)}`);
      assert.match(e.message, /^unknown option --/, `ebpf ${args.join(' ')}`);
      return true;
    });
  }
  await assert.rejects(runCommand(['inspect', obj, '--json=yes']), /option --json takes no value/);
});

test('ebpf run --dev with an interface that does not exist fails, and leaves no pin behind', (t) => {
  if (!needRoot(t)) return;
  const pinnedBefore = existsSync('/sys/fs/bpf/flow_map');
  const r = cli(['run', join(TESTDATA, 'flow-el.o'), '--dev', 'nosuchdev0', '--seconds', '1']);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /^ebpf: .*nosuchdev0/);
  // flow_map is pinned by name during the load; a failed run takes away what it pinned.
  assert.equal(existsSync('/sys/fs/bpf/flow_map'), pinnedBefore);
});

test('ebpf load -j of a refused helper call: the helper and reason beside the verifier log, no pin left', (t) => {
  if (!needRoot(t)) return;
  const pins = `/sys/fs/bpf/ebpf_test_${process.pid}_helper`;
  const r = cli(['load', join(TESTDATA, 'helper_errors-el.o'), '--pin-dir', pins, '-j']);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, '');
  const o = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(o.type, 'VerifierError');
  assert.deepEqual(o.helper, { id: 250, reason: 'unknown' });
  assert.match(String(o.log), /invalid func unknown#250/);
  assert.match(String(o.error), /calls helper #250, which this kernel/);
  assert.equal(existsSync(pins), false);
});
