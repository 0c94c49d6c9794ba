// RLIMIT_MEMLOCK and BPF memory: kernels before 5.11 charge maps, programs and BTF to it, and a
// Debian 11 user's default of 64 KiB is a few maps. In a child process that starts at that limit:
// a 1 MiB map made with the bare syscall fails there with an EPERM whose hint names RLIMIT_MEMLOCK
// (and succeeds where the memory cgroup is charged instead); BpfMap.create and loadObject raise
// the limit first where the kernel charges it, as libbpf does, and leave it alone elsewhere.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { test } from 'node:test';
import { versionAtLeast } from '../../src/features/feature.js';
import { needRoot, ROOT } from '../helpers.js';

const CHILD = `
import { BpfMap } from './src/map/map.ts';
import { MEMCG_ACCOUNTING, haveFeature } from './src/features/index.ts';
import { loadObject } from './src/loader/index.ts';
import { mapCreate } from './src/sys/bpf.ts';
import { getMemlockRlimit, setMemlockRlimit } from './src/sys/rlimit.ts';
const KiB64 = 65536n;
setMemlockRlimit({ soft: KiB64, hard: KiB64 });
const big = { map_type: 2, key_size: 4, value_size: 1024, max_entries: 1024 };
const out = {};
try {
  mapCreate(big).close();
  out.bare = 'ok';
} catch (e) {
  out.bare = e.code;
  out.message = e.message;
}
out.limitBefore = String(getMemlockRlimit().soft);
const m = BpfMap.create({ type: 2, keySize: 4, valueSize: 1024, maxEntries: 1024 });
m.close();
out.limitAfter = String(getMemlockRlimit().soft);
loadObject('testdata/calls-el.o').close();
out.memcg = haveFeature(MEMCG_ACCOUNTING);
console.log(JSON.stringify(out));
`;

test('RLIMIT_MEMLOCK is raised where the kernel charges BPF memory to it, and named when it is the cause', (t) => {
  if (!needRoot(t)) return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, string | boolean>;
  const charged = !versionAtLeast(release(), '5.11');
  assert.equal(
    out.memcg,
    !charged,
    'the memcg probe (bpf_ktime_get_coarse_ns, 5.11) answers as the kernel is',
  );
  assert.equal(out.limitBefore, '65536');
  if (charged) {
    assert.equal(out.bare, 'EPERM');
    assert.match(
      String(out.message),
      /^BPF_MAP_CREATE: EPERM \(operation not permitted\): RLIMIT_MEMLOCK \(ulimit -l: 64 KiB\) is too low: this kernel \(before 5\.11\) charges BPF maps and programs to it/,
    );
    assert.equal(out.limitAfter, String(2n ** 64n - 1n), 'raised to unlimited');
  } else {
    assert.equal(out.bare, 'ok', String(out.message));
    assert.equal(out.limitAfter, '65536', 'left alone: this kernel charges the memory cgroup');
  }
});
