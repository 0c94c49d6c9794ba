// Links on a veth pair in a network namespace this test makes: XDP (modes, update, pin, detach), tcx,
// and legacy tc filters. Each case runs this same file again inside the namespace (`ip netns exec`),
// sends UDP across the veth there, and checks the attached program counted exactly those packets;
// bpftool, ip and tc, run inside the namespace too, are the oracles for what is attached.
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { asm, BPF_ADD, BPF_DW, BPF_JEQ, BPF_JNE, BPF_RSH, BPF_W, encode } from '../src/asm/index.js';
import { AttachType, LinkType, MapType, ProgType } from '../src/constants.js';
import { deleteNamespace, listNamespaces, makeVethNamespace } from '../src/cli/netns-veth.js';
import { NotSupportedError } from '../src/errors.js';
import { haveFeature, versionAtLeast } from '../src/features/feature.js';
import { TCX } from '../src/features/links.js';
import { Link, linkIds } from '../src/link/link.js';
import { ifindexOf } from '../src/link/netdev.js';
import { attachTc } from '../src/link/tc.js';
import { TcFilter } from '../src/link/tc-filter.js';
import { attachRawTracepoint, attachTracepoint } from '../src/link/tracepoint.js';
import { attachXdp } from '../src/link/xdp.js';
import { Program } from '../src/program/program.js';
import { mapCreate, mapLookupElem, progLoad } from '../src/sys/bpf.js';
import { SyscallError } from '../src/sys/error.js';
import type { Fd } from '../src/sys/fd.js';
import { cli, NODE_TS, needRoot, needTool, skipCliInMatrix } from './helpers.js';

const THIS = fileURLToPath(import.meta.url);
const CHILD = process.env.EBPF_LINK_TEST_CHILD;
const SENDER = 'veth0';
const RECEIVER = 'veth1';
const DEST = '10.200.0.2';

const XDP_PASS = 2;
const TC_ACT_OK = 0;

// ---- inside the namespace ---------------------------------------------------------------------

/**
 * A program that adds one to a one-entry array map for every run and returns `ret`; with
 * `onlyPid`, only for runs in this process (pid from bpf_get_current_pid_tgid).
 */
function counter(type: number, name: string, ret: number, onlyPid = false): { prog: Program; map: Fd } {
  const map = mapCreate({ map_type: MapType.ARRAY, key_size: 4, value_size: 8, max_entries: 1 });
  const pidCheck = onlyPid
    ? [
        asm.call(14), // bpf_get_current_pid_tgid
        asm.alu64Imm(BPF_RSH, 0, 32),
        asm.jmpImm(BPF_JNE, 0, process.pid, 9), // the counting block below is 9 slots
      ]
    : [];
  const insns = encode(
    [
      ...pidCheck,
      asm.st(BPF_W, 10, -4, 0),
      asm.mov64Reg(2, 10),
      asm.alu64Imm(BPF_ADD, 2, -4),
      asm.ldMapFd(1, map.fd),
      asm.call(1), // bpf_map_lookup_elem
      asm.jmpImm(BPF_JEQ, 0, 0, 2),
      asm.mov64Imm(1, 1),
      asm.atomic(BPF_DW, BPF_ADD, 0, 1, 0),
      asm.mov64Imm(0, ret),
      asm.exit(),
    ],
    true,
  );
  const { fd } = progLoad(
    { prog_type: type, prog_name: new TextEncoder().encode(name) },
    { insns, license: 'GPL' },
  );
  return { prog: Program.fromFd(fd), map };
}

function count(map: Fd): bigint {
  const v = new BigUint64Array(1);
  mapLookupElem(map.fd, new Uint32Array([0]), v);
  return v[0]!;
}

/** Sends `n` UDP datagrams from the sender end to DEST (across the veth). */
async function send(n: number): Promise<void> {
  const s = createSocket('udp4');
  try {
    for (let i = 0; i < n; i++) {
      await new Promise<void>((res, rej) =>
        s.send(Buffer.from(`packet ${i}`), 9999, DEST, (e) => (e ? rej(e) : res())),
      );
    }
  } finally {
    s.close();
  }
}

/**
 * The counter once it reaches `want` (or passes it), polling: delivery runs in softirq context,
 * which a loaded machine can defer, so a fixed sleep would make the exact counts below flaky.
 */
async function counted(map: Fd, want: bigint): Promise<bigint> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const n = count(map);
    if (n >= want || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Time for packets that should not be counted to have been, before checking they were not. */
async function quiet(): Promise<void> {
  await new Promise((r) => setTimeout(r, 200));
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

function bpftoolLink(id: number): Record<string, unknown> {
  return JSON.parse(sh('bpftool', ['-j', 'link', 'show', 'id', String(id)])) as Record<string, unknown>;
}

/** The XDP attachment `ip -d link` reports: mode word and program id. */
function ipXdp(dev: string): { mode: string; progId: number } | undefined {
  const j = JSON.parse(sh('ip', ['-d', '-j', 'link', 'show', dev])) as {
    xdp?: { mode: number; prog?: { id: number } };
  }[];
  const x = j[0]?.xdp;
  if (x === undefined) return undefined;
  // iproute2's XDP_ATTACHED_*: 1 driver, 2 generic (skb), 3 offload.
  const mode =
    ({ 1: 'driver', 2: 'generic', 3: 'offload' } as Record<number, string>)[x.mode] ?? String(x.mode);
  return { mode, progId: x.prog?.id ?? 0 };
}

async function childXdp(): Promise<void> {
  const ifindex = ifindexOf(RECEIVER);
  const a = counter(ProgType.XDP, 'cnt_a', XDP_PASS);
  const b = counter(ProgType.XDP, 'cnt_b', XDP_PASS);
  const idA = a.prog.info().id;
  const idB = b.prog.info().id;

  // Generic mode: counts exactly what crosses; info, bpftool and ip agree on what is attached.
  const link = attachXdp(a.prog, RECEIVER, { mode: 'generic' });
  await send(5);
  assert.equal(await counted(a.map, 5n), 5n);
  const info = link.info();
  assert.equal(info.type, LinkType.XDP);
  assert.equal(info.progId, idA);
  assert.equal(info.ifindex, ifindex);
  const bl = bpftoolLink(info.id);
  assert.equal(bl.type, 'xdp');
  assert.equal(bl.prog_id, idA);
  assert.deepEqual(ipXdp(RECEIVER), { mode: 'generic', progId: idA });
  assert.ok([...linkIds()].includes(info.id));

  // A second program in the same mode is refused while the link holds the hook.
  assert.throws(
    () => attachXdp(b.prog, RECEIVER, { mode: 'generic' }),
    (e: unknown) => e instanceof SyscallError && e.code === 'EBUSY',
  );

  // update(): b replaces a without a gap; with a stale oldProgram the kernel refuses (EPERM).
  link.update(b.prog, { oldProgram: a.prog });
  await send(3);
  assert.equal(await counted(b.map, 3n), 3n);
  assert.equal(count(a.map), 5n);
  assert.equal(link.info().progId, idB);
  assert.throws(
    () => link.update(a.prog, { oldProgram: a.prog }),
    (e: unknown) => e instanceof SyscallError && e.code === 'EPERM',
  );

  // Pinning: the pin opens the same link; closing our descriptor leaves the program attached.
  const pin = '/sys/fs/bpf/ebpf-test-xdp-link';
  link.pin(pin);
  const again = Link.fromPin(pin);
  assert.equal(again.info().id, info.id);
  link.close();
  link.close();
  await send(2);
  assert.equal(await counted(b.map, 5n), 5n, 'still attached through the pin');

  // detach(): defunct link, nothing on the device, no more counting.
  again.detach();
  assert.equal(again.info().ifindex, 0);
  assert.equal(ipXdp(RECEIVER), undefined);
  await send(2);
  await quiet();
  assert.equal(count(b.map), 5n);
  again.unpin();
  again.close();

  // Driver mode: veth runs XDP in its NAPI poll; ip reports it as native XDP.
  const drv = attachXdp(a.prog, RECEIVER, { mode: 'driver' });
  assert.deepEqual(ipXdp(RECEIVER), { mode: 'driver', progId: idA });
  await send(4);
  assert.equal(await counted(a.map, 9n), 9n);
  drv.close();
  assert.equal(ipXdp(RECEIVER), undefined, 'closing the last reference detaches');

  // Offload needs a NIC that runs BPF and a program loaded for it: veth has neither.
  assert.throws(() => attachXdp(a.prog, RECEIVER, { mode: 'offload' }), SyscallError);
  // Wrong program type and unknown device are caught before the kernel.
  assert.throws(() => attachXdp(a.prog, 'nosuchdev0'), /no network interface/);
}

async function childTcx(): Promise<void> {
  const ifindex = ifindexOf(RECEIVER);
  const ing = counter(ProgType.SCHED_CLS, 'tc_in', TC_ACT_OK);
  const eg = counter(ProgType.SCHED_CLS, 'tc_eg', TC_ACT_OK);
  if (!haveFeature(TCX)) {
    // Before 6.6: tcx is refused by name, and the default mode takes clsact and cls_bpf instead.
    assert.throws(
      () => attachTc(ing.prog, RECEIVER, 'ingress', { mode: 'tcx' }),
      (e: unknown) =>
        e instanceof NotSupportedError &&
        /tcx \(BPF_TCX_INGRESS links\) requires Linux 6\.6 or later/.test(e.message),
    );
    const f = attachTc(ing.prog, RECEIVER, 'ingress');
    assert.ok(f instanceof TcFilter);
    assert.match(sh('tc', ['filter', 'show', 'dev', RECEIVER, 'ingress']), /direct-action/);
    await send(3);
    assert.equal(await counted(ing.map, 3n), 3n);
    f.close();
    assert.doesNotMatch(sh('tc', ['qdisc', 'show', 'dev', RECEIVER]), /clsact/);
    return;
  }
  const l1 = attachTc(ing.prog, RECEIVER, 'ingress', { mode: 'tcx' });
  const l2 = attachTc(eg.prog, SENDER, 'egress', { mode: 'tcx' });
  assert.ok(l1 instanceof Link && l2 instanceof Link);
  await send(6);
  assert.equal(await counted(ing.map, 6n), 6n);
  assert.equal(await counted(eg.map, 6n), 6n);
  const info = l1.info();
  assert.equal(info.type, LinkType.TCX);
  assert.equal(info.ifindex, ifindex);
  assert.equal(info.attachType, AttachType.TCX_INGRESS);
  assert.equal(l2.info().attachTypeName, 'BPF_TCX_EGRESS');
  // bpftool 7.1 predates tcx: it prints the link type as the kernel's number.
  const bl = bpftoolLink(info.id);
  assert.ok(bl.type === 'tcx' || bl.type === LinkType.TCX, `bpftool type ${String(bl.type)}`);
  assert.equal(bl.prog_id, ing.prog.info().id);
  l1.close();
  l2.close();
  await send(2);
  await quiet();
  assert.equal(count(ing.map), 6n);
  assert.equal(count(eg.map), 6n);
  assert.throws(() => attachTc(attachXdpProgram(), RECEIVER, 'ingress'), /not a tc/);
}

function attachXdpProgram(): Program {
  return counter(ProgType.XDP, 'not_tc', XDP_PASS).prog;
}

async function childTcLegacy(): Promise<void> {
  const ing = counter(ProgType.SCHED_CLS, 'tc_legacy', TC_ACT_OK);
  const f = attachTc(ing.prog, RECEIVER, 'ingress', { mode: 'legacy', priority: 7, handle: 3 });
  assert.ok(f instanceof TcFilter);
  const shown = sh('tc', ['filter', 'show', 'dev', RECEIVER, 'ingress']);
  assert.match(shown, /pref 7 bpf/);
  assert.match(shown, /handle 0x3/);
  assert.match(shown, /direct-action/);
  assert.match(shown, new RegExp(`id ${ing.prog.info().id}\\b`));
  await send(4);
  assert.equal(await counted(ing.map, 4n), 4n);
  f.close();
  f.close();
  assert.equal(sh('tc', ['filter', 'show', 'dev', RECEIVER, 'ingress']).trim(), '');
  assert.doesNotMatch(sh('tc', ['qdisc', 'show', 'dev', RECEIVER]), /clsact/, 'the qdisc it made is gone');
  await send(1);
  await quiet();
  assert.equal(count(ing.map), 4n);
}

/** getppid(2), which Node calls each time process.ppid is read. */
function getppids(n: number): void {
  for (let i = 0; i < n; i++) void process.ppid;
}

/** `ebpf attach` from a shell: pin a link, see it in `attach list`, detach it by its pin. */
async function childCli(): Promise<void> {
  const c = counter(ProgType.XDP, 'cli_xdp', XDP_PASS);
  const progPin = '/sys/fs/bpf/ebpf-test-cli-prog';
  const linkPin = '/sys/fs/bpf/ebpf-test-cli-link';
  c.prog.pin(progPin);
  const r = cli(['attach', 'xdp', 'pinned', progPin, RECEIVER, '--mode', 'generic', '--pin', linkPin]);
  assert.equal(r.status, 0, r.stderr);
  const id = Number(/link (\d+) pinned/.exec(r.stdout)?.[1]);
  await send(3);
  assert.equal(await counted(c.map, 3n), 3n, 'attached after the command exited, through the pin');
  assert.deepEqual(ipXdp(RECEIVER), { mode: 'generic', progId: c.prog.info().id });
  const listed = JSON.parse(cli(['attach', 'list', '--json']).stdout) as Record<string, unknown>[];
  assert.deepEqual(
    listed.find((l) => l.id === id),
    { id, type: 'xdp', prog_id: c.prog.info().id, ifindex: ifindexOf(RECEIVER) },
  );
  const d = cli(['attach', 'detach', 'pinned', linkPin]);
  assert.equal(d.status, 0, d.stderr);
  assert.equal(ipXdp(RECEIVER), undefined);
  await send(2);
  await quiet();
  assert.equal(count(c.map), 3n);
  const bad = cli(['attach', 'tc', 'pinned', progPin, RECEIVER, 'sideways']);
  assert.equal(bad.status, 2, 'a malformed direction is a usage error');
  assert.match(bad.stderr, /ingress or egress/);
  c.prog.unpin();
}

const cases: Record<string, () => Promise<void>> = {
  xdp: childXdp,
  tcx: childTcx,
  legacy: childTcLegacy,
  cli: childCli,
};

if (CHILD !== undefined) {
  // `ip netns exec` gives a fresh sysfs without a bpffs: mount one in this mount namespace only.
  spawnSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  const fn = cases[CHILD];
  if (fn === undefined) throw new Error(`unknown case ${CHILD}`);
  await fn();
  process.exit(0);
} else {
  // ---- outside: one namespace per case ------------------------------------------------------------

  const inNamespace = (which: string): void => {
    const ns = `ebpf-test-${process.pid}-${which}`;
    makeVethNamespace(ns, 200);
    try {
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...NODE_TS, THIS], {
        encoding: 'utf8',
        env: { ...process.env, EBPF_LINK_TEST_CHILD: which },
      });
      assert.equal(r.status, 0, `case ${which} inside ${ns} failed:\n${r.stdout}\n${r.stderr}`);
    } finally {
      deleteNamespace(ns);
    }
    assert.ok(!listNamespaces().includes(ns), 'namespace removed');
  };

  const tools = (t: TestContext): boolean =>
    needRoot(t) && needTool(t, 'ip') && needTool(t, 'bpftool') && needTool(t, 'tc');

  test('XDP links: generic and driver mode, update with replace, pin, detach, close', (t) => {
    if (!tools(t)) return;
    inNamespace('xdp');
  });

  test('tc by the default mode: tcx links at ingress and egress (6.6+), else clsact and cls_bpf over netlink', (t) => {
    if (!tools(t)) return;
    inNamespace('tcx');
  });

  test('tracepoint (perf event + bpf_link) and raw tracepoint links count the syscalls of this process', (t) => {
    if (!needRoot(t) || !needTool(t, 'bpftool')) return;
    const tp = counter(ProgType.TRACEPOINT, 'tp_getppid', 0, true);
    const raw = counter(ProgType.RAW_TRACEPOINT, 'raw_sys_enter', 0, true);
    try {
      getppids(10);
      assert.equal(count(tp.map), 0n);
      const a = attachTracepoint(tp.prog, 'syscalls', 'sys_enter_getppid');
      const b = attachRawTracepoint(raw.prog, 'sys_enter');
      try {
        getppids(50);
        assert.equal(count(tp.map), 50n, 'the tracepoint counted each getppid of this process');
        assert.ok(count(raw.map) >= 50n, 'raw tracepoint counted every syscall, getppid among them');
        // Which way it went: a perf_event bpf_link from Linux 5.15, PERF_EVENT_IOC_SET_BPF on the
        // event before (5.10 in the kernel matrix). bpftool perf show (BPF_TASK_FD_QUERY on this
        // process's descriptors) sees the program on the tracepoint either way.
        if (versionAtLeast(release(), '5.15')) {
          assert.ok(a.link !== undefined, 'Linux 5.15+ gives a perf_event link');
          const li = a.link.info();
          assert.equal(li.type, LinkType.PERF_EVENT);
          assert.equal(li.progId, tp.prog.info().id);
        } else assert.equal(a.link, undefined, 'before 5.15: attached with PERF_EVENT_IOC_SET_BPF');
        const perf = JSON.parse(sh('bpftool', ['-j', 'perf', 'show'])) as {
          pid: number;
          prog_id: number;
          fd_type: string;
          tracepoint?: string;
        }[];
        assert.deepEqual(
          perf
            .filter((p) => p.pid === process.pid && p.prog_id === tp.prog.info().id)
            .map((p) => [p.fd_type, p.tracepoint]),
          [['tracepoint', 'sys_enter_getppid']],
        );
        const bl = b.info();
        assert.equal(bl.type, LinkType.RAW_TRACEPOINT);
        const shown = JSON.parse(
          execFileSync('bpftool', ['-j', 'link', 'show', 'id', String(bl.id)], { encoding: 'utf8' }),
        ) as {
          tp_name?: string;
          prog_id: number;
        };
        assert.equal(shown.tp_name, 'sys_enter');
        assert.equal(shown.prog_id, raw.prog.info().id);
      } finally {
        a.close();
        b.close();
      }
      const after = count(tp.map);
      getppids(20);
      assert.equal(count(tp.map), after, 'closed: no more counting');
      assert.throws(() => attachTracepoint(tp.prog, 'syscalls', 'no_such_tp'), /no tracepoint/);
      assert.throws(() => attachRawTracepoint(tp.prog, 'sys_enter'), /not a raw tracepoint/);
    } finally {
      tp.prog.close();
      tp.map.close();
      raw.prog.close();
      raw.map.close();
    }
  });

  test('ebpf attach xdp --pin, attach list, attach detach', (t) => {
    if (skipCliInMatrix(t) || !tools(t)) return;
    inNamespace('cli');
  });

  test('legacy tc: clsact qdisc and cls_bpf filter through tc, removed on close', (t) => {
    if (!tools(t)) return;
    inNamespace('legacy');
  });
}
