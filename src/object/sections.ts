// libbpf's section-name table as data (its `section_defs`), and the one function that matches an
// ELF section name against it to find a program's type, expected attach type, flags and target.

/** Flags of a section definition; values and meaning as libbpf's `enum sec_def_flags`. */
export const SEC_NONE = 0;
/** The expected attach type may be dropped on kernels that do not accept one. */
export const SEC_EXP_ATTACH_OPT = 1;
/** Historically attachable with BPF_PROG_ATTACH (cgroup and similar hooks). */
export const SEC_ATTACHABLE = 2;
export const SEC_ATTACHABLE_OPT = SEC_ATTACHABLE | SEC_EXP_ATTACH_OPT;
/** The attach target is a BTF id (kernel function, tracepoint, or another program's function). */
export const SEC_ATTACH_BTF = 4;
/** Loaded with BPF_F_SLEEPABLE. */
export const SEC_SLEEPABLE = 8;
/** XDP program loaded with BPF_F_XDP_HAS_FRAGS (multi-buffer packets). */
export const SEC_XDP_FRAGS = 16;
/** USDT probe: expected attach type becomes BPF_TRACE_UPROBE_MULTI when the kernel has it. */
export const SEC_USDT = 32;

/** Kernel name of a program type, as in `enum bpf_prog_type`. */
export type ProgTypeName = `BPF_PROG_TYPE_${string}`;
/** Kernel name of an attach type, as in `enum bpf_attach_type`. */
export type AttachTypeName = `BPF_${string}`;

/** How a section name is compared with a definition's prefix. */
export type SectionMatch =
  /** The name must equal the prefix. */
  | 'exact'
  /** libbpf's `prefix+`: the name is the prefix alone or `prefix/target`. */
  | 'target';

/** What libbpf's `bpf_program__attach` does for such a section (its attach callback). */
export type AttachKind =
  | 'kprobe'
  | 'uprobe'
  | 'ksyscall'
  | 'usdt'
  | 'tracepoint'
  | 'raw_tracepoint'
  | 'trace'
  | 'kprobe_multi'
  | 'kprobe_session'
  | 'uprobe_multi'
  | 'tracing_multi'
  | 'lsm'
  | 'iter';

export interface SectionDef {
  /** The section name or prefix, without libbpf's trailing `+`. */
  prefix: string;
  match: SectionMatch;
  progType: ProgTypeName;
  /** Expected attach type given to BPF_PROG_LOAD; undefined is 0. */
  expectedAttachType: AttachTypeName | undefined;
  flags: number;
  /** Set when libbpf can attach such a program from the section name alone. */
  autoAttach?: AttachKind;
}

/** The result of matching one section name. */
export interface SectionMatchResult {
  def: SectionDef;
  progType: ProgTypeName;
  expectedAttachType: AttachTypeName | undefined;
  flags: number;
  sleepable: boolean;
  xdpFrags: boolean;
  /** What follows `prefix/` for `+` definitions: `fentry/do_unlinkat` → `do_unlinkat`. */
  target?: string;
}

function def(
  sec: string,
  progType: string,
  expectedAttachType: string | 0,
  flags: number,
  autoAttach?: AttachKind,
): SectionDef {
  const target = sec.endsWith('+');
  const d: SectionDef = {
    prefix: target ? sec.slice(0, -1) : sec,
    match: target ? 'target' : 'exact',
    progType: `BPF_PROG_TYPE_${progType}`,
    expectedAttachType: expectedAttachType === 0 ? undefined : `BPF_${expectedAttachType}`,
    flags,
  };
  if (autoAttach !== undefined) d.autoAttach = autoAttach;
  return d;
}

const A = SEC_ATTACHABLE;
const AO = SEC_ATTACHABLE_OPT;
const BTF = SEC_ATTACH_BTF;
const S = SEC_SLEEPABLE;

/**
 * libbpf's table, in libbpf's order: the first definition that matches wins, so more specific
 * names (`sk_reuseport/migrate`, `xdp.frags/devmap`) come before shorter ones (`sk_reuseport`, `xdp`).
 */
export const SECTION_DEFS: readonly SectionDef[] = [
  def('socket', 'SOCKET_FILTER', 0, SEC_NONE),
  def('sk_reuseport/migrate', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT_OR_MIGRATE', A),
  def('sk_reuseport', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT', A),
  def('kprobe+', 'KPROBE', 0, SEC_NONE, 'kprobe'),
  def('uprobe+', 'KPROBE', 0, SEC_NONE, 'uprobe'),
  def('uprobe.s+', 'KPROBE', 0, S, 'uprobe'),
  def('kretprobe+', 'KPROBE', 0, SEC_NONE, 'kprobe'),
  def('uretprobe+', 'KPROBE', 0, SEC_NONE, 'uprobe'),
  def('uretprobe.s+', 'KPROBE', 0, S, 'uprobe'),
  def('kprobe.multi+', 'KPROBE', 'TRACE_KPROBE_MULTI', SEC_NONE, 'kprobe_multi'),
  def('kretprobe.multi+', 'KPROBE', 'TRACE_KPROBE_MULTI', SEC_NONE, 'kprobe_multi'),
  def('kprobe.session+', 'KPROBE', 'TRACE_KPROBE_SESSION', SEC_NONE, 'kprobe_session'),
  def('uprobe.multi+', 'KPROBE', 'TRACE_UPROBE_MULTI', SEC_NONE, 'uprobe_multi'),
  def('uretprobe.multi+', 'KPROBE', 'TRACE_UPROBE_MULTI', SEC_NONE, 'uprobe_multi'),
  def('uprobe.session+', 'KPROBE', 'TRACE_UPROBE_SESSION', SEC_NONE, 'uprobe_multi'),
  def('uprobe.multi.s+', 'KPROBE', 'TRACE_UPROBE_MULTI', S, 'uprobe_multi'),
  def('uretprobe.multi.s+', 'KPROBE', 'TRACE_UPROBE_MULTI', S, 'uprobe_multi'),
  def('uprobe.session.s+', 'KPROBE', 'TRACE_UPROBE_SESSION', S, 'uprobe_multi'),
  def('ksyscall+', 'KPROBE', 0, SEC_NONE, 'ksyscall'),
  def('kretsyscall+', 'KPROBE', 0, SEC_NONE, 'ksyscall'),
  def('usdt+', 'KPROBE', 0, SEC_USDT, 'usdt'),
  def('usdt.s+', 'KPROBE', 0, SEC_USDT | S, 'usdt'),
  // tc/ingress and tc/egress are aliases of tcx since libbpf 1.3.
  def('tc/ingress', 'SCHED_CLS', 'TCX_INGRESS', SEC_NONE),
  def('tc/egress', 'SCHED_CLS', 'TCX_EGRESS', SEC_NONE),
  def('tcx/ingress', 'SCHED_CLS', 'TCX_INGRESS', SEC_NONE),
  def('tcx/egress', 'SCHED_CLS', 'TCX_EGRESS', SEC_NONE),
  def('tc', 'SCHED_CLS', 0, SEC_NONE),
  def('classifier', 'SCHED_CLS', 0, SEC_NONE),
  def('action', 'SCHED_ACT', 0, SEC_NONE),
  def('netkit/primary', 'SCHED_CLS', 'NETKIT_PRIMARY', SEC_NONE),
  def('netkit/peer', 'SCHED_CLS', 'NETKIT_PEER', SEC_NONE),
  def('tracepoint+', 'TRACEPOINT', 0, SEC_NONE, 'tracepoint'),
  def('tp+', 'TRACEPOINT', 0, SEC_NONE, 'tracepoint'),
  def('tracepoint.s+', 'TRACEPOINT', 0, S, 'tracepoint'),
  def('tp.s+', 'TRACEPOINT', 0, S, 'tracepoint'),
  def('raw_tracepoint+', 'RAW_TRACEPOINT', 0, SEC_NONE, 'raw_tracepoint'),
  def('raw_tp+', 'RAW_TRACEPOINT', 0, SEC_NONE, 'raw_tracepoint'),
  def('raw_tracepoint.s+', 'RAW_TRACEPOINT', 0, S, 'raw_tracepoint'),
  def('raw_tp.s+', 'RAW_TRACEPOINT', 0, S, 'raw_tracepoint'),
  def('raw_tracepoint.w+', 'RAW_TRACEPOINT_WRITABLE', 0, SEC_NONE, 'raw_tracepoint'),
  def('raw_tp.w+', 'RAW_TRACEPOINT_WRITABLE', 0, SEC_NONE, 'raw_tracepoint'),
  def('tp_btf+', 'TRACING', 'TRACE_RAW_TP', BTF, 'trace'),
  def('tp_btf.s+', 'TRACING', 'TRACE_RAW_TP', BTF | S, 'trace'),
  def('fentry+', 'TRACING', 'TRACE_FENTRY', BTF, 'trace'),
  def('fmod_ret+', 'TRACING', 'MODIFY_RETURN', BTF, 'trace'),
  def('fexit+', 'TRACING', 'TRACE_FEXIT', BTF, 'trace'),
  def('fentry.s+', 'TRACING', 'TRACE_FENTRY', BTF | S, 'trace'),
  def('fmod_ret.s+', 'TRACING', 'MODIFY_RETURN', BTF | S, 'trace'),
  def('fexit.s+', 'TRACING', 'TRACE_FEXIT', BTF | S, 'trace'),
  // fsession and the tracing-multi kinds are the newest entries (libbpf 1.7, not yet in Linux 6.18).
  def('fsession+', 'TRACING', 'TRACE_FSESSION', BTF, 'trace'),
  def('fsession.s+', 'TRACING', 'TRACE_FSESSION', BTF | S, 'trace'),
  def('fsession.multi+', 'TRACING', 'TRACE_FSESSION_MULTI', SEC_NONE, 'tracing_multi'),
  def('fsession.multi.s+', 'TRACING', 'TRACE_FSESSION_MULTI', S, 'tracing_multi'),
  def('fentry.multi+', 'TRACING', 'TRACE_FENTRY_MULTI', SEC_NONE, 'tracing_multi'),
  def('fexit.multi+', 'TRACING', 'TRACE_FEXIT_MULTI', SEC_NONE, 'tracing_multi'),
  def('fentry.multi.s+', 'TRACING', 'TRACE_FENTRY_MULTI', S, 'tracing_multi'),
  def('fexit.multi.s+', 'TRACING', 'TRACE_FEXIT_MULTI', S, 'tracing_multi'),
  def('freplace+', 'EXT', 0, BTF, 'trace'),
  def('lsm+', 'LSM', 'LSM_MAC', BTF, 'lsm'),
  def('lsm.s+', 'LSM', 'LSM_MAC', BTF | S, 'lsm'),
  def('lsm_cgroup+', 'LSM', 'LSM_CGROUP', BTF),
  def('iter+', 'TRACING', 'TRACE_ITER', BTF, 'iter'),
  def('iter.s+', 'TRACING', 'TRACE_ITER', BTF | S, 'iter'),
  def('syscall', 'SYSCALL', 0, S),
  def('xdp.frags/devmap', 'XDP', 'XDP_DEVMAP', SEC_XDP_FRAGS),
  def('xdp/devmap', 'XDP', 'XDP_DEVMAP', A),
  def('xdp.frags/cpumap', 'XDP', 'XDP_CPUMAP', SEC_XDP_FRAGS),
  def('xdp/cpumap', 'XDP', 'XDP_CPUMAP', A),
  def('xdp.frags', 'XDP', 'XDP', SEC_XDP_FRAGS),
  def('xdp', 'XDP', 'XDP', AO),
  def('perf_event', 'PERF_EVENT', 0, SEC_NONE),
  def('lwt_in', 'LWT_IN', 0, SEC_NONE),
  def('lwt_out', 'LWT_OUT', 0, SEC_NONE),
  def('lwt_xmit', 'LWT_XMIT', 0, SEC_NONE),
  def('lwt_seg6local', 'LWT_SEG6LOCAL', 0, SEC_NONE),
  def('sockops', 'SOCK_OPS', 'CGROUP_SOCK_OPS', AO),
  def('sk_skb/stream_parser', 'SK_SKB', 'SK_SKB_STREAM_PARSER', AO),
  def('sk_skb/stream_verdict', 'SK_SKB', 'SK_SKB_STREAM_VERDICT', AO),
  def('sk_skb/verdict', 'SK_SKB', 'SK_SKB_VERDICT', AO),
  def('sk_skb', 'SK_SKB', 0, SEC_NONE),
  def('sk_msg', 'SK_MSG', 'SK_MSG_VERDICT', AO),
  def('lirc_mode2', 'LIRC_MODE2', 'LIRC_MODE2', AO),
  def('flow_dissector', 'FLOW_DISSECTOR', 'FLOW_DISSECTOR', AO),
  def('cgroup_skb/ingress', 'CGROUP_SKB', 'CGROUP_INET_INGRESS', AO),
  def('cgroup_skb/egress', 'CGROUP_SKB', 'CGROUP_INET_EGRESS', AO),
  def('cgroup/skb', 'CGROUP_SKB', 0, SEC_NONE),
  def('cgroup/sock_create', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE', A),
  def('cgroup/sock_release', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_RELEASE', A),
  def('cgroup/sock', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE', AO),
  def('cgroup/post_bind4', 'CGROUP_SOCK', 'CGROUP_INET4_POST_BIND', A),
  def('cgroup/post_bind6', 'CGROUP_SOCK', 'CGROUP_INET6_POST_BIND', A),
  def('cgroup/bind4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_BIND', A),
  def('cgroup/bind6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_BIND', A),
  def('cgroup/connect4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_CONNECT', A),
  def('cgroup/connect6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_CONNECT', A),
  def('cgroup/connect_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_CONNECT', A),
  def('cgroup/sendmsg4', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP4_SENDMSG', A),
  def('cgroup/sendmsg6', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP6_SENDMSG', A),
  def('cgroup/sendmsg_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_SENDMSG', A),
  def('cgroup/recvmsg4', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP4_RECVMSG', A),
  def('cgroup/recvmsg6', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP6_RECVMSG', A),
  def('cgroup/recvmsg_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_RECVMSG', A),
  def('cgroup/getpeername4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_GETPEERNAME', A),
  def('cgroup/getpeername6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_GETPEERNAME', A),
  def('cgroup/getpeername_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_GETPEERNAME', A),
  def('cgroup/getsockname4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_GETSOCKNAME', A),
  def('cgroup/getsockname6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_GETSOCKNAME', A),
  def('cgroup/getsockname_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_GETSOCKNAME', A),
  def('cgroup/sysctl', 'CGROUP_SYSCTL', 'CGROUP_SYSCTL', A),
  def('cgroup/getsockopt', 'CGROUP_SOCKOPT', 'CGROUP_GETSOCKOPT', A),
  def('cgroup/setsockopt', 'CGROUP_SOCKOPT', 'CGROUP_SETSOCKOPT', A),
  def('cgroup/dev', 'CGROUP_DEVICE', 'CGROUP_DEVICE', AO),
  def('struct_ops+', 'STRUCT_OPS', 0, SEC_NONE),
  def('struct_ops.s+', 'STRUCT_OPS', 0, S),
  def('sk_lookup', 'SK_LOOKUP', 'SK_LOOKUP', A),
  def('netfilter', 'NETFILTER', 'NETFILTER', SEC_NONE),
];

/**
 * Find the definition for a section name as libbpf does: the first entry that matches, where
 * `exact` entries need the whole name and `target` entries accept `prefix` or `prefix/anything`.
 * A leading `?` (libbpf's "do not autoload" marker) is ignored here; see {@link isAutoload}.
 * Unknown names give undefined (libbpf then leaves the program type unset).
 */
export function matchSection(sectionName: string): SectionMatchResult | undefined {
  const name = sectionName.startsWith('?') ? sectionName.slice(1) : sectionName;
  for (const d of SECTION_DEFS) {
    let target: string | undefined;
    if (d.match === 'exact') {
      if (name !== d.prefix) continue;
    } else {
      if (!name.startsWith(d.prefix)) continue;
      const rest = name.slice(d.prefix.length);
      if (rest !== '' && !rest.startsWith('/')) continue;
      if (rest !== '') target = rest.slice(1);
    }
    const r: SectionMatchResult = {
      def: d,
      progType: d.progType,
      expectedAttachType: d.expectedAttachType,
      flags: d.flags,
      sleepable: (d.flags & SEC_SLEEPABLE) !== 0,
      xdpFrags: (d.flags & SEC_XDP_FRAGS) !== 0 && d.progType === 'BPF_PROG_TYPE_XDP',
    };
    if (target !== undefined) r.target = target;
    return r;
  }
  return undefined;
}

/** libbpf loads a program whose section name starts with `?` only when asked to. */
export function isAutoload(sectionName: string): boolean {
  return !sectionName.startsWith('?');
}
