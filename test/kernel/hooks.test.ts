// The hooks this machine's kernel cannot run, attached through the library's attach APIs and
// counted exactly: kprobe and kretprobe, kprobe.multi (or the NotSupportedError naming what the
// kernel lacks), kprobe sessions (Linux 6.10; before, the NotSupportedError naming it), fentry, fexit, fmod_ret and lsm (BPF trampolines) and freplace. On a kernel
// without kprobes or that refuses trampolines, the parts that need them skip with the reason, even
// under CI=true; in the kernel matrix (`npm run test:kernels`), whose Debian kernels have both,
// they must run.
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { LinkType } from '../../src/constants.js';
import { NotSupportedError } from '../../src/errors.js';
import { kprobesAvailable } from '../../src/features/kernel.js';
import { haveFeature, KPROBE_SESSION, notSupportedMessage } from '../../src/features/index.js';
import { versionAtLeast } from '../../src/features/feature.js';
import { autoAttachLoaded } from '../../src/link/auto.js';
import {
  attachKprobe,
  attachKprobeMulti,
  attachKretprobe,
  KprobeGroup,
  KprobeLink,
  KprobeMultiLink,
} from '../../src/link/kprobe.js';
import { MULTI_LINK_FALLBACK } from '../../src/link/probe-group.js';
import { Link } from '../../src/link/link.js';
import { attachRawTracepoint } from '../../src/link/tracepoint.js';
import { LoadError, loadObject, type LoadedObject } from '../../src/loader/index.js';
import { parseKernelConfig, readKernelConfig } from '../../src/loader/kconfig.js';
import { loadObjectSpec } from '../../src/object/index.js';
import { SyscallError } from '../../src/sys/error.js';
import { KERNEL_SERIES, needKernel, needRoot, TESTDATA } from '../helpers.js';

const HOOKS_O = join(TESTDATA, 'hooks-el.o');
const SESSION_O = join(TESTDATA, 'uprobe_multi-el.o');
const XDP_PASS = 2;
const XDP_TX = 3;

type Counters = Record<string, bigint>;

function load(programs: string[]): LoadedObject {
  const spec = loadObjectSpec(HOOKS_O);
  spec.rodata.target_pid = process.pid;
  return loadObject(spec, { programs });
}

/** getppid(2) `n` times: Node's process.ppid asks the kernel on every read. */
function getppid(n: number): void {
  for (let i = 0; i < n; i++) void process.ppid;
}

/** Loads the trampoline programs, or undefined where the kernel refuses them (EPERM) as here. */
function loadTrampolines(): LoadedObject | { refused: string } {
  try {
    return load(['fentry_open', 'fexit_open', 'fmod_ret_open', 'lsm_open']);
  } catch (e) {
    const cause = e instanceof LoadError ? e.cause : undefined;
    if (cause instanceof SyscallError && cause.command === 'BPF_PROG_LOAD' && cause.code === 'EPERM')
      return {
        refused: `this kernel refuses BPF trampolines (${e instanceof Error ? e.message.split('\n')[0] : ''})`,
      };
    throw e;
  }
}

test('kprobe and kretprobe on __x64_sys_getppid count every call, and see its return value', (t) => {
  if (!needRoot(t) || !needKernel(t, kprobesAvailable(), 'this kernel has no kprobes (no kprobe PMU)'))
    return;
  using obj = load(['kprobe_getppid', 'kretprobe_getppid']);
  const entry = attachKprobe(obj.program('kprobe_getppid'), '__x64_sys_getppid');
  const exit = autoAttachLoaded(obj, 'kretprobe_getppid');
  const bss = obj.bss as Counters;
  try {
    assert.ok(entry instanceof KprobeLink && exit instanceof KprobeLink && exit.retprobe);
    // The way it attached: a perf_event bpf_link from Linux 5.15, PERF_EVENT_IOC_SET_BPF before.
    const linked = versionAtLeast(release(), '5.15');
    for (const l of [entry, exit]) assert.equal(l.link !== undefined, linked, `perf_event link: ${linked}`);
    if (linked) assert.equal(entry.info().type, LinkType.PERF_EVENT);
    else assert.throws(() => entry.info(), /needs a perf_event bpf_link \(Linux 5\.15\)/);
    getppid(25);
    assert.equal(bss.kprobe_calls, 25n);
    assert.equal(bss.kretprobe_calls, 25n);
    assert.equal(bss.kretprobe_ret, BigInt(process.ppid));
  } finally {
    entry.close();
    exit.close();
  }
  getppid(5);
  assert.equal(bss.kprobe_calls, 26n, 'detached: only the read in the assertion above counted');
  assert.equal(bss.kretprobe_calls, 26n);
  // Retprobes through the explicit API too.
  const again = attachKretprobe(obj.program('kretprobe_getppid'), '__x64_sys_getppid');
  try {
    getppid(3);
    assert.equal(bss.kretprobe_calls, 29n);
  } finally {
    again.close();
  }
});

test('kprobe.multi counts every call: one kprobe_multi link where the kernel has them, else one kprobe per function, saying so', async (t) => {
  if (!needRoot(t) || !needKernel(t, kprobesAvailable(), 'this kernel has no kprobes (no kprobe PMU)'))
    return;
  const loadWarnings: string[] = [];
  const spec = loadObjectSpec(HOOKS_O);
  spec.rodata.target_pid = process.pid;
  using obj = loadObject(spec, {
    programs: ['multi_getppid'],
    trace: (e) => {
      if (e.kind === 'warning') loadWarnings.push(e.message);
    },
  });
  const text = readKernelConfig();
  const fprobe = text !== undefined && parseKernelConfig(text).get('CONFIG_FPROBE') === 'y';
  const expected = versionAtLeast(release(), '5.18') && fprobe;
  const why = versionAtLeast(release(), '5.18')
    ? /kprobe_multi links \(BPF_TRACE_KPROBE_MULTI\) requires a kernel built with CONFIG_FPROBE/
    : /kprobe_multi links \(BPF_TRACE_KPROBE_MULTI\) requires Linux 5\.18 or later/;
  const warned: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    if (w.code === MULTI_LINK_FALLBACK) warned.push(w.message);
  };
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const link = autoAttachLoaded(obj, 'multi_getppid');
  try {
    if (expected) {
      assert.ok(link instanceof Link);
      assert.equal(link.info().type, LinkType.KPROBE_MULTI);
      assert.deepEqual(loadWarnings, []);
    } else {
      // Loaded for single kprobes, attached one per function (here one function).
      assert.ok(link instanceof KprobeGroup, `Linux ${release()}: ${String(link)}`);
      assert.equal(link.probes.length, 1);
      assert.match(link.reason, why);
      assert.equal(loadWarnings.length, 1);
      assert.match(loadWarnings[0]!, why);
    }
    getppid(17);
    assert.equal((obj.bss as Counters).multi_calls, 17n);
  } finally {
    link.close();
  }
  getppid(3);
  assert.equal((obj.bss as Counters).multi_calls, 17n, 'detached');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(warned.length, expected ? 0 : 1, warned.join('\n'));
  if (!expected) {
    // The link alone, asked for, is refused naming what the kernel lacks.
    assert.throws(
      () => attachKprobeMulti(obj.program('multi_getppid'), ['__x64_sys_getppid'], { mode: 'multi' }),
      (e: unknown) => e instanceof NotSupportedError && why.test(e.message),
    );
  }
  assert.throws(
    () => attachKprobeMulti(obj.program('multi_getppid'), ['ebpf_no_such_function_x']),
    /ebpf_no_such_function_x/,
  );
});

test('kprobe.session on __x64_sys_getppid: the return probe only for entries that returned 0, each with its cookie', (t) => {
  if (!needRoot(t) || !needKernel(t, kprobesAvailable(), 'this kernel has no kprobes (no kprobe PMU)'))
    return;
  const spec = loadObjectSpec(SESSION_O);
  spec.rodata.target_pid = process.pid;
  if (!haveFeature(KPROBE_SESSION)) {
    // 5.10 and 6.1 (no CONFIG_FPROBE either): the load says which kernel the session needs.
    assert.throws(
      () => loadObject(spec, { programs: ['ksession'] }).close(),
      (e: unknown) =>
        e instanceof NotSupportedError &&
        e.message.includes(notSupportedMessage(KPROBE_SESSION)) &&
        /kprobe sessions \(BPF_TRACE_KPROBE_SESSION\) requires Linux 6\.10/.test(e.message),
    );
    return;
  }
  using obj = loadObject(spec, { programs: ['ksession'] });
  const bss = obj.bss as Counters;
  const counts = (): bigint[] => [bss.ksession_entries!, bss.ksession_returns!, bss.ksession_cookie_sum!];
  // From the section name: entries 1..9, returns for 2, 4, 6 and 8, each seeing its entry's cookie.
  const link = autoAttachLoaded(obj, 'ksession');
  try {
    assert.ok(link instanceof KprobeMultiLink && link.session);
    assert.equal(link.info().type, LinkType.KPROBE_MULTI);
    getppid(9);
    assert.deepEqual(counts(), [9n, 4n, 2n + 4n + 6n + 8n + 4n * 1000n]);
  } finally {
    link.close();
  }
  getppid(3);
  assert.deepEqual(counts(), [9n, 4n, 4020n], 'detached');
  // Through the API: entries 10 and 11, a return for 10.
  const again = attachKprobeMulti(obj.program('ksession'), ['__x64_sys_getppid'], { session: true });
  try {
    getppid(2);
    assert.deepEqual(counts(), [11n, 5n, 4020n + 1010n]);
  } finally {
    again.close();
  }
});

test('fentry, fexit, fmod_ret and lsm on opening a file: exact counts, fexit sees the result, fmod_ret and lsm refuse it', (t) => {
  if (!needRoot(t)) return;
  const loaded = loadTrampolines();
  if ('refused' in loaded) {
    needKernel(t, false, loaded.refused);
    return;
  }
  using obj = loaded;
  // On a tmpfs: on an overlay (the VMs' root, containers) each open also opens the file beneath,
  // with the same inode number, and every hook would count twice.
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ebpf-hooks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'target');
  writeFileSync(file, 'x');
  const bss = obj.bss as Counters & { deny: number };
  bss.target_ino = BigInt(statSync(file).ino);
  const links = ['fentry_open', 'fexit_open', 'fmod_ret_open', 'lsm_open'].map((p) =>
    autoAttachLoaded(obj, p),
  );
  const openIt = (): string => {
    try {
      closeSync(openSync(file, 'r'));
      return 'ok';
    } catch (e) {
      return (e as NodeJS.ErrnoException).code ?? String(e);
    }
  };
  const counts = (): (bigint | undefined)[] => [
    bss.fentry_calls,
    bss.fmod_ret_calls,
    bss.lsm_calls,
    bss.fexit_calls,
  ];
  try {
    for (const l of links) assert.equal((l as Link).info().type, LinkType.TRACING);
    for (let i = 0; i < 6; i++) assert.equal(openIt(), 'ok');
    assert.deepEqual(counts(), [6n, 6n, 6n, 6n]);
    assert.equal(bss.fexit_ret, 0n);
    // The LSM hook refuses: every program ran, fexit saw -EPERM.
    bss.deny = 2;
    assert.equal(openIt(), 'EPERM');
    assert.deepEqual(counts(), [7n, 7n, 7n, 7n]);
    assert.equal(bss.fexit_ret, -1n);
    // fmod_ret refuses: security_file_open's body (and so the LSM hook) never runs.
    bss.deny = 1;
    assert.equal(openIt(), 'EPERM');
    assert.deepEqual(counts(), [8n, 8n, 7n, 8n]);
    assert.equal(bss.fexit_ret, -1n);
    bss.deny = 0;
    assert.equal(openIt(), 'ok');
    assert.deepEqual(counts(), [9n, 9n, 8n, 9n]);
  } finally {
    for (const l of links) l.close();
  }
  bss.deny = 2;
  assert.equal(openIt(), 'ok', 'detached: nothing refuses');
  assert.deepEqual(counts(), [9n, 9n, 8n, 9n]);
});

test('freplace: the extension replaces the target global function until its link closes', (t) => {
  if (!needRoot(t)) return;
  using target = loadObject(join(TESTDATA, 'freplace_target-el.o'));
  const prog = target.program('freplace_target');
  const packet = new Uint8Array(64);
  assert.equal(prog.testRun({ dataIn: packet }).retval, XDP_PASS);
  let ext: LoadedObject;
  try {
    ext = loadObject(join(TESTDATA, 'freplace-el.o'), { attachTarget: { program: prog } });
  } catch (e) {
    const cause = e instanceof LoadError ? e.cause : undefined;
    if (cause instanceof SyscallError && cause.code === 'EPERM') {
      needKernel(t, false, `this kernel refuses BPF trampolines, freplace included (${cause.message})`);
      return;
    }
    throw e;
  }
  using _ext = ext;
  ext.map('verdict').update(0, XDP_TX);
  const link = attachRawTracepoint(ext.program('new_verdict'));
  try {
    assert.equal(link.info().type, LinkType.TRACING);
    assert.equal(prog.testRun({ dataIn: packet, repeat: 10 }).retval, XDP_TX);
    // A short packet: the replaced function no longer drops it either.
    assert.equal(prog.testRun({ dataIn: new Uint8Array(14) }).retval, XDP_TX);
  } finally {
    link.close();
  }
  assert.equal(prog.testRun({ dataIn: packet }).retval, XDP_PASS, 'link closed: the original again');
});

test('the kernel matrix runs on the kernel it names', (t) => {
  if (KERNEL_SERIES === undefined) {
    t.skip('not in the kernel matrix (EBPF_KERNEL_SERIES unset)');
    return;
  }
  assert.ok(release().startsWith(`${KERNEL_SERIES}.`), `${release()} is not ${KERNEL_SERIES}`);
});
