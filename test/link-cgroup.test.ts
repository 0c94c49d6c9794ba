// cgroup programs on a cgroup v2 directory this test makes: a process compiled here joins it, opens
// two UDP sockets on 127.0.0.1, connects one to the other and sends N datagrams; the programs count
// exactly those sockets, that connect (and its port) and those packets, in and out. Links and the
// legacy BPF_PROG_ATTACH, through the API, auto-attach and the CLI; bpftool cgroup show is the
// oracle for what is attached. The cgroup is removed after.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmdirSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  AttachType,
  attachTypeName,
  BPF_F_ALLOW_MULTI,
  BPF_F_ALLOW_OVERRIDE,
  LinkType,
} from '../src/constants.js';
import { NotFoundError } from '../src/errors.js';
import { versionAtLeast } from '../src/features/feature.js';
import { autoAttachLoaded } from '../src/link/auto.js';
import {
  attachCgroup,
  cgroup2Mount,
  cgroupAttachType,
  CgroupLink,
  CGROUP_ATTACH_TYPES,
  CgroupProgAttachment,
} from '../src/link/cgroup.js';
import { Link } from '../src/link/link.js';
import { loadObject } from '../src/loader/index.js';
import type { LoadedObject } from '../src/loader/loaded.js';
import { Program } from '../src/program/program.js';
import { progQuery } from '../src/sys/bpf.js';
import { SyscallError } from '../src/sys/error.js';
import { cli, need, needRoot, needTool, ROOT, skipCliInMatrix, TESTDATA } from './helpers.js';

const CGROUP_O = join(TESTDATA, 'cgroup-el.o');

interface Setup {
  cgroup: string;
  client: string;
}

/** The client program, compiled once for the whole file (gcc is slow in the kernel matrix's VMs). */
let clientDir: string | undefined;
function compiledClient(): string {
  if (clientDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-cgroup-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    execFileSync('gcc', ['-O1', '-o', join(dir, 'cgroup_client'), join(ROOT, 'test/c/cgroup_client.c')]);
    clientDir = dir;
  }
  return join(clientDir, 'cgroup_client');
}

/** A fresh child cgroup and the client program; the cgroup is removed when the test ends. */
function setup(t: TestContext): Setup | undefined {
  if (!needRoot(t) || !needTool(t, 'gcc') || !needTool(t, 'bpftool')) return undefined;
  const mount = cgroup2Mount();
  if (!need(t, mount !== undefined, 'no cgroup v2 mount in /proc/self/mountinfo')) return undefined;
  const cgroup = join(mount!, `ebpf-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(cgroup);
  t.after(() => {
    // Empty once the client exited; rmdir is how a cgroup is removed.
    if (existsSync(cgroup)) rmdirSync(cgroup);
  });
  return { cgroup, client: compiledClient() };
}

/** Runs the client in the cgroup: returns the receiver's port. */
function runClient(s: Setup, n: number): number {
  const r = spawnSync(s.client, [join(s.cgroup, 'cgroup.procs'), String(n)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `client failed: ${r.status} ${r.stderr}`);
  return Number(r.stdout.trim());
}

interface Shown {
  id: number;
  attach_type: string;
  attach_flags: string;
  name: string;
}
function bpftoolCgroup(cgroup: string): Shown[] {
  const r = spawnSync('bpftool', ['-j', 'cgroup', 'show', cgroup], { encoding: 'utf8' });
  if (r.status !== 0) {
    // bpftool 7.1 asks BPF_PROG_QUERY for each program's attach flags (prog_attach_flags, Linux
    // 6.0); an older kernel refuses every such query, and bpftool fails with nothing listed. There
    // the kernel is asked the plain query bpftool's would be without that field, type by type.
    assert.ok(!versionAtLeast(release(), '6.0'), `bpftool cgroup show failed: ${r.stderr}`);
    return queriedCgroup(cgroup);
  }
  // bpftool prints nothing at all for a cgroup with no programs.
  return r.stdout.trim() === '' ? [] : (JSON.parse(r.stdout) as Shown[]);
}

/** What bpftool cgroup show would list, from BPF_PROG_QUERY without the fields newer than 5.x. */
function queriedCgroup(cgroup: string): Shown[] {
  const fd = openSync(cgroup, 'r');
  const out: Shown[] = [];
  try {
    for (const type of new Set(Object.values(CGROUP_ATTACH_TYPES))) {
      let q;
      try {
        q = progQuery(fd, type);
      } catch (e) {
        // An attach type newer than this kernel.
        if (e instanceof SyscallError && e.code === 'EINVAL') continue;
        throw e;
      }
      const flags =
        q.attachFlags & BPF_F_ALLOW_MULTI ? 'multi' : q.attachFlags & BPF_F_ALLOW_OVERRIDE ? 'override' : '';
      for (const id of q.progIds) {
        using p = Program.fromId(id);
        out.push({
          id,
          attach_type: attachTypeName(type).replace(/^BPF_/, '').toLowerCase(),
          attach_flags: flags,
          name: p.name,
        });
      }
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

const counters = (obj: LoadedObject): Record<string, bigint | number> =>
  ({ ...obj.bss }) as Record<string, bigint | number>;

test('cgroup links and BPF_PROG_ATTACH count the sockets, connects and packets of the cgroup', (t) => {
  const s = setup(t);
  if (s === undefined) return;
  using obj = loadObject(CGROUP_O);
  const sock = autoAttachLoaded(obj, 'count_sockets', { cgroup: s.cgroup });
  const conn = attachCgroup(obj.program('count_connects'), s.cgroup, 'connect4', { mode: 'link' });
  const egress = attachCgroup(obj.program('count_egress'), s.cgroup, AttachType.CGROUP_INET_EGRESS, {
    mode: 'legacy',
  });
  const ingress = attachCgroup(obj.program('count_ingress'), s.cgroup, 'cgroup_inet_ingress');
  try {
    assert.ok(sock instanceof CgroupLink && conn instanceof CgroupLink && ingress instanceof CgroupLink);
    assert.ok(egress instanceof CgroupProgAttachment);
    assert.equal(egress.flags, BPF_F_ALLOW_MULTI);
    const li = conn.info();
    assert.equal(li.type, LinkType.CGROUP);
    assert.equal(li.attachType, AttachType.CGROUP_INET4_CONNECT);

    const shown = bpftoolCgroup(s.cgroup);
    const byType = new Map(shown.map((p) => [p.attach_type, p]));
    assert.deepEqual([...byType.keys()].sort(), [
      'cgroup_inet4_connect',
      'cgroup_inet_egress',
      'cgroup_inet_ingress',
      'cgroup_inet_sock_create',
    ]);
    assert.equal(byType.get('cgroup_inet4_connect')!.id, obj.program('count_connects').info().id);
    assert.equal(byType.get('cgroup_inet_egress')!.attach_flags, 'multi');
    assert.equal(byType.get('cgroup_inet_egress')!.id, obj.program('count_egress').info().id);

    const port = runClient(s, 6);
    assert.deepEqual(counters(obj), {
      sockets: 2n,
      connects: 1n,
      last_port: port,
      egress_packets: 6n,
      ingress_packets: 6n,
    });
    // This process is not in the cgroup: what it does is not counted.
    spawnSync(process.execPath, ['-e', "require('dgram').createSocket('udp4').close()"]);
    assert.equal(counters(obj).sockets, 2n);
  } finally {
    sock.close();
    conn.close();
    egress.close();
    ingress.close();
  }
  assert.deepEqual(bpftoolCgroup(s.cgroup), [], 'all detached, the legacy attachment too');
  egress.close(); // idempotent
  runClient(s, 2);
  assert.equal(counters(obj).sockets, 2n);
});

test('sockops, sysctl, getsockopt/setsockopt and device hooks count exactly what the cgroup does, and refuse what they refuse', (t) => {
  const s = setup(t);
  if (s === undefined) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-cgroup-hooks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'cgroup_hooks_client');
  execFileSync('gcc', ['-O1', '-o', bin, join(ROOT, 'test/c/cgroup_hooks_client.c')]);
  const runHooksClient = (n: number): string => {
    const r = spawnSync(bin, [join(s.cgroup, 'cgroup.procs'), String(n)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, `client failed: ${r.status} ${r.stderr}`);
    return r.stdout.trim();
  };
  using obj = loadObject(join(TESTDATA, 'cgroup_hooks-el.o'));
  // Each by the section's own hook (autoAttach), the dev hook by its bpftool name as well.
  const links = ['count_established', 'guard_domainname', 'count_getsockopt', 'rewrite_tos'].map((p) =>
    autoAttachLoaded(obj, p, { cgroup: s.cgroup }),
  );
  links.push(attachCgroup(obj.program('guard_devices'), s.cgroup, 'device', { mode: 'link' }));
  try {
    for (const l of links) assert.ok(l instanceof CgroupLink);
    assert.deepEqual(
      bpftoolCgroup(s.cgroup)
        .map((p) => p.attach_type)
        .sort(),
      ['cgroup_device', 'cgroup_getsockopt', 'cgroup_setsockopt', 'cgroup_sock_ops', 'cgroup_sysctl'],
    );
    const EPERM = 1;
    assert.equal(runHooksClient(5), `tos=16 write_errno=${EPERM} zero_errno=${EPERM}`);
    assert.deepEqual(counters(obj), {
      active_established: 5n,
      passive_established: 5n,
      sysctl_reads: 5n,
      sysctl_writes_refused: 1n,
      // the client's one getsockopt(IP_TOS) and one setsockopt(IP_TOS)
      getsockopt_calls: 1n,
      setsockopt_calls: 1n,
      tos_rewritten: 1n,
      dev_null_opens: 5n,
      dev_zero_refused: 1n,
    });
  } finally {
    for (const l of links) l.close();
  }
  assert.deepEqual(bpftoolCgroup(s.cgroup), []);
  // Detached: nothing counted, nothing refused.
  assert.equal(runHooksClient(1), 'tos=8 write_errno=0 zero_errno=0');
  assert.equal(counters(obj).dev_null_opens, 5n);
});

test('cgroup errors: wrong hook for the program, unknown type, missing cgroup, no cgroup option', (t) => {
  const s = setup(t);
  if (s === undefined) return;
  using obj = loadObject(CGROUP_O);
  assert.throws(
    () => attachCgroup(obj.program('count_sockets'), s.cgroup, 'egress'),
    (e: unknown) =>
      e instanceof SyscallError && e.code === 'EINVAL' && /loaded for BPF_CGROUP_INET_EGRESS/.test(e.message),
  );
  assert.throws(() => cgroupAttachType('sideways'), NotFoundError);
  assert.throws(() => cgroupAttachType(AttachType.XDP), /not a cgroup attach type/);
  assert.equal(cgroupAttachType('BPF_CGROUP_SYSCTL'), AttachType.CGROUP_SYSCTL);
  assert.throws(
    () => attachCgroup(obj.program('count_egress'), join(s.cgroup, 'nope'), 'egress'),
    NotFoundError,
  );
  assert.throws(() => autoAttachLoaded(obj, 'count_egress'), /give the cgroup option/);
});

test('ebpf attach cgroup --pin, attach list, attach detach; ebpf attach uprobe --pin', (t) => {
  if (skipCliInMatrix(t)) return;
  const s = setup(t);
  if (s === undefined) return;
  using obj = loadObject(CGROUP_O);
  const progPin = `/sys/fs/bpf/ebpf-test-cg-prog-${process.pid}`;
  const linkPin = `/sys/fs/bpf/ebpf-test-cg-link-${process.pid}`;
  obj.program('count_egress').pin(progPin);
  try {
    const r = cli(['attach', 'cgroup', 'pinned', progPin, s.cgroup, 'egress', '--pin', linkPin]);
    assert.equal(r.status, 0, r.stderr);
    const id = Number(/link (\d+) pinned/.exec(r.stdout)?.[1]);
    runClient(s, 3);
    assert.equal(counters(obj).egress_packets, 3n, 'attached after the command exited, through the pin');
    const listed = JSON.parse(cli(['attach', 'list', '--json']).stdout) as Record<string, unknown>[];
    assert.deepEqual(
      listed.find((l) => l.id === id),
      {
        id,
        type: 'cgroup',
        prog_id: obj.program('count_egress').info().id,
        attach_type: 'BPF_CGROUP_INET_EGRESS',
      },
    );
    assert.equal(bpftoolCgroup(s.cgroup)[0]?.attach_type, 'cgroup_inet_egress');
    const d = cli(['attach', 'detach', 'pinned', linkPin]);
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, new RegExp(`link ${id} detached`));
    assert.deepEqual(bpftoolCgroup(s.cgroup), []);
    assert.ok(!existsSync(linkPin));
    const legacy = cli([
      'attach',
      'cgroup',
      'pinned',
      progPin,
      s.cgroup,
      'egress',
      '--mode',
      'legacy',
      '--pin',
      linkPin,
    ]);
    assert.equal(legacy.status, 2, 'refused before attaching: a usage error');
    assert.match(legacy.stderr, /not a bpf_link/);
    assert.deepEqual(bpftoolCgroup(s.cgroup), [], 'refused to pin: detached again');
    const bad = cli(['attach', 'cgroup', 'pinned', progPin, s.cgroup, 'sideways']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /unknown cgroup attach type 'sideways'/);
  } finally {
    rmSync(progPin, { force: true });
    rmSync(linkPin, { force: true });
  }

  // A uprobe from the command line, on the cgroup client's main.
  using up = loadObject(join(TESTDATA, 'uprobe-el.o'));
  up.program('on_enter').pin(progPin);
  try {
    if (!versionAtLeast(release(), '5.15')) {
      // No perf_event links (5.15), so no bpf_cookie and nothing to pin: refused, by name.
      const r = cli(['attach', 'uprobe', 'pinned', progPin, `${s.client}:main`, '--cookie', '0x55']);
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stderr, /a bpf_cookie needs perf_event links \(Linux 5\.15\)/);
      return;
    }
    const r = cli([
      'attach',
      'uprobe',
      'pinned',
      progPin,
      `${s.client}:main`,
      '--cookie',
      '0x55',
      '--pin',
      linkPin,
    ]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /attached to uprobe .*:main: link \d+ pinned/);
    runClient(s, 1);
    runClient(s, 1);
    assert.equal((up.bss as Record<string, bigint>).calls, 2n);
    assert.equal((up.bss as Record<string, bigint>).enter_cookie, 0x55n);
    const l = Link.fromPin(linkPin);
    assert.equal(l.info().type, LinkType.PERF_EVENT);
    l.close();
    const d = cli(['attach', 'detach', 'pinned', linkPin]);
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /unpinned \(perf_event links cannot be detached/);
    runClient(s, 1);
    assert.equal((up.bss as Record<string, bigint>).calls, 2n, 'gone with its pin');
    const k = cli(['attach', 'kprobe', 'pinned', progPin, '__x64_sys_getppid']);
    if (!existsSync('/sys/bus/event_source/devices/kprobe')) {
      // Not supported by this kernel: exit 3, which scripts can tell from a failure.
      assert.equal(k.status, 3);
      assert.match(k.stderr, /kprobes unavailable/);
    }
  } finally {
    rmSync(progPin, { force: true });
    rmSync(linkPin, { force: true });
  }
});
