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
import { helperRefusalIn } from '../src/internal/helper-refusal.js';
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

test('the log reader behind both the loader and the helper probes reads each kernel wording', () => {
  const at = (log: string, notAHelper?: number) => helperRefusalIn(log, notAHelper);
  // 5.10-6.1, and newer kernels, for a helper the program type may not call.
  assert.deepEqual(at('0: (85) call bpf_get_socket_cookie#46\nunknown func bpf_get_socket_cookie#46\n'), {
    id: 46,
    name: 'bpf_get_socket_cookie',
    reason: 'program-type',
  });
  assert.deepEqual(
    at('0: (85) call bpf_skb_load_bytes#26\nprogram of this type cannot use helper bpf_skb_load_bytes#26\n'),
    { id: 26, name: 'bpf_skb_load_bytes', reason: 'program-type' },
  );
  // Every kernel, for an id past its helpers; CO-RE's poison value is no helper.
  assert.deepEqual(at('invalid func unknown#250\nprocessed 1 insns\n'), {
    id: 250,
    name: undefined,
    reason: 'unknown',
  });
  assert.equal(at('0: (85) call unknown#195896080\ninvalid func unknown#195896080\n', 195896080), undefined);
  // GPL-only: the helper is the last call before the refusal.
  const gpl =
    '0: (85) call bpf_ktime_get_ns#5\n1: (85) call bpf_trace_printk#6\ncannot call GPL-restricted function from non-GPL compatible program\n';
  assert.deepEqual(at(gpl), { id: 6, name: 'bpf_trace_printk', reason: 'gpl' });
  // Other refusals, and wording inside a longer line, are not helper refusals.
  assert.equal(at('R1 type=scalar expected=fp\n'), undefined);
  assert.equal(at('note: unknown func bpf_x#1 was fine\n'), undefined);
});
