// `ebpf binfmt` and `ebpf run`: the magic/mask match the headers of real BPF objects (and not other
// ELF files); as root, an installed handler runs a chmod +x'ed object directly, its tracepoint
// program counts real getpid calls, and uninstall removes the entries (also when a test fails).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BINFMT_DIR,
  elfMagic,
  entryNames,
  launcherScript,
  registerLine,
  status,
  unregister,
} from '../src/cli/binfmt.js';
import { EbpfError } from '../src/errors.js';
import { allObjects, cli, haveTool, need, needRoot, TESTDATA } from './helpers.js';

function matches(header: Uint8Array, littleEndian: boolean): boolean {
  const { magic, mask } = elfMagic(littleEndian);
  return magic.every((b, i) => ((header[i] ?? -1) & mask[i]!) === b);
}

test('the magic and mask match every BPF object of its byte order, and no other ELF', () => {
  const objs = allObjects();
  assert.ok(objs.length > 20);
  for (const f of objs) {
    const h = readFileSync(f).subarray(0, 20);
    const le = h[5] === 1;
    assert.equal(matches(h, le), true, f);
    assert.equal(matches(h, !le), false, f);
  }
  // Host executables and shared objects (x86-64, EM 62) are not BPF.
  for (const f of [process.execPath, '/bin/sh', '/usr/lib/x86_64-linux-gnu/libc.so.6']) {
    if (!existsSync(f)) continue;
    const h = readFileSync(f).subarray(0, 20);
    assert.equal(matches(h, true) || matches(h, false), false, f);
  }
});

test('the register line escapes every magic and mask byte and refuses unsafe names and paths', () => {
  const line = registerLine('ebpf-el', true, '/usr/local/lib/ebpf/binfmt-launcher');
  assert.equal(
    line,
    ':ebpf-el:M:0:' +
      '\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01' +
      '\\x00'.repeat(11) +
      '\\xf7\\x00:' +
      '\\xff'.repeat(7) +
      '\\x00'.repeat(11) +
      '\\xff\\xff:/usr/local/lib/ebpf/binfmt-launcher:F',
  );
  assert.match(registerLine('x-eb', false, '/l'), /\\x02\\x02\\x01(\\x00){11}\\x00\\xf7:/);
  assert.throws(() => registerLine('a:b', true, '/l'), EbpfError);
  assert.throws(() => registerLine('ok', true, 'relative/launcher'), EbpfError);
  assert.throws(() => registerLine('ok', true, '/a:b'), EbpfError);
  assert.match(
    launcherScript(['/usr/bin/node', "/it's/main.js"]),
    /exec '\/usr\/bin\/node' '\/it'\\''s\/main\.js' run "\$@"/,
  );
});

/** Runs `file args` (an executable BPF object) while calling getpid from other processes. */
function runObject(
  file: string,
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // dash calls getpid() as it starts: each one fires syscalls/sys_enter_getpid.
    const poke = setInterval(() => spawnSync('sh', ['-c', ':']), 100);
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poke);
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

const COUNTER_C = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} getpid_calls SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&getpid_calls, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

test('installed, a BPF object runs directly: loaded, attached, its maps shown; uninstall removes it', async (t) => {
  if (!needRoot(t)) return;
  const name = `ebpf-test-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-binfmt-'));
  const launcher = join(dir, 'launcher');
  const { el, eb } = entryNames(name);
  try {
    const inst = cli(['binfmt', 'install', '--name', name, '--launcher', launcher]);
    if (inst.status !== 0 && /NotSupported|binfmt_misc is not mounted|no binfmt_misc/.test(inst.stderr)) {
      need(t, false, `binfmt_misc unusable here: ${inst.stderr.trim()}`);
      return;
    }
    assert.equal(inst.status, 0, inst.stderr);
    const st = status(name);
    assert.equal(st.mounted, true);
    for (const e of st.entries) {
      assert.equal(e.registered, true, e.name);
      assert.equal(e.enabled, true, e.name);
      assert.equal(e.interpreter, launcher);
      assert.equal(e.flags, 'F');
    }
    assert.equal(st.entries[0]!.magic, '7f454c460201010000000000000000000000f700');
    assert.equal(st.entries[1]!.magic, '7f454c460202010000000000000000000000' + '00f7');
    const text = cli(['binfmt', 'status', '--name', name]);
    assert.match(text.stdout, new RegExp(`${el}: enabled, interpreter ${launcher}, flags F`));

    // A committed object: its tracepoint program writes a .bss string when getpid is called.
    const prog = join(dir, 'globals.o');
    copyFileSync(join(TESTDATA, 'globals-el.o'), prog);
    chmodSync(prog, 0o755);
    const r = await runObject('./globals.o', ['--seconds', '2', '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as {
      programs: { name: string; attached: boolean }[];
      globals: Record<string, Record<string, unknown>>;
    };
    assert.deepEqual(
      out.programs.map((p) => `${p.name}:${p.attached}`),
      ['use_globals:false', 'use_strings:true'],
    );
    assert.equal(out.globals['.bss']?.message, 'hello, globals!');
    assert.equal(out.globals['.rodata']?.config_limit, '1000');

    // The big-endian entry sends -eb objects to the launcher too (which refuses to load them here).
    const bePath = join(dir, 'globals-eb.o');
    copyFileSync(join(TESTDATA, 'globals-eb.o'), bePath);
    chmodSync(bePath, 0o755);
    const be = await runObject('./globals-eb.o', ['--seconds', '1'], dir);
    // Not a failure of the object: this host cannot run it, which is exit 3 (NotSupportedError).
    assert.equal(be.code, 3);
    assert.match(be.stderr, /^ebpf: .*big endian/m);

    // A counter compiled here: the map shows the getpid calls made while it ran.
    if (need(t, haveTool('clang-19'), 'clang-19 not installed')) {
      writeFileSync(join(dir, 'counter.c'), COUNTER_C);
      const cc = spawnSync(
        'clang-19',
        [
          '-target',
          'bpfel',
          '-O2',
          '-g',
          '-I/usr/include/x86_64-linux-gnu',
          '-c',
          'counter.c',
          '-o',
          'counter.o',
        ],
        { cwd: dir, encoding: 'utf8' },
      );
      assert.equal(cc.status, 0, cc.stderr);
      chmodSync(join(dir, 'counter.o'), 0o755);
      const c = await runObject(join(dir, 'counter.o'), ['--seconds', '2', '--json'], dir);
      assert.equal(c.code, 0, c.stderr);
      const maps = (JSON.parse(c.stdout) as { maps: Record<string, { entries: [number, string][] }> }).maps;
      const entries = maps.getpid_calls?.entries ?? [];
      assert.equal(entries.length, 1);
      assert.equal(entries[0]![0], 0);
      assert.ok(BigInt(entries[0]![1]) >= 5n, `getpid_calls = ${entries[0]![1]}`);
      // Without --json: the live table, every interval.
      const live = await runObject(join(dir, 'counter.o'), ['--seconds', '2.5'], dir);
      assert.equal(live.code, 0, live.stderr);
      assert.match(live.stdout, /prog 'count_getpid': tracepoint syscalls\/sys_enter_getpid/);
      assert.match(live.stdout, /map getpid_calls \(array\): 1 entries\n {2}0 => \d+n/);
      assert.ok((live.stdout.match(/^--- /gm) ?? []).length >= 3, live.stdout);
      assert.match(live.stdout, /detached and closed\n$/);
    }

    const un = cli(['binfmt', 'uninstall', '--name', name, '--launcher', launcher]);
    assert.equal(un.status, 0, un.stderr);
    assert.ok(!existsSync(join(BINFMT_DIR, el)) && !existsSync(join(BINFMT_DIR, eb)));
    assert.ok(!existsSync(launcher));
    assert.deepEqual(
      status(name).entries.map((e) => e.registered),
      [false, false],
    );
    assert.match(cli(['binfmt', 'status', '--name', name]).stdout, new RegExp(`${el}: not registered`));
  } finally {
    if (existsSync(`${BINFMT_DIR}/register`)) {
      unregister(el);
      unregister(eb);
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ebpf run --pin-dir leaves programs, maps and links pinned (the program stays attached)', (t) => {
  if (!needRoot(t)) return;
  const pinDir = `/sys/fs/bpf/ebpf-run-test-${process.pid}`;
  try {
    const r = cli(['run', join(TESTDATA, 'globals-el.o'), '--pin-dir', pinDir, '--seconds', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { pinDir: string }).pinDir, pinDir);
    for (const p of ['use_globals', 'use_strings', 'links/use_strings', 'maps/globals__bss']) {
      assert.ok(existsSync(join(pinDir, p)), p);
    }
    // The pinned link keeps the tracepoint program attached after the process is gone.
    const links = JSON.parse(cli(['attach', 'list', '--json']).stdout) as { type: string }[];
    assert.ok(links.some((l) => l.type === 'perf_event'));
  } finally {
    rmSync(pinDir, { recursive: true, force: true });
  }
});

test('ebpf run attaches XDP with --dev and leaves no pin behind without --pin', (t) => {
  if (!needRoot(t)) return;
  const dev = `ebr${process.pid % 100000}`;
  const made = spawnSync('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
  if (!need(t, made.status === 0, `cannot create a veth pair: ${String(made.stderr)}`)) return;
  const pinRoot = '/sys/fs/bpf/flow_map';
  const hadPin = existsSync(pinRoot);
  try {
    spawnSync('ip', ['link', 'set', dev, 'up']);
    const r = cli(['run', join(TESTDATA, 'flow-el.o'), '--dev', dev, '--seconds', '1', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { programs: { how: string; attached: boolean }[]; maps: object };
    assert.deepEqual(out.programs, [{ name: 'count_flows', attached: true, how: `xdp on ${dev}` }]);
    assert.deepEqual(out.maps, { flow_map: { type: 'hash', entries: [], more: false } });
    // flow_map is pinned by name while it runs; a run without --pin removes it.
    if (!hadPin) assert.equal(existsSync(pinRoot), false);
    const ip = spawnSync('ip', ['-j', 'link', 'show', dev], { encoding: 'utf8' });
    assert.doesNotMatch(ip.stdout, /"xdp"/);
  } finally {
    spawnSync('ip', ['link', 'del', dev]);
  }
});

test('ebpf run refuses bad arguments', () => {
  assert.equal(cli(['run']).status, 2);
  const bad = cli(['run', join(TESTDATA, 'globals-el.o'), '--seconds', 'x']);
  assert.equal(bad.status, 2, 'a malformed value is a usage error');
  assert.match(bad.stderr, /--seconds wants a positive number/);
  assert.equal(cli(['binfmt', 'bogus']).status, 2);
});
