// RLIMIT_MEMLOCK and BPF memory: kernels before 5.11 charge maps, programs and BTF to it, and a
// Debian 11 user's default of 64 KiB is a few maps. Starting at that limit (this file runs in its
// own process, and nothing here raised it before): a 1 MiB map made with the bare syscall fails
// there with an EPERM whose hint names RLIMIT_MEMLOCK (and succeeds where the memory cgroup is
// charged instead); BpfMap.create and loadObject raise the limit first where the kernel charges
// it, as libbpf does, and leave it alone elsewhere.
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MapType } from '../../src/constants.js';
import { haveFeature, versionAtLeast } from '../../src/features/feature.js';
import { MEMCG_ACCOUNTING } from '../../src/features/memlock.js';
import { loadObject } from '../../src/loader/index.js';
import { BpfMap } from '../../src/map/map.js';
import { mapCreate } from '../../src/sys/bpf.js';
import { SyscallError } from '../../src/sys/error.js';
import { getMemlockRlimit, RLIM_INFINITY, setMemlockRlimit } from '../../src/sys/rlimit.js';
import { needRoot, TESTDATA } from '../helpers.js';

const KiB64 = 65536n;
const big = { map_type: MapType.ARRAY, key_size: 4, value_size: 1024, max_entries: 1024 };

test('RLIMIT_MEMLOCK is raised where the kernel charges BPF memory to it, and named when it is the cause', (t) => {
  if (!needRoot(t)) return;
  const prev = getMemlockRlimit();
  t.after(() => setMemlockRlimit(prev));
  // The soft limit only: raising a hard limit back needs CAP_SYS_RESOURCE, which a container may lack.
  setMemlockRlimit({ soft: KiB64, hard: prev.hard });
  const charged = !versionAtLeast(release(), '5.11');

  let bare: unknown;
  try {
    mapCreate(big).close();
  } catch (e) {
    bare = e;
  }
  if (charged) {
    assert.ok(bare instanceof SyscallError && bare.code === 'EPERM', String(bare));
    assert.match(
      bare.message,
      /^BPF_MAP_CREATE: EPERM \(operation not permitted\): RLIMIT_MEMLOCK \(ulimit -l: 64 KiB\) is too low: this kernel \(before 5\.11\) charges BPF maps and programs to it/,
    );
  } else {
    assert.equal(bare, undefined, 'this kernel charges the memory cgroup, not RLIMIT_MEMLOCK');
  }
  assert.equal(getMemlockRlimit().soft, KiB64);

  BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 1024, maxEntries: 1024 }).close();
  assert.equal(getMemlockRlimit().soft, charged ? RLIM_INFINITY : KiB64, charged ? 'raised' : 'left alone');
  // (calls.c's xdp_loop passes a callback, which kernels before 5.13 lack: test/features.test.ts.)
  loadObject(join(TESTDATA, 'calls-el.o'), { programs: ['xdp_calls', 'tc_calls'] }).close();
  assert.equal(
    haveFeature(MEMCG_ACCOUNTING),
    !charged,
    'the memcg probe (bpf_ktime_get_coarse_ns, 5.11) answers as the kernel is',
  );
});
