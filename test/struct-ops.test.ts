// struct_ops: a TCP congestion control written in BPF (testdata/tcp_cc.c, Reno-like) registered
// from its `.struct_ops.link` map, by a struct_ops link (Linux 6.4) or by a map update (before, or
// when the loader is told the kernel has no links), selected with setsockopt(TCP_CONGESTION) by a
// real loopback TCP connection that carries data; its callbacks count exactly one init per
// connection. bpftool's struct_ops dump (the kernel's view of the value, decoded by bpftool from
// kernel BTF) is the oracle for the value the loader builds. Also: link update with another map,
// detach, unregistering, the CLI (`ebpf run`, `ebpf attach struct_ops`), and values whose layout
// disagrees with the kernel's (testdata/struct_ops_bad.c). Runs here and in the kernel matrix.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LinkType } from '../src/constants.js';
import { NotSupportedError } from '../src/errors.js';
import { haveFeature, STRUCT_OPS_LINK, versionAtLeast } from '../src/features/index.js';
import {
  attachStructOps,
  attachStructOpsMap,
  StructOpsLink,
  StructOpsRegistration,
} from '../src/link/struct-ops.js';
import { LoadError, loadObject, type LoadedObject, type LoadOptions } from '../src/loader/index.js';
import { loaderFeatures } from '../src/loader/features.js';
import { structOpsValue } from '../src/loader/struct-ops.js';
import { loadObjectSpec } from '../src/object/index.js';
import { SyscallError } from '../src/sys/error.js';
import { runningKernelBtf } from '../src/sys/kernel-btf.js';
import { bpfDescriptors, cli, need, needKernel, needRoot, needTool, ROOT, TESTDATA } from './helpers.js';

const TCP_CC_O = join(TESTDATA, 'tcp_cc-el.o');
const BAD_O = join(TESTDATA, 'struct_ops_bad-el.o');
const CC = 'ebpf_reno';
const ENOENT = 2;
const BYTES = 2_000_000;

type Counters = Record<
  'init_calls' | 'cong_avoid_calls' | 'ssthresh_calls' | 'undo_calls' | 'acked_total',
  bigint
>;

let client: string | undefined;

/** The loopback client (test/c/tcp_cc_client.c), compiled once. */
function tcpClient(t: TestContext): string | undefined {
  if (client !== undefined) return client;
  if (!needTool(t, 'gcc')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-tcp-cc-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  client = join(dir, 'tcp_cc_client');
  execFileSync('gcc', ['-O1', '-o', client, join(ROOT, 'test/c/tcp_cc_client.c')]);
  return client;
}

/** One connection with congestion control CC: the cc it had, or the errno setsockopt gave. */
function connect(bin: string): { cc: string; received: number } | { errno: number } {
  const r = spawnSync(bin, [CC, String(BYTES)], { encoding: 'utf8', timeout: 120_000 });
  const refused = /^setsockopt=(\d+)/.exec(r.stdout);
  if (r.status === 10 && refused !== null) return { errno: Number(refused[1]) };
  assert.equal(r.status, 0, `client: status ${r.status} signal ${r.signal} ${r.stdout} ${r.stderr}`);
  const m = /^cc=(\S+) sent=(\d+) received=(\d+)$/m.exec(r.stdout);
  assert.ok(m !== null, r.stdout);
  assert.equal(Number(m[2]), BYTES);
  return { cc: m[1]!, received: Number(m[3]) };
}

/** Loads tcp_cc, or says why this kernel cannot (struct_ops programs refused). */
function load(t: TestContext, opts: LoadOptions = {}): LoadedObject | undefined {
  if (!needRoot(t)) return undefined;
  try {
    return loadObject(TCP_CC_O, opts);
  } catch (e) {
    const cause = e instanceof LoadError ? e.cause : undefined;
    if (cause instanceof SyscallError && cause.code === 'EPERM') {
      needKernel(t, false, `this kernel refuses struct_ops programs (${cause.message.split('\n')[0]})`);
      return undefined;
    }
    throw e;
  }
}

const counters = (obj: LoadedObject): Counters => ({ ...obj.bss }) as Counters;

/** bpftool's dump of the registered value: the kernel's members by name. */
function bpftoolValue(): Record<string, unknown> {
  const out = JSON.parse(
    execFileSync('bpftool', ['-j', 'struct_ops', 'dump', 'name', CC], { encoding: 'utf8' }),
  ) as Record<string, { data: Record<string, unknown> }>[];
  const v = out.find((o) => 'bpf_struct_ops_tcp_congestion_ops' in o);
  assert.ok(v !== undefined, JSON.stringify(out));
  return v.bpf_struct_ops_tcp_congestion_ops!.data;
}

/** One connection through the registered cc: the data arrives and init ran once for it. */
function assertCarries(bin: string, obj: LoadedObject, before: Counters): void {
  const r = connect(bin);
  assert.ok('cc' in r, `setsockopt(TCP_CONGESTION, ${CC}) refused: errno ${'errno' in r ? r.errno : ''}`);
  assert.equal(r.cc, CC);
  assert.equal(r.received, BYTES);
  const c = counters(obj);
  assert.equal(c.init_calls, before.init_calls + 1n, 'init: once per connection');
  assert.ok(c.cong_avoid_calls > before.cong_avoid_calls, 'cong_avoid ran as ACKs came');
  assert.ok(c.acked_total > before.acked_total);
}

function assertUnregistered(bin: string): void {
  assert.deepEqual(connect(bin), { errno: ENOENT }, `${CC} still registered`);
}

test('a BPF congestion control registered by its struct_ops link carries a loopback TCP connection', (t) => {
  const obj = load(t);
  if (obj === undefined) return;
  using _ = obj;
  const bin = tcpClient(t);
  if (bin === undefined || !needTool(t, 'bpftool')) return;
  const hasLink = haveFeature(STRUCT_OPS_LINK);
  assert.equal(hasLink, versionAtLeast(release(), '6.4'));
  assert.equal(obj.maps.get(CC)!.structOps!.link, hasLink);
  const att = attachStructOps(obj, CC);
  try {
    assert.ok(hasLink ? att instanceof StructOpsLink : att instanceof StructOpsRegistration);
    assert.equal(att.typeName, 'tcp_congestion_ops');
    if (att instanceof StructOpsLink) assert.equal(att.info().type, LinkType.STRUCT_OPS);
    // The kernel's view of the value: each function pointer is the program the object names.
    const data = bpftoolValue();
    for (const [member, prog] of [
      ['init', 'ebpf_reno_init'],
      ['cong_avoid', 'ebpf_reno_cong_avoid'],
      ['ssthresh', 'ebpf_reno_ssthresh'],
      ['undo_cwnd', 'ebpf_reno_undo_cwnd'],
    ] as const) {
      const id = obj.program(prog).info().id;
      assert.match(String(data[member]), new RegExp(` ${prog}/prog_id:${id}$`), member);
    }
    assert.match(String(data.release), / 0$/, 'members the object leaves out stay empty');
    assert.equal(data.name, CC);
    assertCarries(bin, obj, counters(obj));
    assertCarries(bin, obj, counters(obj));
  } finally {
    att.close();
  }
  assertUnregistered(bin);
});

test('before struct_ops links (or told so) a .struct_ops.link map registers by a map update, with a warning', (t) => {
  const warnings: string[] = [];
  const obj = load(t, {
    features: { ...loaderFeatures(), structOpsLink: false },
    trace: (e) => {
      if (e.kind === 'warning') warnings.push(e.message);
    },
  });
  if (obj === undefined) return;
  using _ = obj;
  const bin = tcpClient(t);
  if (bin === undefined) return;
  assert.deepEqual(warnings, [
    `map '${CC}': struct_ops links (BPF_F_LINK struct_ops maps) requires Linux 6.4 or later; created without BPF_F_LINK, registered by a map update instead`,
  ]);
  const before = bpfDescriptors();
  const reg = attachStructOps(obj, CC);
  try {
    assert.ok(reg instanceof StructOpsRegistration);
    assertCarries(bin, obj, counters(obj));
    assert.throws(() => attachStructOps(obj, CC), /EBUSY|EEXIST/, 'registered once');
  } finally {
    reg.close();
  }
  reg.close();
  assert.deepEqual(bpfDescriptors(), before, 'the registration released its map descriptor');
  assertUnregistered(bin);
});

test('a struct_ops link swaps in another map (BPF_LINK_UPDATE) and detaches', (t) => {
  const a = load(t);
  if (a === undefined) return;
  using _a = a;
  const bin = tcpClient(t);
  if (bin === undefined) return;
  if (!haveFeature(STRUCT_OPS_LINK)) {
    // No links to update: linking a map is refused naming the kernel that has them.
    assert.throws(
      () => attachStructOpsMap(a.maps.get(CC)!.fd, CC),
      (e: unknown) =>
        e instanceof NotSupportedError && /struct_ops links .* requires Linux 6\.4 or later/.test(e.message),
    );
    return;
  }
  using b = loadObject(TCP_CC_O);
  const link = attachStructOps(a, CC);
  try {
    assert.ok(link instanceof StructOpsLink);
    assertCarries(bin, a, counters(a));
    // Only while the map named is the one registered (BPF_F_REPLACE).
    assert.throws(
      () => link.updateMap(b, CC, { oldObject: b, oldMap: CC }),
      (e: unknown) => e instanceof SyscallError && e.code === 'EPERM',
    );
    link.updateMap(b, CC, { oldObject: a, oldMap: CC });
    const aBefore = counters(a);
    assertCarries(bin, b, counters(b));
    assert.deepEqual(counters(a), aBefore, 'the first object no longer runs');
    assert.equal(link.map, CC);
    if (versionAtLeast(release(), '6.10')) {
      link.detach();
      assertUnregistered(bin);
    } else {
      assert.throws(() => link.detach(), NotSupportedError);
    }
  } finally {
    link.close();
  }
  assertUnregistered(bin);
});

test('ebpf run registers the struct_ops map and pins its link; ebpf attach struct_ops links a pinned map', (t) => {
  const obj = load(t);
  if (obj === undefined) return;
  obj.close();
  const bin = tcpClient(t);
  if (bin === undefined) return;
  const dir = `/sys/fs/bpf/ebpf-test-struct-ops-${process.pid}`;
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const hasLink = haveFeature(STRUCT_OPS_LINK);
  const r = cli([
    'run',
    TCP_CC_O,
    '--seconds',
    '1',
    '--json',
    ...(hasLink ? ['--pin-dir', `${dir}/run`] : []),
  ]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    programs: { name: string; how: string }[];
    structOps: { map: string; registered: boolean; how: string }[];
  };
  assert.equal(out.structOps.length, 1);
  assert.equal(out.structOps[0]!.registered, true, out.structOps[0]!.how);
  assert.match(
    out.structOps[0]!.how,
    hasLink ? /registered by a struct_ops link, link pinned at / : /registered \(map update\)/,
  );
  assert.ok(out.programs.some((p) => p.name === 'ebpf_reno_init' && p.how === 'struct_ops ebpf_reno.init'));
  if (!hasLink) {
    assertUnregistered(bin);
    return;
  }
  // The pinned link keeps it registered after the run; detaching it unregisters.
  assert.deepEqual(connect(bin), { cc: CC, received: BYTES });
  const linkPin = `${dir}/run/links/${CC}`;
  rmSync(linkPin);
  assertUnregistered(bin);
  // `ebpf load` writes a link map's value at load; `ebpf attach struct_ops` links the pinned map.
  const l = cli(['load', TCP_CC_O, '--pin-dir', `${dir}/load`, '--pin-maps', `${dir}/load/maps`]);
  assert.equal(l.status, 0, l.stderr);
  const a = cli([
    'attach',
    'struct_ops',
    'pinned',
    `${dir}/load/maps/${CC}`,
    '--pin',
    `${dir}/link`,
    '--json',
  ]);
  assert.equal(a.status, 0, a.stderr);
  assert.equal((JSON.parse(a.stdout) as { pinnedAt: string }).pinnedAt, `${dir}/link`);
  assert.deepEqual(connect(bin), { cc: CC, received: BYTES });
  const d = cli(['attach', 'detach', 'pinned', `${dir}/link`]);
  assert.equal(d.status, 0, d.stderr);
  assertUnregistered(bin);
});

test('a struct_ops value whose layout disagrees with the kernel is refused naming the member and type id', (t) => {
  if (!need(t, haveKernelBtf(), 'no kernel BTF at /sys/kernel/btf/vmlinux')) return;
  const spec = loadObjectSpec(BAD_O);
  const kernel = runningKernelBtf();
  const fd = (): number => 42;
  const errorOf = (map: string): LoadError => {
    const m = spec.maps.find((x) => x.name === map)!;
    try {
      structOpsValue(kernel, spec.btf!, m, fd);
    } catch (e) {
      assert.ok(e instanceof LoadError, String(e));
      assert.equal(e.location.map, map);
      return e;
    }
    assert.fail(`${map} accepted`);
  };
  const typeOf = (map: string, member: string): number => {
    const m = spec.maps.find((x) => x.name === map)!;
    const st = spec.btf!.resolve(m.valueTypeId);
    assert.ok(st.kind === 'STRUCT');
    return st.members.find((x) => x.name === member)!.type;
  };
  const short = errorOf('short_name');
  assert.equal(short.location.typeId, typeOf('short_name', 'name'));
  assert.match(
    short.message,
    /tcp_congestion_ops___short_name\.name: 8 bytes in the object \[\d+\], 16 in the kernel \[\d+\]/,
  );
  const intPtr = errorOf('int_for_pointer');
  assert.equal(intPtr.location.typeId, typeOf('int_for_pointer', 'ssthresh'));
  assert.match(intPtr.message, /\.ssthresh: a INT in the object \[\d+\], a PTR in the kernel \[\d+\]/);
  const extra = errorOf('extra_set');
  assert.equal(extra.location.typeId, typeOf('extra_set', 'no_such_member'));
  assert.match(
    extra.message,
    /\.no_such_member: the kernel's struct tcp_congestion_ops \[\d+\] has no such member/,
  );
  // Left zero, a member the kernel lacks is skipped; the program goes where the kernel's member is.
  const m = spec.maps.find((x) => x.name === 'extra_zero')!;
  const value = structOpsValue(kernel, spec.btf!, m, fd);
  const vt = kernel.findByName('bpf_struct_ops_tcp_congestion_ops', 'STRUCT')[0]!;
  const kt = kernel.findByName('tcp_congestion_ops', 'STRUCT')[0]!;
  assert.ok(vt.kind === 'STRUCT' && kt.kind === 'STRUCT');
  const data = vt.members.find((x) => x.name === 'data')!.bitsOffset / 8;
  const at = (member: string): number => data + kt.members.find((x) => x.name === member)!.bitsOffset / 8;
  assert.equal(value.length, vt.size);
  assert.equal(new DataView(value.buffer).getBigUint64(at('ssthresh'), true), 42n);
  assert.equal(new TextDecoder().decode(value.subarray(at('name'), at('name') + 6)), 'extra0');
  // The whole load refuses the object, and leaves nothing behind.
  if (!needRoot(t)) return;
  const before = bpfDescriptors();
  assert.throws(
    () => loadObject(BAD_O, { programs: ['bad_ssthresh'] }),
    (e: unknown) =>
      e instanceof LoadError && e.step === 'map' && /short_name|int_for_pointer|extra_set/.test(e.message),
  );
  assert.deepEqual(bpfDescriptors(), before);
});

function haveKernelBtf(): boolean {
  try {
    runningKernelBtf();
    return true;
  } catch {
    return false;
  }
}
