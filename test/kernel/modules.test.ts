// A kernel module's functions and types, as libbpf reaches them through /sys/kernel/btf/<module>:
// the kernel matrix's guest loads the veth module (scripts/vm/guest.sh). fentry on veth_open, a
// function only the veth module's BTF has, loads with attach_btf_id in that BTF and
// attach_btf_obj_fd its object, and counts exactly; CO-RE relocations against struct veth_priv,
// a type only the module has, equal what bpftool reads from the module's BTF; a kprobe on the same
// module function counts exactly on every kernel. Debian's 5.10 has no module BTF
// (CONFIG_DEBUG_INFO_BTF_MODULES, 5.11): there the fentry target is not found, as libbpf says
// too, and the kprobe still counts. test/load-oracle.test.ts compares the same object's xlated
// instructions with libbpf's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NotSupportedError } from '../../src/errors.js';
import { haveFeature } from '../../src/features/feature.js';
import { kprobesAvailable } from '../../src/features/kernel.js';
import { KFUNC_CALLS } from '../../src/features/programs.js';
import { autoAttachLoaded } from '../../src/link/auto.js';
import { LoadError, loadObject, type LoadedObject, type TraceEvent } from '../../src/loader/index.js';
import { KERNEL_SERIES, needKernel, needRoot, run, TESTDATA } from '../helpers.js';

const MODULES_O = join(TESTDATA, 'modules-el.o');
const MODULE_BTF = '/sys/kernel/btf/veth';
const CT_KFUNC_O = join(TESTDATA, 'ct_kfunc-el.o');
const CT_MODULE_BTF = '/sys/kernel/btf/nf_conntrack';

/** veth as a module the guest loaded (a host may have it built in, with its functions in vmlinux). */
const vethModule = (): boolean => KERNEL_SERIES !== undefined && existsSync('/sys/module/veth/initstate');
const VETH_REASON = 'runs in the kernel matrix (npm run test:kernels), whose guest loads the veth module';

type Counters = Record<string, bigint | number>;

/** A veth pair named after this process, its first device's ifindex; removed by the returned function. */
function vethPair(): { ifindex: number; up: () => void; remove: () => void } {
  const a = `vm${process.pid}a`;
  const b = `vm${process.pid}b`;
  run('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  const info = JSON.parse(run('ip', ['-j', 'link', 'show', a])) as { ifindex: number }[];
  return {
    ifindex: info[0]!.ifindex,
    up: () => void run('ip', ['link', 'set', a, 'up']),
    remove: () => void execFileSync('ip', ['link', 'del', a], { stdio: 'ignore' }),
  };
}

/** struct veth_priv's size and requested_headroom's byte offset, as bpftool reads the module's BTF. */
function vethPrivFromBpftool(): { size: number; offset: number } {
  const text = run('bpftool', ['-B', '/sys/kernel/btf/vmlinux', 'btf', 'dump', 'file', MODULE_BTF]);
  const m = /^\[\d+\] STRUCT 'veth_priv' size=(\d+) vlen=\d+\n((?:\t.*\n)*)/m.exec(text);
  assert.ok(m !== null, 'STRUCT veth_priv in the veth module BTF');
  const member = /'requested_headroom' type_id=\d+ bits_offset=(\d+)/.exec(m[2]!);
  assert.ok(member !== null, m[0]);
  return { size: Number(m[1]), offset: Number(member[1]) / 8 };
}

/**
 * Attaches `program` (which counts veth_open calls for the ifindex in .bss), brings up a veth pair
 * once, detaches and removes the pair; returns the object's counters.
 */
function bringUpVethWith(obj: LoadedObject, program: string): Counters {
  const bss = obj.bss as Counters;
  const pair = vethPair();
  try {
    bss.target_ifindex = pair.ifindex;
    using _link = autoAttachLoaded(obj, program);
    pair.up();
  } finally {
    pair.remove();
  }
  return bss;
}

test('fentry on a module function (veth_open) and CO-RE against a module type (struct veth_priv), through the module BTF', (t) => {
  if (!needRoot(t)) return;
  if (!needKernel(t, vethModule(), VETH_REASON)) return;
  if (!existsSync(MODULE_BTF)) {
    // 5.10: no module BTF; libbpf: "failed to find kernel BTF type ID of 'veth_open'".
    assert.ok(
      KERNEL_SERIES === undefined || KERNEL_SERIES === '5.10',
      `no ${MODULE_BTF} on ${KERNEL_SERIES}`,
    );
    assert.throws(
      () => loadObject(MODULES_O, { programs: ['fentry_veth_open'] }).close(),
      (e: unknown) =>
        e instanceof LoadError &&
        e.location.program === 'fentry_veth_open' &&
        /attach target FUNC 'veth_open' not found in kernel BTF/.test(e.message),
    );
    t.diagnostic(
      `no module BTF here (${MODULE_BTF} missing): the fentry target is not found, as with libbpf`,
    );
    return;
  }
  const events: TraceEvent[] = [];
  using obj = loadObject(MODULES_O, { programs: ['fentry_veth_open'], trace: (e) => events.push(e) });
  const loaded = events.find((e) => e.kind === 'program' && e.name === 'fentry_veth_open');
  assert.ok(loaded?.kind === 'program' && loaded.attachModule === 'veth', JSON.stringify(loaded));
  // The id the kernel holds is the module's, and bpftool names the function from it.
  const info = JSON.parse(
    run('bpftool', ['-j', 'prog', 'show', 'id', String(obj.program('fentry_veth_open').info().id)]),
  ) as { attach_btf_obj_id?: number; attach_btf_id?: number };
  const dumped = run('bpftool', ['-B', '/sys/kernel/btf/vmlinux', 'btf', 'dump', 'file', MODULE_BTF]);
  assert.match(dumped, new RegExp(`^\\[${loaded.attachBtfId}\\] FUNC 'veth_open' `, 'm'));
  if (info.attach_btf_id !== undefined) assert.equal(info.attach_btf_id, loaded.attachBtfId);

  const bss = bringUpVethWith(obj, 'fentry_veth_open');
  assert.equal(bss.fentry_calls, 1n);
  const want = vethPrivFromBpftool();
  assert.equal(bss.priv_exists, 1);
  assert.equal(bss.priv_size, want.size, 'sizeof(struct veth_priv) in the module');
  assert.equal(bss.headroom_offset, want.offset, 'offsetof(struct veth_priv, requested_headroom)');
});

test('kprobe on a module function (veth_open) counts exactly', (t) => {
  if (!needRoot(t) || !needKernel(t, kprobesAvailable(), 'this kernel has no kprobes (no kprobe PMU)'))
    return;
  if (!needKernel(t, vethModule(), VETH_REASON)) return;
  using obj = loadObject(MODULES_O, { programs: ['kprobe_veth_open'] });
  const bss = bringUpVethWith(obj, 'kprobe_veth_open');
  assert.equal(bss.kprobe_calls, 1n);
});

test("a kfunc in a module: nf_conntrack's bpf_xdp_ct_lookup, called through the module's BTF, answers exactly", (t) => {
  if (!needRoot(t)) return;
  if (!haveFeature(KFUNC_CALLS)) {
    // 5.10: no kfunc calls at all (its verifier would say only "BPF_CALL uses reserved fields").
    assert.throws(
      () => loadObject(CT_KFUNC_O).close(),
      (e: unknown) =>
        e instanceof NotSupportedError &&
        /extern \(func ksym\) 'bpf_(xdp_ct_lookup|ct_release)': kfunc calls \(BPF_PSEUDO_KFUNC_CALL\) requires Linux 5\.13 or later/.test(
          e.message,
        ),
    );
    return;
  }
  // In the kernel matrix the guest loads nf_conntrack, whose BTF has the kfunc; a host may have it
  // built in (vmlinux's BTF), or lack it.
  const inModule = existsSync(CT_MODULE_BTF);
  if (
    !needKernel(t, inModule || KERNEL_SERIES === undefined, `no ${CT_MODULE_BTF} (nf_conntrack not loaded)`)
  )
    return;
  const events: TraceEvent[] = [];
  let obj: LoadedObject;
  try {
    obj = loadObject(CT_KFUNC_O, { trace: (e) => events.push(e) });
  } catch (e) {
    if (!inModule && e instanceof LoadError && /'bpf_xdp_ct_lookup': not found/.test(e.message)) {
      t.skip('no nf_conntrack kfuncs in this kernel (not built in, module not loaded)');
      return;
    }
    throw e;
  }
  using _obj = obj;
  const reloc = events.filter(
    (e): e is Extract<TraceEvent, { kind: 'relocation' }> =>
      e.kind === 'relocation' && e.reference.kind === 'kfunc' && e.reference.name === 'bpf_xdp_ct_lookup',
  );
  assert.equal(reloc.length, 1, JSON.stringify(events.filter((e) => e.kind === 'relocation')));
  const m = /kfunc 'bpf_xdp_ct_lookup' (\S+) BTF \[(\d+)\](?:, fd_array\[(\d+)\])?/.exec(reloc[0]!.after);
  assert.ok(m !== null, reloc[0]!.after);
  // The id is the function's in the BTF that has it (bpftool reads the same), and a module's BTF
  // is named by a non-zero fd_array index.
  const btfFile = inModule ? CT_MODULE_BTF : '/sys/kernel/btf/vmlinux';
  assert.equal(m[1], inModule ? 'nf_conntrack' : 'vmlinux');
  assert.equal(m[3] !== undefined, inModule, 'fd_array index only for a module');
  const base = inModule ? ['-B', '/sys/kernel/btf/vmlinux'] : [];
  const dumped = run('bpftool', [...base, 'btf', 'dump', 'file', btfFile]);
  const named = /^\[(\d+)\] FUNC 'bpf_xdp_ct_lookup' /m.exec(dumped);
  assert.equal(named?.[1], m[2], `bpftool's id of bpf_xdp_ct_lookup in ${btfFile}`);

  const prog = obj.program('ct_lookup');
  const bss = obj.bss as Counters;
  // (l4proto and last_error start non-zero: they are in .data.)
  const data = obj.data as Counters;
  const packet = new Uint8Array(64);
  assert.equal(prog.testRun({ dataIn: packet, repeat: 3 }).retval, 2 /* XDP_PASS */);
  const ENOENT = 2;
  const EPROTO = 71;
  assert.deepEqual(
    { lookups: bss.lookups, found: bss.found, error: data.last_error },
    {
      lookups: 3n,
      found: 0n,
      error: -ENOENT,
    },
  );
  // Neither TCP nor UDP: the module refuses the protocol.
  data.l4proto = 1; // IPPROTO_ICMP
  prog.testRun({ dataIn: packet });
  assert.deepEqual(
    { lookups: bss.lookups, found: bss.found, error: data.last_error },
    {
      lookups: 4n,
      found: 0n,
      error: -EPROTO,
    },
  );
});
