// Section-name matching: every entry of the table, real section names, and libbpf's own
// libbpf_prog_type_by_name() (the installed libbpf) as the oracle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SECTION_DEFS,
  SEC_ATTACH_BTF,
  SEC_SLEEPABLE,
  SEC_USDT,
  SEC_XDP_FRAGS,
  isAutoload,
  matchSection,
  type SectionMatchResult,
} from '../src/object/sections.js';
import { attachTypeName, progTypeName } from '../src/constants.js';
import { need, haveTool, run } from './helpers.js';

test('every table entry matches itself, first-match-wins and with a target for + entries', () => {
  for (const d of SECTION_DEFS) {
    const first = SECTION_DEFS.find((e) =>
      e.match === 'exact'
        ? e.prefix === d.prefix
        : d.prefix === e.prefix || d.prefix.startsWith(e.prefix + '/'),
    );
    const m = matchSection(d.prefix);
    assert.ok(m, d.prefix);
    assert.equal(m.def, first, `${d.prefix} resolves to the first matching entry`);
    assert.equal(m.target, undefined);
    if (d.match === 'target') {
      const t = matchSection(`${d.prefix}/some_target`);
      assert.equal(t?.def, d, `${d.prefix}/some_target`);
      assert.equal(t?.target, 'some_target');
      assert.equal(
        matchSection(`${d.prefix}x`)?.def === d,
        false,
        `${d.prefix}x must not match ${d.prefix}+`,
      );
    } else {
      assert.equal(
        matchSection(`${d.prefix}/x`)?.def === d,
        false,
        `${d.prefix}/x must not match exact ${d.prefix}`,
      );
    }
  }
});

test('the table has no unreachable entry and no duplicate', () => {
  const seen = new Set<string>();
  for (const d of SECTION_DEFS) {
    assert.ok(!seen.has(d.prefix), `duplicate ${d.prefix}`);
    seen.add(d.prefix);
    assert.equal(matchSection(d.prefix)?.def, d, `${d.prefix} is shadowed by an earlier entry`);
  }
  assert.ok(SECTION_DEFS.length >= 110, `table has ${SECTION_DEFS.length} entries`);
});

const REAL: [
  string,
  string,
  string | undefined,
  string | undefined,
  { sleepable?: boolean; frags?: boolean }?,
][] = [
  ['socket', 'BPF_PROG_TYPE_SOCKET_FILTER', undefined, undefined],
  ['sk_reuseport/migrate', 'BPF_PROG_TYPE_SK_REUSEPORT', 'BPF_SK_REUSEPORT_SELECT_OR_MIGRATE', undefined],
  ['sk_reuseport', 'BPF_PROG_TYPE_SK_REUSEPORT', 'BPF_SK_REUSEPORT_SELECT', undefined],
  ['kprobe/do_unlinkat', 'BPF_PROG_TYPE_KPROBE', undefined, 'do_unlinkat'],
  ['kprobe/tcp_v4_connect+0x10', 'BPF_PROG_TYPE_KPROBE', undefined, 'tcp_v4_connect+0x10'],
  ['kretprobe/do_sys_openat2', 'BPF_PROG_TYPE_KPROBE', undefined, 'do_sys_openat2'],
  ['uprobe//usr/bin/bash:readline', 'BPF_PROG_TYPE_KPROBE', undefined, '/usr/bin/bash:readline'],
  [
    'uretprobe.s/libc.so.6:malloc',
    'BPF_PROG_TYPE_KPROBE',
    undefined,
    'libc.so.6:malloc',
    { sleepable: true },
  ],
  ['uprobe.s', 'BPF_PROG_TYPE_KPROBE', undefined, undefined, { sleepable: true }],
  ['kprobe.multi/tcp_*', 'BPF_PROG_TYPE_KPROBE', 'BPF_TRACE_KPROBE_MULTI', 'tcp_*'],
  // An attach type newer than the generated constants keeps libbpf's name.
  ['fsession/do_unlinkat', 'BPF_PROG_TYPE_TRACING', 'BPF_TRACE_FSESSION', 'do_unlinkat'],
  ['kretprobe.multi/vfs_*', 'BPF_PROG_TYPE_KPROBE', 'BPF_TRACE_KPROBE_MULTI', 'vfs_*'],
  ['kprobe.session/bpf_fentry_test*', 'BPF_PROG_TYPE_KPROBE', 'BPF_TRACE_KPROBE_SESSION', 'bpf_fentry_test*'],
  ['uprobe.multi//bin/ls:f*', 'BPF_PROG_TYPE_KPROBE', 'BPF_TRACE_UPROBE_MULTI', '/bin/ls:f*'],
  ['uprobe.multi.s/x:y', 'BPF_PROG_TYPE_KPROBE', 'BPF_TRACE_UPROBE_MULTI', 'x:y', { sleepable: true }],
  ['ksyscall/openat', 'BPF_PROG_TYPE_KPROBE', undefined, 'openat'],
  ['kretsyscall/kill', 'BPF_PROG_TYPE_KPROBE', undefined, 'kill'],
  ['usdt/libc.so.6:libc:setjmp', 'BPF_PROG_TYPE_KPROBE', undefined, 'libc.so.6:libc:setjmp'],
  ['usdt.s', 'BPF_PROG_TYPE_KPROBE', undefined, undefined, { sleepable: true }],
  [
    'tracepoint/syscalls/sys_enter_openat',
    'BPF_PROG_TYPE_TRACEPOINT',
    undefined,
    'syscalls/sys_enter_openat',
  ],
  ['tp/sched/sched_switch', 'BPF_PROG_TYPE_TRACEPOINT', undefined, 'sched/sched_switch'],
  [
    'tp.s/syscalls/sys_enter_getpid',
    'BPF_PROG_TYPE_TRACEPOINT',
    undefined,
    'syscalls/sys_enter_getpid',
    { sleepable: true },
  ],
  ['raw_tracepoint/sched_switch', 'BPF_PROG_TYPE_RAW_TRACEPOINT', undefined, 'sched_switch'],
  ['raw_tp/sys_enter', 'BPF_PROG_TYPE_RAW_TRACEPOINT', undefined, 'sys_enter'],
  ['raw_tp.w/bpf_test_finish', 'BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE', undefined, 'bpf_test_finish'],
  ['raw_tracepoint.w/x', 'BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE', undefined, 'x'],
  ['tp_btf/sched_switch', 'BPF_PROG_TYPE_TRACING', 'BPF_TRACE_RAW_TP', 'sched_switch'],
  ['fentry/do_unlinkat', 'BPF_PROG_TYPE_TRACING', 'BPF_TRACE_FENTRY', 'do_unlinkat'],
  ['fexit/do_unlinkat', 'BPF_PROG_TYPE_TRACING', 'BPF_TRACE_FEXIT', 'do_unlinkat'],
  ['fmod_ret/bpf_modify_return_test', 'BPF_PROG_TYPE_TRACING', 'BPF_MODIFY_RETURN', 'bpf_modify_return_test'],
  [
    'fentry.s/__x64_sys_getpid',
    'BPF_PROG_TYPE_TRACING',
    'BPF_TRACE_FENTRY',
    '__x64_sys_getpid',
    { sleepable: true },
  ],
  [
    'fexit/bpf_testmod:bpf_testmod_test_read',
    'BPF_PROG_TYPE_TRACING',
    'BPF_TRACE_FEXIT',
    'bpf_testmod:bpf_testmod_test_read',
  ],
  ['freplace/xdp_pass', 'BPF_PROG_TYPE_EXT', undefined, 'xdp_pass'],
  ['lsm/file_open', 'BPF_PROG_TYPE_LSM', 'BPF_LSM_MAC', 'file_open'],
  [
    'lsm.s/bprm_committed_creds',
    'BPF_PROG_TYPE_LSM',
    'BPF_LSM_MAC',
    'bprm_committed_creds',
    { sleepable: true },
  ],
  ['lsm_cgroup/socket_bind', 'BPF_PROG_TYPE_LSM', 'BPF_LSM_CGROUP', 'socket_bind'],
  ['iter/task', 'BPF_PROG_TYPE_TRACING', 'BPF_TRACE_ITER', 'task'],
  ['iter.s/task_file', 'BPF_PROG_TYPE_TRACING', 'BPF_TRACE_ITER', 'task_file', { sleepable: true }],
  ['syscall', 'BPF_PROG_TYPE_SYSCALL', undefined, undefined, { sleepable: true }],
  ['xdp', 'BPF_PROG_TYPE_XDP', 'BPF_XDP', undefined],
  ['xdp.frags', 'BPF_PROG_TYPE_XDP', 'BPF_XDP', undefined, { frags: true }],
  ['xdp/devmap', 'BPF_PROG_TYPE_XDP', 'BPF_XDP_DEVMAP', undefined],
  ['xdp.frags/devmap', 'BPF_PROG_TYPE_XDP', 'BPF_XDP_DEVMAP', undefined, { frags: true }],
  ['xdp/cpumap', 'BPF_PROG_TYPE_XDP', 'BPF_XDP_CPUMAP', undefined],
  ['xdp.frags/cpumap', 'BPF_PROG_TYPE_XDP', 'BPF_XDP_CPUMAP', undefined, { frags: true }],
  ['perf_event', 'BPF_PROG_TYPE_PERF_EVENT', undefined, undefined],
  ['lwt_in', 'BPF_PROG_TYPE_LWT_IN', undefined, undefined],
  ['lwt_out', 'BPF_PROG_TYPE_LWT_OUT', undefined, undefined],
  ['lwt_xmit', 'BPF_PROG_TYPE_LWT_XMIT', undefined, undefined],
  ['lwt_seg6local', 'BPF_PROG_TYPE_LWT_SEG6LOCAL', undefined, undefined],
  ['sockops', 'BPF_PROG_TYPE_SOCK_OPS', 'BPF_CGROUP_SOCK_OPS', undefined],
  ['sk_skb/stream_parser', 'BPF_PROG_TYPE_SK_SKB', 'BPF_SK_SKB_STREAM_PARSER', undefined],
  ['sk_skb/stream_verdict', 'BPF_PROG_TYPE_SK_SKB', 'BPF_SK_SKB_STREAM_VERDICT', undefined],
  ['sk_skb/verdict', 'BPF_PROG_TYPE_SK_SKB', 'BPF_SK_SKB_VERDICT', undefined],
  ['sk_skb', 'BPF_PROG_TYPE_SK_SKB', undefined, undefined],
  ['sk_msg', 'BPF_PROG_TYPE_SK_MSG', 'BPF_SK_MSG_VERDICT', undefined],
  ['lirc_mode2', 'BPF_PROG_TYPE_LIRC_MODE2', 'BPF_LIRC_MODE2', undefined],
  ['flow_dissector', 'BPF_PROG_TYPE_FLOW_DISSECTOR', 'BPF_FLOW_DISSECTOR', undefined],
  ['cgroup_skb/ingress', 'BPF_PROG_TYPE_CGROUP_SKB', 'BPF_CGROUP_INET_INGRESS', undefined],
  ['cgroup_skb/egress', 'BPF_PROG_TYPE_CGROUP_SKB', 'BPF_CGROUP_INET_EGRESS', undefined],
  ['cgroup/skb', 'BPF_PROG_TYPE_CGROUP_SKB', undefined, undefined],
  ['cgroup/sock', 'BPF_PROG_TYPE_CGROUP_SOCK', 'BPF_CGROUP_INET_SOCK_CREATE', undefined],
  ['cgroup/sock_release', 'BPF_PROG_TYPE_CGROUP_SOCK', 'BPF_CGROUP_INET_SOCK_RELEASE', undefined],
  ['cgroup/post_bind6', 'BPF_PROG_TYPE_CGROUP_SOCK', 'BPF_CGROUP_INET6_POST_BIND', undefined],
  ['cgroup/dev', 'BPF_PROG_TYPE_CGROUP_DEVICE', 'BPF_CGROUP_DEVICE', undefined],
  ['cgroup/connect4', 'BPF_PROG_TYPE_CGROUP_SOCK_ADDR', 'BPF_CGROUP_INET4_CONNECT', undefined],
  ['cgroup/connect_unix', 'BPF_PROG_TYPE_CGROUP_SOCK_ADDR', 'BPF_CGROUP_UNIX_CONNECT', undefined],
  ['cgroup/getpeername_unix', 'BPF_PROG_TYPE_CGROUP_SOCK_ADDR', 'BPF_CGROUP_UNIX_GETPEERNAME', undefined],
  ['cgroup/recvmsg6', 'BPF_PROG_TYPE_CGROUP_SOCK_ADDR', 'BPF_CGROUP_UDP6_RECVMSG', undefined],
  ['cgroup/sysctl', 'BPF_PROG_TYPE_CGROUP_SYSCTL', 'BPF_CGROUP_SYSCTL', undefined],
  ['cgroup/setsockopt', 'BPF_PROG_TYPE_CGROUP_SOCKOPT', 'BPF_CGROUP_SETSOCKOPT', undefined],
  ['sk_lookup', 'BPF_PROG_TYPE_SK_LOOKUP', 'BPF_SK_LOOKUP', undefined],
  ['netfilter', 'BPF_PROG_TYPE_NETFILTER', 'BPF_NETFILTER', undefined],
  ['struct_ops/dctcp_init', 'BPF_PROG_TYPE_STRUCT_OPS', undefined, 'dctcp_init'],
  ['struct_ops.s/test_1', 'BPF_PROG_TYPE_STRUCT_OPS', undefined, 'test_1', { sleepable: true }],
  ['tc/ingress', 'BPF_PROG_TYPE_SCHED_CLS', 'BPF_TCX_INGRESS', undefined],
  ['tc/egress', 'BPF_PROG_TYPE_SCHED_CLS', 'BPF_TCX_EGRESS', undefined],
  ['tcx/ingress', 'BPF_PROG_TYPE_SCHED_CLS', 'BPF_TCX_INGRESS', undefined],
  ['tcx/egress', 'BPF_PROG_TYPE_SCHED_CLS', 'BPF_TCX_EGRESS', undefined],
  ['netkit/primary', 'BPF_PROG_TYPE_SCHED_CLS', 'BPF_NETKIT_PRIMARY', undefined],
  ['netkit/peer', 'BPF_PROG_TYPE_SCHED_CLS', 'BPF_NETKIT_PEER', undefined],
  ['tc', 'BPF_PROG_TYPE_SCHED_CLS', undefined, undefined],
  ['classifier', 'BPF_PROG_TYPE_SCHED_CLS', undefined, undefined],
  ['action', 'BPF_PROG_TYPE_SCHED_ACT', undefined, undefined],
  ['?xdp', 'BPF_PROG_TYPE_XDP', 'BPF_XDP', undefined],
];

/** The kernel name of a match's expected attach type (libbpf's, for one newer than the constants). */
function attachName(m: SectionMatchResult): string | undefined {
  return m.expectedAttachType !== undefined ? attachTypeName(m.expectedAttachType) : m.def.newerAttachType;
}

test('real section names give libbpf type, attach type, target and flags', () => {
  for (const [name, progType, attach, target, flags] of REAL) {
    const m = matchSection(name);
    assert.ok(m, name);
    assert.equal(progTypeName(m.progType), progType, name);
    assert.equal(attachName(m), attach, name);
    assert.equal(m.target, target, name);
    assert.equal(m.sleepable, flags?.sleepable ?? false, `${name} sleepable`);
    assert.equal(m.xdpFrags, flags?.frags ?? false, `${name} frags`);
  }
  assert.equal(isAutoload('?xdp'), false);
  assert.equal(isAutoload('xdp'), true);
  assert.ok((matchSection('usdt/x:y:z')!.flags & SEC_USDT) !== 0);
  assert.ok((matchSection('fentry/x')!.flags & SEC_ATTACH_BTF) !== 0);
  assert.ok((matchSection('xdp.frags')!.flags & SEC_XDP_FRAGS) !== 0);
  assert.ok((matchSection('lsm.s/x')!.flags & SEC_SLEEPABLE) !== 0);
});

test('names libbpf 1.x does not recognise give undefined', () => {
  for (const name of [
    '',
    '.text',
    'xdp_prog', // legacy sloppy prefix, gone since libbpf 1.0
    'xdp/foo',
    'kprobex',
    'kprobe_foo',
    'socket/1',
    'tc/ingressx',
    'tcx',
    'cgroup',
    'cgroup_skb',
    'license',
    '.maps',
    'fentry.s.x/y',
  ]) {
    assert.equal(matchSection(name), undefined, name);
  }
});

// The oracle: libbpf's libbpf_prog_type_by_name() from the installed libbpf, for every name it knows.
const ORACLE_C = `
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
static int quiet(enum libbpf_print_level l, const char *f, va_list a) { return 0; }
int main(void) {
  char line[512];
  libbpf_set_print(quiet);
  while (fgets(line, sizeof line, stdin)) {
    enum bpf_prog_type pt; enum bpf_attach_type at;
    line[strcspn(line, "\\n")] = 0;
    if (libbpf_prog_type_by_name(line, &pt, &at) != 0) { printf("%s\\t-\\n", line); continue; }
    const char *p = libbpf_bpf_prog_type_str(pt), *a = libbpf_bpf_attach_type_str(at);
    printf("%s\\t%s\\t%s\\n", line, p ? p : "?", a ? a : "?");
  }
  return 0;
}
`;

test("agrees with the installed libbpf's libbpf_prog_type_by_name for every name it knows", (t) => {
  if (!need(t, haveTool('cc'), 'cc not installed')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-sections-'));
  try {
    writeFileSync(join(dir, 'o.c'), ORACLE_C);
    try {
      run('cc', ['-o', join(dir, 'o'), join(dir, 'o.c'), '-lbpf']);
    } catch (e) {
      if (!need(t, false, `cannot build against libbpf: ${String(e)}`)) return;
    }
    const names = new Set<string>(REAL.map((r) => r[0]));
    for (const d of SECTION_DEFS) {
      names.add(d.prefix);
      if (d.match === 'target') names.add(`${d.prefix}/target`);
    }
    for (const n of ['xdp_prog', 'xdp/foo', 'kprobex', 'socket/1', 'cgroup_skb']) names.add(n);
    const out = run(join(dir, 'o'), [], { input: [...names].join('\n') + '\n' });
    let compared = 0;
    let known = 0;
    for (const line of out.trim().split('\n')) {
      const [name, p, a] = line.split('\t') as [string, string, string | undefined];
      const m = matchSection(name);
      if (p === '-') {
        // Names an older libbpf does not know may be newer entries; names we do not know it must not know.
        if (m === undefined) compared++;
        continue;
      }
      known++;
      assert.ok(m, `libbpf knows '${name}' but we do not`);
      assert.equal(progTypeName(m.progType), `BPF_PROG_TYPE_${p.toUpperCase()}`, name);
      // expected_attach_type 0 is BPF_CGROUP_INET_INGRESS numerically.
      assert.equal(attachName(m) ?? 'BPF_CGROUP_INET_INGRESS', `BPF_${a!.toUpperCase()}`, name);
      compared++;
    }
    assert.ok(known > 130 && compared > 140, `compared ${compared} names, ${known} known to libbpf`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
