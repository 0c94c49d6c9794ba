// Feature probes against the running kernel: every probe says yes on a kernel at least as new as
// the version it names, says no to what the kernel really lacks, and leaks no descriptor.
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { test } from 'node:test';
import { NotSupportedError } from '../src/errors.js';
import * as features from '../src/features/index.js';
import { attempt } from '../src/features/attempt.js';
import {
  feature,
  haveFeature,
  requireFeature,
  resetFeatureCache,
  versionAtLeast,
} from '../src/features/feature.js';
import { mapCreate } from '../src/sys/bpf.js';
import { ProgType } from '../src/constants.js';
import { parseKernelConfig, readKernelConfig } from '../src/loader/kconfig.js';
import { needRoot, bpfDescriptors, TESTDATA } from './helpers.js';
import { loadObject } from '../src/loader/index.js';
import { join } from 'node:path';

const openFds = (): string[] => bpfDescriptors();

/**
 * Set by the kernel matrix (scripts/test-kernels.ts) in its VMs, which run Debian's stock kernels:
 * there a feature newer than the kernel must be absent too (distribution kernels with backports,
 * RHEL's, can have some early, so elsewhere only the yes direction is asserted).
 */
const STOCK_KERNEL = process.env.EBPF_KERNEL_SERIES !== undefined;

/**
 * Probes the reference machine's kernel (6.18, a Firecracker build) refuses with EPERM although
 * its version has them; the stock kernels of the matrix answer them.
 */
const HOST_REFUSES: Record<string, string> = {
  BPF_MAP_TYPE_ARENA: 'arena maps are refused with EPERM even to root',
};

test('every probe answers yes on a kernel new enough for it (and no on an older stock kernel)', (t) => {
  if (!needRoot(t)) return;
  const before = openFds();
  resetFeatureCache();
  // The program-type probes the loader makes on a refused load (made on first request) too.
  for (const [type, version] of Object.entries(features.PROG_TYPE_VERSIONS))
    features.progTypeFeature(Number(type), version!);
  const results = features.probeAll();
  const text = readKernelConfig();
  const config = text !== undefined ? parseKernelConfig(text) : undefined;
  assert.ok(results.length >= 25, `${results.length} probes`);
  for (const r of results) {
    const refused = HOST_REFUSES[r.name];
    if (!STOCK_KERNEL && refused !== undefined && r.error !== undefined && /EPERM/.test(String(r.error))) {
      t.diagnostic(`${r.name}: ${refused}`);
      continue;
    }
    assert.equal(r.error, undefined, `${r.name}: ${String(r.error)}`);
    assert.match(r.version, /^\d+\.\d+$/, r.name);
    if (r.config !== undefined && config !== undefined && !/^[ym]$/.test(config.get(r.config) ?? '')) {
      // Built without the option it needs: absent whatever the version.
      assert.equal(r.supported, false, `${r.name} (${r.config} not set) on ${release()}`);
    } else if (versionAtLeast(release(), r.version)) {
      assert.equal(r.supported, true, `${r.name} (Linux ${r.version}) on ${release()}`);
    } else if (STOCK_KERNEL) {
      assert.equal(r.supported, false, `${r.name} (Linux ${r.version}) on ${release()}`);
    }
  }
  assert.deepEqual(
    features
      .missingFeatures()
      .filter(
        (f) =>
          versionAtLeast(release(), f.version) &&
          (f.config === undefined || config === undefined) &&
          (STOCK_KERNEL || HOST_REFUSES[f.name] === undefined),
      ),
    [],
  );
  assert.deepEqual(openFds(), before, 'probes close what they create');
});

test('the named probes the loader relies on exist with their versions', () => {
  const want: [features.Feature, string][] = [
    [features.BTF_KIND_FUNC, '5.0'],
    [features.BTF_KIND_DATASEC, '5.2'],
    [features.BTF_FUNC_GLOBAL, '5.6'],
    [features.BTF_KIND_FLOAT, '5.13'],
    [features.BTF_KIND_DECL_TAG, '5.16'],
    [features.BTF_KIND_TYPE_TAG, '5.17'],
    [features.BTF_KIND_ENUM64, '6.0'],
    [features.GLOBAL_DATA, '5.2'],
    [features.MAP_FREEZE, '5.2'],
    [features.BPF_F_MMAPABLE_FLAG, '5.5'],
    [features.BPF_TO_BPF_CALLS, '4.16'],
    [features.CALLBACKS, '5.13'],
    [features.KFUNC_CALLS, '5.13'],
    [features.ATOMICS, '5.12'],
    [features.PROG_NAME, '4.15'],
    [features.MAP_NAME, '4.15'],
    [features.RINGBUF, '5.8'],
    [features.XDP_LINK, '5.9'],
    [features.TCX, '6.6'],
    [features.BPF_COOKIE, '5.15'],
    [features.PROBE_READ_KERNEL, '5.5'],
    [features.SYSCALL_WRAPPER, '4.17'],
  ];
  for (const [f, v] of want) assert.equal(f.version, v, f.name);
  assert.equal(features.BTF_FUNC_GLOBAL.name, 'BTF_KIND_FUNC global linkage');
});

test('probes say no to what the kernel lacks, and are memoised', (t) => {
  if (!needRoot(t)) return;
  let runs = 0;
  const bogus = feature('map type 0xfff', '99.0', () => {
    runs++;
    return attempt(() => mapCreate({ map_type: 0xfff, key_size: 4, value_size: 4, max_entries: 1 }));
  });
  assert.equal(haveFeature(bogus), false);
  assert.equal(haveFeature(bogus), false);
  assert.equal(runs, 1);
  assert.throws(
    () => requireFeature(bogus),
    (e: unknown) => e instanceof NotSupportedError && /requires Linux 99\.0/.test(String(e)),
  );
  // Helpers: an unknown id, and a real helper a socket filter may not call.
  assert.equal(haveFeature(features.helperFeature(ProgType.SOCKET_FILTER, 0x7fff, 'bogus', '99.0')), false);
  assert.equal(
    haveFeature(features.helperFeature(ProgType.SOCKET_FILTER, 174, 'bpf_get_attach_cookie', '5.15')),
    false,
  );
  assert.equal(
    haveFeature(features.helperFeature(ProgType.KPROBE, 174, 'bpf_get_attach_cookie', '5.15')),
    versionAtLeast(release(), '5.15'),
  );
  // A probe that cannot tell (here: a thrown non-kernel error) is not memoised as an answer.
  let calls = 0;
  const flaky = feature('flaky', '1.0', () => {
    calls++;
    if (calls === 1) throw new Error('cannot tell');
    return true;
  });
  assert.throws(() => haveFeature(flaky), /cannot tell/);
  assert.equal(haveFeature(flaky), true);
});

test('a program with a callback loads where the callbacks probe says yes, and is a NotSupportedError naming it where not (5.10)', (t) => {
  if (!needRoot(t)) return;
  const path = join(TESTDATA, 'calls-el.o');
  if (haveFeature(features.CALLBACKS)) {
    loadObject(path).close();
    return;
  }
  // libbpf passes xdp_loop (bpf_loop's callback) on to a 5.10 kernel, which answers only "number
  // of funcs in func_info doesn't match number of subprogs"; both refuse the object.
  assert.throws(
    () => loadObject(path).close(),
    (e: unknown) =>
      e instanceof NotSupportedError &&
      e.location.program === 'xdp_loop' &&
      /callbacks \(ld_imm64 BPF_PSEUDO_FUNC\) requires Linux 5\.13 or later/.test(e.message),
  );
  // Its other programs load.
  loadObject(path, { programs: ['xdp_calls', 'tc_calls'] }).close();
});
