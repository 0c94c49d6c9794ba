// A helper call the verifier refuses is explained by name and reason, on every kernel of the
// matrix: an id the kernel does not have (one past every helper, and bpf_ktime_get_tai_ns, which
// came in Linux 6.1), a helper the program type may not call, and a GPL-only helper under a BSD
// license. The kernel's own BTF (enum bpf_func_id) is the oracle for the names and for which
// helpers this kernel has.
import assert from 'node:assert/strict';
import { release } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Enum } from '../src/btf/types.js';
import { HelperFunc } from '../src/constants.js';
import { helperName, loadObject, VerifierError } from '../src/loader/index.js';
import { runningKernelBtf } from '../src/sys/kernel-btf.js';
import { needRoot, TESTDATA } from './helpers.js';

const OBJ = join(TESTDATA, 'helper_errors-el.o');

/** The kernel's helpers, id to BPF_FUNC_ name, from its BTF. */
function kernelHelpers(): Map<number, string> {
  const e = runningKernelBtf().findOne('bpf_func_id', 'ENUM') as Enum;
  return new Map(
    e.values.filter((v) => v.name.startsWith('BPF_FUNC_')).map((v) => [Number(v.value), v.name]),
  );
}

/** Loads one program of the object, which must be refused, and returns the VerifierError. */
function refusal(program: string): VerifierError {
  let err: unknown;
  try {
    loadObject(OBJ, { programs: [program] }).close();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof VerifierError, `${program}: ${String(err)}`);
  return err;
}

test('helper names: every helper of the running kernel is named as its BTF names it', () => {
  const helpers = kernelHelpers();
  assert.ok(helpers.size > 100, `bpf_func_id has ${helpers.size} helpers`);
  for (const [id, name] of helpers) {
    if (id === 0) continue; // BPF_FUNC_unspec
    assert.equal(helperName(id), `bpf_${name.slice('BPF_FUNC_'.length)}`, `helper #${id}`);
  }
  assert.equal(helperName(0), undefined);
  assert.equal(helperName(Math.max(...Object.values(HelperFunc)) + 1), undefined);
});

test('an id past every helper: the error says this kernel does not have it, nor any release known', (t) => {
  if (!needRoot(t)) return;
  const e = refusal('calls_future_helper');
  assert.deepEqual(e.helper, { id: 250, name: undefined, reason: 'unknown' });
  assert.match(e.message, /the program calls helper #250, which this kernel \(Linux [^)]+\) does not have/);
  assert.match(e.message, /helper_errors\.c:\d+/, 'the source line is still there');
  assert.match(e.log, /invalid func unknown#250/);
});

test('a helper the program type may not call: named, with the program type', (t) => {
  if (!needRoot(t)) return;
  const e = refusal('calls_xdp_helper');
  assert.deepEqual(e.helper, { id: 44, name: 'bpf_xdp_adjust_head', reason: 'program-type' });
  assert.match(e.message, /helper bpf_xdp_adjust_head \(#44\) is not available to socket_filter programs/);
});

test('a GPL-only helper under a BSD license: named, with the license', (t) => {
  if (!needRoot(t)) return;
  const e = refusal('calls_gpl_helper');
  assert.deepEqual(e.helper, { id: 113, name: 'bpf_probe_read_kernel', reason: 'gpl' });
  assert.match(
    e.message,
    /helper bpf_probe_read_kernel \(#113\) is GPL-only and the program's license 'BSD'/,
  );
});

test('bpf_ktime_get_tai_ns (Linux 6.1): loads where the kernel has it, else named as missing', (t) => {
  if (!needRoot(t)) return;
  const id = HelperFunc.ktime_get_tai_ns;
  if (kernelHelpers().has(id)) {
    const obj = loadObject(OBJ, { programs: ['calls_tai_clock'] });
    try {
      assert.ok(obj.program('calls_tai_clock').fd.fd >= 0);
    } finally {
      obj.close();
    }
    return;
  }
  const e = refusal('calls_tai_clock');
  assert.deepEqual(e.helper, { id, name: 'bpf_ktime_get_tai_ns', reason: 'unknown' });
  assert.match(
    e.message,
    new RegExp(
      `helper bpf_ktime_get_tai_ns \\(#${id}\\), which this kernel \\(Linux ${release().replace(/[.+]/g, '\\$&')}\\) does not have: it came in a later release`,
    ),
  );
});
