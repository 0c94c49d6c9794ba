// Every example in examples/ runs as written and does what it says. They import 'ebpf' (the
// package's own name): here tsx maps it to src/ through tsconfig's paths; installed, Node's
// self-reference maps it to dist/ (scripts/consumer-test.sh runs them from the tarball). The
// ones that attach XDP to `lo` run in a network namespace of their own (unshare -n), so no
// other test's traffic or XDP program is on it and counts are exact.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, haveTool, need, needRoot } from './helpers.js';

const EXAMPLES = join(ROOT, 'examples');

function run(file: string, args: string[] = [], privateNet = false): SpawnSyncReturns<string> {
  const node = [process.execPath, '--import', 'tsx', join(EXAMPLES, file), ...args];
  const argv = privateNet
    ? ['unshare', '-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', ...node]
    : node;
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${file}: ${r.stderr}${r.error?.message ?? ''}`);
  return r;
}

function needNetns(t: TestContext): boolean {
  return (
    needRoot(t) &&
    need(t, haveTool('unshare') && haveTool('ip'), 'unshare (util-linux) and ip (iproute2) needed')
  );
}

test('every example is run by a test below', () => {
  const tested = ['quickstart.ts', 'globals.js', 'xdp-flows.js', 'exec-events.js', 'uprobe.js'];
  assert.deepEqual(readdirSync(EXAMPLES).sort(), tested.sort());
});

test('examples/quickstart.ts: .rodata set before load steers the program, .bss is read live, flows counted', (t) => {
  if (!needNetns(t)) return;
  const r = run('quickstart.ts', [], true);
  const runs = [...r.stdout.matchAll(/run (\d): XDP verdict (\d+), bss_hits (\d+)/g)].map((m) => ({
    verdict: Number(m[2]),
    hits: Number(m[3]),
  }));
  assert.equal(runs.length, 3, r.stdout);
  // config_limit = 100 with config_flag set: the program passes (2) until its byte total passes
  // the limit, then drops (1); bss_hits only grows on the passing runs.
  assert.equal(runs[0]!.verdict, 2);
  assert.ok(
    runs.some((x) => x.verdict === 1),
    'a run over the limit is dropped',
  );
  assert.ok(runs[0]!.hits > 0);
  const flow = /flow \{ saddr: (\d+), daddr: (\d+) \} \{ packets: (\d+)n, bytes: (\d+)n \}/.exec(r.stdout);
  assert.ok(flow, r.stdout);
  const loopback = 0x0100007f; // 127.0.0.1 as the program stores it (network order, read little-endian)
  assert.equal(Number(flow[1]), loopback);
  assert.equal(Number(flow[2]), loopback);
  // A private lo: the five datagrams (14 + 20 + 8 + 100 bytes each) and the ICMP port
  // unreachable answers to them, which have the same addresses (14 + 20 + 8 + the datagram's 128
  // bytes each); the kernel may rate-limit those, so their number is read from the count.
  const packets = Number(flow[3]);
  assert.ok(packets >= 5 && packets <= 10, r.stdout);
  assert.equal(Number(flow[4]), 5 * 142 + (packets - 5) * 170);
});

test('examples/globals.js: .rodata set before load, .data and .bss read and written live', (t) => {
  if (!needRoot(t)) return;
  const { stdout } = run('globals.js');
  // config_limit 100: 64-byte runs pass while bss_total <= 100, so the third is dropped and
  // changes nothing; resetting bss_total from JavaScript lets the next one pass.
  assert.equal(
    stdout,
    [
      'before load: config_limit 1000, config_pid 0',
      'run 0: XDP_PASS, bss_total 64, counter 2',
      'run 1: XDP_PASS, bss_total 128, counter 3',
      'run 2: XDP_DROP, bss_total 128, counter 3',
      `data_array 1 2 ${/data_array 1 2 (\d+)/.exec(stdout)?.[1]}`,
      'after reset: XDP_PASS, bss_total 64',
      '',
    ].join('\n'),
  );
  // config_pid went in through .rodata and came out through .data: the example's own pid.
  const pid = Number(/data_array 1 2 (\d+)/.exec(stdout)?.[1]);
  assert.ok(pid > 1);
});

test('examples/xdp-flows.js: exact packets and bytes of its own flow on lo', (t) => {
  if (!needNetns(t)) return;
  const { stdout } = run('xdp-flows.js', ['--count', '4'], true);
  const m = /^sent 4 datagrams of 100 bytes from (\S+) to (\S+) on lo$/m.exec(stdout);
  assert.ok(m, stdout);
  const lines = stdout.split('\n').filter((l) => l.startsWith(`flow ${m[1]} -> ${m[2]}:`));
  assert.deepEqual(lines, [`flow ${m[1]} -> ${m[2]}: 4 packets, ${4 * 142} bytes`]);
});

test('examples/exec-events.js: one ring buffer record per exec of its children, decoded by BTF', (t) => {
  if (!needRoot(t)) return;
  const { stdout } = run('exec-events.js', ['--seconds', '1', '--children-only']);
  const spawned = [...stdout.matchAll(/^spawned pid (\d+)$/gm)].map((m) => Number(m[1]));
  assert.equal(spawned.length, 3, stdout);
  const events = [...stdout.matchAll(/^exec pid (\d+) ppid (\d+) uid (\d+) comm (\S+) filename (\S+)$/gm)];
  assert.deepEqual(
    events.map((m) => [Number(m[1]), m[4], m[5]]),
    spawned.map((pid) => [pid, 'true', '/bin/true']),
  );
  // The parent, read with CO-RE: all three have the same one, the example (not this test).
  const parents = new Set(events.map((m) => Number(m[2])));
  assert.equal(parents.size, 1);
  assert.ok(!parents.has(process.pid));
  assert.match(stdout, /^dropped 0$/m);
});

test('examples/uprobe.js: counts each call of a function in a user program (Node itself)', (t) => {
  if (!needRoot(t)) return;
  for (const calls of [3, 9]) {
    const { stdout } = run('uprobe.js', ['--calls', String(calls)]);
    assert.match(stdout, /^probing \S+node\S*:uv_os_getppid in pid \d+$/m);
    assert.match(stdout, new RegExp(`^calls ${calls}$`, 'm'));
  }
});

test("the README's plain-JavaScript example parses in plain Node and runs as written", (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Use it in your project'));
  const js = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(js !== undefined, 'no ```js block in "Use it in your project"');
  // Beside the tests, so tsx's tsconfig paths map 'ebpf' to src/; the package's files from ROOT.
  const file = join(ROOT, 'test', `.readme-example-${process.pid}.mjs`);
  writeFileSync(
    file,
    js.replaceAll('node_modules/ebpf/', `${ROOT}/`).replace(
      '// ... traffic ...',
      // Two datagrams of 58 bytes to a socket listening on 127.0.0.1: no ICMP answers.
      "const dgram = await import('node:dgram'); const rx = dgram.createSocket('udp4');" +
        "await new Promise((ok) => rx.bind(0, '127.0.0.1', ok)); const tx = dgram.createSocket('udp4');" +
        "for (let i = 0; i < 2; i++) await new Promise((ok) => tx.send(Buffer.alloc(58), rx.address().port, '127.0.0.1', ok));" +
        'tx.close(); rx.close();',
    ),
  );
  try {
    // Plain Node, no TypeScript loader: `using` or type syntax here would be a SyntaxError.
    const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    if (!needNetns(t)) return;
    const r = spawnSync(
      'unshare',
      ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, '--import', 'tsx', file],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^2 64n$/m);
    // The two datagrams, 127.0.0.1 both ways: 14 + 20 + 8 + 58 bytes each on lo.
    assert.match(r.stdout, /\{ saddr: 16777343, daddr: 16777343 \} \{ packets: 2n, bytes: 200n \}/);
  } finally {
    rmSync(file, { force: true });
  }
});
