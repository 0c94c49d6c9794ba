// uprobes, kprobes and BTF tracepoints attached to real events: a program compiled here with gcc
// (its calls counted, arguments and return values summed, each link's bpf_cookie seen), Node's own
// uv_os_getppid from a `uretprobe//proc/self/exe:` section, execs of children seen by tp_btf, and
// kprobes, which this machine's kernel lacks: there the test asserts the clear NotSupportedError,
// and on a kernel with a kprobe PMU it attaches and counts instead. bpftool shows the links.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LinkType } from '../src/constants.js';
import { EbpfError, NotFoundError, NotSupportedError } from '../src/errors.js';
import { versionAtLeast } from '../src/features/feature.js';
import { autoAttachLoaded, kernelFunctionsMatching } from '../src/link/auto.js';
import { attachKprobe, attachKprobeMulti, attachKretprobe, KprobeLink } from '../src/link/kprobe.js';
import { Link } from '../src/link/link.js';
import { pmuType } from '../src/link/probe-link.js';
import { attachRawTracepoint } from '../src/link/tracepoint.js';
import { attachUprobe, attachUretprobe, UprobeLink } from '../src/link/uprobe.js';
import { readBinary, symbolFileOffset } from '../src/link/uprobe-target.js';
import { loadObject } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { needRoot, needTool, ROOT, TESTDATA } from './helpers.js';

const UPROBE_O = join(TESTDATA, 'uprobe-el.o');
const KPROBE_O = join(TESTDATA, 'kprobe-el.o');
const TP_BTF_O = join(TESTDATA, 'tp_btf-el.o');

/** target(i) returns 3i + 1; the program prints the sum over i < n. */
const sumOfTargets = (n: number): number => (3 * n * (n - 1)) / 2 + n;

let targetBin: string | undefined;

/** The target program, compiled once for the file (gcc is slow in the kernel matrix's VMs). */
function compileTarget(t: TestContext): string | undefined {
  if (!needRoot(t) || !needTool(t, 'gcc') || !needTool(t, 'bpftool')) return undefined;
  if (targetBin === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-uprobe-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, 'uprobe_target');
    // -no-pie: function addresses differ from file offsets, so the conversion matters.
    execFileSync('gcc', ['-O1', '-no-pie', '-o', bin, join(ROOT, 'test/c/uprobe_target.c')]);
    targetBin = bin;
  }
  return targetBin;
}

function runTarget(bin: string, n: number): number {
  return Number(execFileSync(bin, [String(n)], { encoding: 'utf8' }).trim());
}

function bpftoolLink(id: number): { type: string; prog_id: number } {
  return JSON.parse(
    execFileSync('bpftool', ['-j', 'link', 'show', 'id', String(id)], { encoding: 'utf8' }),
  ) as {
    type: string;
    prog_id: number;
  };
}

test('uprobe and uretprobe count calls, see arguments, return values and cookies', (t) => {
  const bin = compileTarget(t);
  if (bin === undefined) return;
  using obj = loadObject(UPROBE_O);
  // perf_event links and bpf_cookie are Linux 5.15: before (5.10 in the kernel matrix) a cookie is
  // refused by name and the probes attach with PERF_EVENT_IOC_SET_BPF on the perf event.
  const links = versionAtLeast(release(), '5.15');
  if (!links)
    assert.throws(
      () => attachUprobe(obj.program('on_enter'), bin, { symbol: 'target', cookie: 1n }),
      (e: unknown) =>
        e instanceof NotSupportedError &&
        /a bpf_cookie needs perf_event links \(Linux 5\.15\)/.test(e.message),
    );
  const cookie = (c: bigint): { cookie?: bigint } => (links ? { cookie: c } : {});
  const enter = attachUprobe(obj.program('on_enter'), bin, { symbol: 'target', ...cookie(0xc0ffeen) });
  const exit = attachUretprobe(obj.program('on_return'), bin, { symbol: 'target', ...cookie(77n) });
  try {
    assert.ok(enter instanceof UprobeLink && !enter.retprobe && exit.retprobe);
    assert.equal(enter.fileOffset, symbolFileOffset(readBinary(bin), 'target'));
    assert.equal(runTarget(bin, 40), sumOfTargets(40));
    const bss = obj.bss as Record<string, bigint>;
    assert.equal(bss.calls, 40n);
    assert.equal(bss.arg_sum, BigInt((40 * 39) / 2));
    assert.equal(bss.enter_cookie, links ? 0xc0ffeen : 0n);
    assert.equal(bss.returns, 40n);
    assert.equal(bss.ret_sum, BigInt(sumOfTargets(40)));
    assert.equal(bss.last_ret, BigInt(3 * 39 + 1));
    assert.equal(bss.exit_cookie, links ? 77n : 0n);

    for (const l of [enter, exit]) assert.equal(l.link !== undefined, links, `perf_event link: ${links}`);
    if (links) {
      const info = enter.info();
      assert.equal(info.type, LinkType.PERF_EVENT);
      assert.equal(info.progId, obj.program('on_enter').info().id);
      const shown = bpftoolLink(info.id);
      assert.equal(shown.type, 'perf_event');
      assert.equal(shown.prog_id, info.progId);
    } else assert.throws(() => enter.info(), /link info needs a perf_event bpf_link \(Linux 5\.15\)/);
  } finally {
    enter.close();
    exit.close();
  }
  assert.ok(enter.closed);
  enter.close(); // idempotent
  runTarget(bin, 5);
  assert.equal((obj.bss as Record<string, bigint>).calls, 40n, 'closed links no longer count');
});

test('uprobe by file offset, with a pid filter, pinned past its handle', async (t) => {
  const bin = compileTarget(t);
  if (bin === undefined) return;
  using obj = loadObject(UPROBE_O);
  const offset = symbolFileOffset(readBinary(bin), 'target');
  // A process that waits for a line before its calls, so the probe is on before they happen.
  const child = spawn(bin, ['7', 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pinPath = `/sys/fs/bpf/ebpf-test-uprobe-${process.pid}`;
  try {
    const l = attachUprobe(obj.program('on_enter'), bin, { offset, pid: child.pid! });
    assert.equal(l.pid, child.pid);
    assert.equal(l.symbol, undefined);
    runTarget(bin, 11); // another process: filtered out
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<number | null>((res) => child.on('exit', res));
    child.stdin.end('go\n');
    assert.equal(await done, 0);
    assert.equal(Number(out.trim()), sumOfTargets(7));
    assert.equal((obj.bss as Record<string, bigint>).calls, 7n, 'only the calls of the pid given');
    l.close();

    // Every process; pinned, then the handle closed: the pin keeps the probe.
    const all = attachUprobe(obj.program('on_enter'), bin, { symbol: 'target' });
    if (!versionAtLeast(release(), '5.15')) {
      // Attached with PERF_EVENT_IOC_SET_BPF: nothing to pin before perf_event links.
      assert.throws(() => all.pin(pinPath), /pinning needs a perf_event bpf_link \(Linux 5\.15\)/);
      runTarget(bin, 3);
      all.close();
      runTarget(bin, 3);
      assert.equal((obj.bss as Record<string, bigint>).calls, 10n, 'closed: gone');
      return;
    }
    all.pin(pinPath);
    assert.equal(all.pinnedAt, pinPath);
    all.close();
    runTarget(bin, 3);
    assert.equal((obj.bss as Record<string, bigint>).calls, 10n);
    const again = Link.fromPin(pinPath);
    assert.equal(again.info().type, LinkType.PERF_EVENT);
    again.unpin();
    again.close();
    runTarget(bin, 3);
    assert.equal((obj.bss as Record<string, bigint>).calls, 10n, 'unpinned and closed: gone');
  } finally {
    child.kill();
    rmSync(pinPath, { force: true });
  }
});

test('uprobe errors name what is wrong', (t) => {
  const bin = compileTarget(t);
  if (bin === undefined) return;
  using obj = loadObject(UPROBE_O);
  using tp = loadObject(TP_BTF_O);
  const p = obj.program('on_enter');
  assert.throws(() => attachUprobe(p, bin, { symbol: 'no_such_function' }), NotFoundError);
  assert.throws(() => attachUprobe(p, '/no/such/file', { symbol: 'main' }), NotFoundError);
  assert.throws(
    () => attachUprobe(tp.program('count_getppid'), bin, { symbol: 'target' }),
    (e: unknown) => e instanceof EbpfError && /not a uprobe/.test(e.message),
  );
  assert.throws(() => attachUprobe(p, bin, { symbol: 'target', pid: 0x7ffffff0 }), /ESRCH/);
});

test('uretprobe from the section name: uretprobe//proc/self/exe:uv_os_getppid', (t) => {
  if (!needRoot(t)) return;
  using obj = loadObject(UPROBE_O);
  const a = autoAttachLoaded(obj, 'count_getppid', { pid: process.pid });
  try {
    assert.ok(a instanceof UprobeLink);
    assert.equal(a.path, '/proc/self/exe');
    assert.equal(a.symbol, 'uv_os_getppid');
    // process.ppid calls uv_os_getppid each time it is read.
    for (let i = 0; i < 30; i++) void process.ppid;
    assert.equal((obj.bss as Record<string, bigint>).getppid_calls, 30n);
  } finally {
    a.close();
  }
  void process.ppid;
  assert.equal((obj.bss as Record<string, bigint>).getppid_calls, 30n);
  assert.throws(() => autoAttachLoaded(obj, 'on_enter'), /names no attach target/);
});

test('tp_btf/sched_process_exec sees this process start children; raw_tp/sys_enter counts getppid', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const spec = loadObjectSpec(TP_BTF_O);
  spec.rodata.target_pid = process.pid;
  using obj = loadObject(spec);
  const exec = autoAttachLoaded(obj, 'count_exec');
  const raw = autoAttachLoaded(obj, 'count_getppid');
  let last = 0;
  try {
    assert.ok(exec instanceof Link && raw instanceof Link);
    // BPF_RAW_TRACEPOINT_OPEN makes a raw_tracepoint link for tp_btf too; the kernel names the
    // tracepoint that the program's BTF id chose at load.
    const info = exec.info();
    assert.equal(info.type, LinkType.RAW_TRACEPOINT);
    const shown = bpftoolLink(info.id) as { type: string; tp_name?: string };
    assert.equal(shown.type, 'raw_tracepoint');
    assert.equal(shown.tp_name, 'sched_process_exec');
    assert.equal(raw.info().type, LinkType.RAW_TRACEPOINT);
    const bss = obj.bss as Record<string, bigint | number>;
    assert.equal(bss.execs, 1n, 'bpftool, run just now, was a child of this process too');
    for (let i = 0; i < 4; i++) last = spawnSync('/bin/true').pid!;
    for (let i = 0; i < 12; i++) void process.ppid;
    assert.equal(bss.execs, 5n);
    assert.equal(bss.exec_pid, last);
    assert.equal(bss.getppids, 12n);
  } finally {
    exec.close();
    raw.close();
  }
  spawnSync('/bin/true');
  assert.equal((obj.bss as Record<string, bigint>).execs, 5n);
  // A tp_btf program's target is fixed at load: giving a name is the raw tracepoint API's, refused.
  assert.throws(() => attachRawTracepoint(obj.program('count_getppid')), /needs a name/);
});

test('kprobes: NotSupportedError "kprobes unavailable" here, or attached and counting', (t) => {
  if (!needRoot(t)) return;
  const spec = loadObjectSpec(KPROBE_O);
  spec.rodata.target_pid = process.pid;
  using obj = loadObject(spec);
  const entry = obj.program('getppid_entry');
  const exit = obj.program('getppid_exit');
  const hasPmu = pmuType('kprobe') !== undefined;
  assert.equal(hasPmu, existsSync('/sys/bus/event_source/devices/kprobe'));
  if (!hasPmu) {
    const unavailable = (e: unknown): boolean =>
      e instanceof NotSupportedError && /kprobes unavailable: this kernel has no kprobe PMU/.test(e.message);
    assert.throws(() => attachKprobe(entry, '__x64_sys_getppid'), unavailable);
    assert.throws(() => attachKretprobe(exit, '__x64_sys_getppid'), unavailable);
    assert.throws(() => autoAttachLoaded(obj, 'getppid_entry'), unavailable);
  } else {
    // bpf_cookie (Linux 5.15) where perf_event links are.
    const links = versionAtLeast(release(), '5.15');
    const a = attachKprobe(entry, '__x64_sys_getppid', links ? { cookie: 5n } : {});
    const b = autoAttachLoaded(obj, 'getppid_exit');
    try {
      assert.ok(a instanceof KprobeLink && b instanceof KprobeLink && b.retprobe);
      for (let i = 0; i < 20; i++) void process.ppid;
      const bss = obj.bss as Record<string, bigint>;
      assert.equal(bss.entries, 20n);
      assert.equal(bss.exits, 20n);
      assert.equal(bss.cookie, links ? 5n : 0n);
      assert.equal(a.link !== undefined, links);
    } finally {
      a.close();
      b.close();
    }
    assert.throws(() => attachKprobe(entry, 'no_such_kernel_function_x'), NotFoundError);
  }
  // kprobe_multi needs fprobe, which kernels without kprobes lack as well.
  let multi: Link | undefined;
  try {
    multi = attachKprobeMulti(obj.program('getppid_multi'), ['__x64_sys_getppid'], { mode: 'multi' }) as Link;
  } catch (e) {
    assert.ok(
      e instanceof NotSupportedError &&
        /kprobe_multi links \(BPF_TRACE_KPROBE_MULTI\) requires (a kernel built with CONFIG_FPROBE|Linux 5\.18)/.test(
          e.message,
        ),
      String(e),
    );
  }
  if (multi !== undefined) {
    try {
      assert.equal(multi.info().type, LinkType.KPROBE_MULTI);
      for (let i = 0; i < 9; i++) void process.ppid;
      assert.equal((obj.bss as Record<string, bigint>).multi_entries, 9n);
    } finally {
      multi.close();
    }
  }
});

test('kprobe.multi patterns match kernel functions', (t) => {
  if (!needRoot(t)) return;
  // Syscalls that take arguments: 5.10 does not list its argument-less wrappers
  // (__x64_sys_getppid) in available_filter_functions, which kprobe.multi's fprobe would need.
  const got = kernelFunctionsMatching('__x64_sys_setres*id');
  assert.ok(got.includes('__x64_sys_setresuid') && got.includes('__x64_sys_setresgid'), got.join(' '));
  for (const n of got) assert.match(n, /^__x64_sys_setres.*id$/);
  assert.equal(new Set(got).size, got.length);
  assert.deepEqual(kernelFunctionsMatching('__x64_sys_setre?id').sort(), [
    '__x64_sys_setregid',
    '__x64_sys_setreuid',
  ]);
  assert.deepEqual(kernelFunctionsMatching('exact_name'), ['exact_name']);
  assert.deepEqual(kernelFunctionsMatching('no_such_fn_*'), []);
});
