// The examples the README shows run as written and do what it says they do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, needRoot } from './helpers.js';

test('examples/quickstart.ts: .rodata set before load steers the program, .bss is read live, flows counted', (t) => {
  if (!needRoot(t)) return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'examples/quickstart.ts')], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
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
  assert.ok(Number(flow[3]) >= 5, 'the five datagrams were counted');
});
