// libbpf's section-name table as data (its `section_defs`), and the one function that matches an
// ELF section name against it to find a program's type, expected attach type, flags and target.
import { AttachType, ProgType } from '../constants.js';

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

/** A program type (`enum bpf_prog_type`): one of the values of ProgType. */
export type ProgTypeValue = (typeof ProgType)[keyof typeof ProgType];
/** An attach type (`enum bpf_attach_type`): one of the values of AttachType. */
export type AttachTypeValue = (typeof AttachType)[keyof typeof AttachType];
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
  progType: ProgTypeValue;
  /** Expected attach type given to BPF_PROG_LOAD; undefined is none (0). */
  expectedAttachType: AttachTypeValue | undefined;
  /**
   * An attach type newer than the kernel the constants were generated from (so it has no value
   * here): libbpf's name for it. expectedAttachType is then undefined.
   */
  newerAttachType?: AttachTypeName;
  flags: number;
  /** Set when libbpf can attach such a program from the section name alone. */
  autoAttach?: AttachKind;
}

/** The result of matching one section name. */
export interface SectionMatchResult {
  def: SectionDef;
  progType: ProgTypeValue;
  expectedAttachType: AttachTypeValue | undefined;
  flags: number;
  sleepable: boolean;
  xdpFrags: boolean;
  /** What follows `prefix/` for `+` definitions: `fentry/do_unlinkat` → `do_unlinkat`. */
  target?: string;
}

/** An attach type the generated constants do not have yet (see SectionDef.newerAttachType). */
interface Newer {
  newer: AttachTypeName;
}

function def(
  sec: string,
  progType: ProgTypeValue,
  expectedAttachType: AttachTypeValue | typeof NONE | Newer,
  flags: number,
  autoAttach?: AttachKind,
): SectionDef {
  const target = sec.endsWith('+');
  const d: SectionDef = {
    prefix: target ? sec.slice(0, -1) : sec,
    match: target ? 'target' : 'exact',
    progType,
    expectedAttachType: typeof expectedAttachType === 'number' ? expectedAttachType : undefined,
    flags,
  };
  if (typeof expectedAttachType === 'object') d.newerAttachType = expectedAttachType.newer;
  if (autoAttach !== undefined) d.autoAttach = autoAttach;
  return d;
}

/** No expected attach type. */
const NONE = undefined;
const P = ProgType;
const T = AttachType;

const A = SEC_ATTACHABLE;
const AO = SEC_ATTACHABLE_OPT;
const BTF = SEC_ATTACH_BTF;
const S = SEC_SLEEPABLE;

/**
 * libbpf's table, in libbpf's order: the first definition that matches wins, so more specific
 * names (`sk_reuseport/migrate`, `xdp.frags/devmap`) come before shorter ones (`sk_reuseport`, `xdp`).
 */
export const SECTION_DEFS: readonly SectionDef[] = [
  def('socket', P.SOCKET_FILTER, NONE, SEC_NONE),
  def('sk_reuseport/migrate', P.SK_REUSEPORT, T.SK_REUSEPORT_SELECT_OR_MIGRATE, A),
  def('sk_reuseport', P.SK_REUSEPORT, T.SK_REUSEPORT_SELECT, A),
  def('kprobe+', P.KPROBE, NONE, SEC_NONE, 'kprobe'),
  def('uprobe+', P.KPROBE, NONE, SEC_NONE, 'uprobe'),
  def('uprobe.s+', P.KPROBE, NONE, S, 'uprobe'),
  def('kretprobe+', P.KPROBE, NONE, SEC_NONE, 'kprobe'),
  def('uretprobe+', P.KPROBE, NONE, SEC_NONE, 'uprobe'),
  def('uretprobe.s+', P.KPROBE, NONE, S, 'uprobe'),
  def('kprobe.multi+', P.KPROBE, T.TRACE_KPROBE_MULTI, SEC_NONE, 'kprobe_multi'),
  def('kretprobe.multi+', P.KPROBE, T.TRACE_KPROBE_MULTI, SEC_NONE, 'kprobe_multi'),
  def('kprobe.session+', P.KPROBE, T.TRACE_KPROBE_SESSION, SEC_NONE, 'kprobe_session'),
  def('uprobe.multi+', P.KPROBE, T.TRACE_UPROBE_MULTI, SEC_NONE, 'uprobe_multi'),
  def('uretprobe.multi+', P.KPROBE, T.TRACE_UPROBE_MULTI, SEC_NONE, 'uprobe_multi'),
  def('uprobe.session+', P.KPROBE, T.TRACE_UPROBE_SESSION, SEC_NONE, 'uprobe_multi'),
  def('uprobe.multi.s+', P.KPROBE, T.TRACE_UPROBE_MULTI, S, 'uprobe_multi'),
  def('uretprobe.multi.s+', P.KPROBE, T.TRACE_UPROBE_MULTI, S, 'uprobe_multi'),
  def('uprobe.session.s+', P.KPROBE, T.TRACE_UPROBE_SESSION, S, 'uprobe_multi'),
  def('ksyscall+', P.KPROBE, NONE, SEC_NONE, 'ksyscall'),
  def('kretsyscall+', P.KPROBE, NONE, SEC_NONE, 'ksyscall'),
  def('usdt+', P.KPROBE, NONE, SEC_USDT, 'usdt'),
  def('usdt.s+', P.KPROBE, NONE, SEC_USDT | S, 'usdt'),
  // tc/ingress and tc/egress are aliases of tcx since libbpf 1.3.
  def('tc/ingress', P.SCHED_CLS, T.TCX_INGRESS, SEC_NONE),
  def('tc/egress', P.SCHED_CLS, T.TCX_EGRESS, SEC_NONE),
  def('tcx/ingress', P.SCHED_CLS, T.TCX_INGRESS, SEC_NONE),
  def('tcx/egress', P.SCHED_CLS, T.TCX_EGRESS, SEC_NONE),
  def('tc', P.SCHED_CLS, NONE, SEC_NONE),
  def('classifier', P.SCHED_CLS, NONE, SEC_NONE),
  def('action', P.SCHED_ACT, NONE, SEC_NONE),
  def('netkit/primary', P.SCHED_CLS, T.NETKIT_PRIMARY, SEC_NONE),
  def('netkit/peer', P.SCHED_CLS, T.NETKIT_PEER, SEC_NONE),
  def('tracepoint+', P.TRACEPOINT, NONE, SEC_NONE, 'tracepoint'),
  def('tp+', P.TRACEPOINT, NONE, SEC_NONE, 'tracepoint'),
  def('tracepoint.s+', P.TRACEPOINT, NONE, S, 'tracepoint'),
  def('tp.s+', P.TRACEPOINT, NONE, S, 'tracepoint'),
  def('raw_tracepoint+', P.RAW_TRACEPOINT, NONE, SEC_NONE, 'raw_tracepoint'),
  def('raw_tp+', P.RAW_TRACEPOINT, NONE, SEC_NONE, 'raw_tracepoint'),
  def('raw_tracepoint.s+', P.RAW_TRACEPOINT, NONE, S, 'raw_tracepoint'),
  def('raw_tp.s+', P.RAW_TRACEPOINT, NONE, S, 'raw_tracepoint'),
  def('raw_tracepoint.w+', P.RAW_TRACEPOINT_WRITABLE, NONE, SEC_NONE, 'raw_tracepoint'),
  def('raw_tp.w+', P.RAW_TRACEPOINT_WRITABLE, NONE, SEC_NONE, 'raw_tracepoint'),
  def('tp_btf+', P.TRACING, T.TRACE_RAW_TP, BTF, 'trace'),
  def('tp_btf.s+', P.TRACING, T.TRACE_RAW_TP, BTF | S, 'trace'),
  def('fentry+', P.TRACING, T.TRACE_FENTRY, BTF, 'trace'),
  def('fmod_ret+', P.TRACING, T.MODIFY_RETURN, BTF, 'trace'),
  def('fexit+', P.TRACING, T.TRACE_FEXIT, BTF, 'trace'),
  def('fentry.s+', P.TRACING, T.TRACE_FENTRY, BTF | S, 'trace'),
  def('fmod_ret.s+', P.TRACING, T.MODIFY_RETURN, BTF | S, 'trace'),
  def('fexit.s+', P.TRACING, T.TRACE_FEXIT, BTF | S, 'trace'),
  // fsession and the tracing-multi kinds are the newest entries (libbpf 1.7, not yet in Linux 6.18).
  def('fsession+', P.TRACING, { newer: 'BPF_TRACE_FSESSION' }, BTF, 'trace'),
  def('fsession.s+', P.TRACING, { newer: 'BPF_TRACE_FSESSION' }, BTF | S, 'trace'),
  def('fsession.multi+', P.TRACING, { newer: 'BPF_TRACE_FSESSION_MULTI' }, SEC_NONE, 'tracing_multi'),
  def('fsession.multi.s+', P.TRACING, { newer: 'BPF_TRACE_FSESSION_MULTI' }, S, 'tracing_multi'),
  def('fentry.multi+', P.TRACING, { newer: 'BPF_TRACE_FENTRY_MULTI' }, SEC_NONE, 'tracing_multi'),
  def('fexit.multi+', P.TRACING, { newer: 'BPF_TRACE_FEXIT_MULTI' }, SEC_NONE, 'tracing_multi'),
  def('fentry.multi.s+', P.TRACING, { newer: 'BPF_TRACE_FENTRY_MULTI' }, S, 'tracing_multi'),
  def('fexit.multi.s+', P.TRACING, { newer: 'BPF_TRACE_FEXIT_MULTI' }, S, 'tracing_multi'),
  def('freplace+', P.EXT, NONE, BTF, 'trace'),
  def('lsm+', P.LSM, T.LSM_MAC, BTF, 'lsm'),
  def('lsm.s+', P.LSM, T.LSM_MAC, BTF | S, 'lsm'),
  def('lsm_cgroup+', P.LSM, T.LSM_CGROUP, BTF),
  def('iter+', P.TRACING, T.TRACE_ITER, BTF, 'iter'),
  def('iter.s+', P.TRACING, T.TRACE_ITER, BTF | S, 'iter'),
  def('syscall', P.SYSCALL, NONE, S),
  def('xdp.frags/devmap', P.XDP, T.XDP_DEVMAP, SEC_XDP_FRAGS),
  def('xdp/devmap', P.XDP, T.XDP_DEVMAP, A),
  def('xdp.frags/cpumap', P.XDP, T.XDP_CPUMAP, SEC_XDP_FRAGS),
  def('xdp/cpumap', P.XDP, T.XDP_CPUMAP, A),
  def('xdp.frags', P.XDP, T.XDP, SEC_XDP_FRAGS),
  def('xdp', P.XDP, T.XDP, AO),
  def('perf_event', P.PERF_EVENT, NONE, SEC_NONE),
  def('lwt_in', P.LWT_IN, NONE, SEC_NONE),
  def('lwt_out', P.LWT_OUT, NONE, SEC_NONE),
  def('lwt_xmit', P.LWT_XMIT, NONE, SEC_NONE),
  def('lwt_seg6local', P.LWT_SEG6LOCAL, NONE, SEC_NONE),
  def('sockops', P.SOCK_OPS, T.CGROUP_SOCK_OPS, AO),
  def('sk_skb/stream_parser', P.SK_SKB, T.SK_SKB_STREAM_PARSER, AO),
  def('sk_skb/stream_verdict', P.SK_SKB, T.SK_SKB_STREAM_VERDICT, AO),
  def('sk_skb/verdict', P.SK_SKB, T.SK_SKB_VERDICT, AO),
  def('sk_skb', P.SK_SKB, NONE, SEC_NONE),
  def('sk_msg', P.SK_MSG, T.SK_MSG_VERDICT, AO),
  def('lirc_mode2', P.LIRC_MODE2, T.LIRC_MODE2, AO),
  def('flow_dissector', P.FLOW_DISSECTOR, T.FLOW_DISSECTOR, AO),
  def('cgroup_skb/ingress', P.CGROUP_SKB, T.CGROUP_INET_INGRESS, AO),
  def('cgroup_skb/egress', P.CGROUP_SKB, T.CGROUP_INET_EGRESS, AO),
  def('cgroup/skb', P.CGROUP_SKB, NONE, SEC_NONE),
  def('cgroup/sock_create', P.CGROUP_SOCK, T.CGROUP_INET_SOCK_CREATE, A),
  def('cgroup/sock_release', P.CGROUP_SOCK, T.CGROUP_INET_SOCK_RELEASE, A),
  def('cgroup/sock', P.CGROUP_SOCK, T.CGROUP_INET_SOCK_CREATE, AO),
  def('cgroup/post_bind4', P.CGROUP_SOCK, T.CGROUP_INET4_POST_BIND, A),
  def('cgroup/post_bind6', P.CGROUP_SOCK, T.CGROUP_INET6_POST_BIND, A),
  def('cgroup/bind4', P.CGROUP_SOCK_ADDR, T.CGROUP_INET4_BIND, A),
  def('cgroup/bind6', P.CGROUP_SOCK_ADDR, T.CGROUP_INET6_BIND, A),
  def('cgroup/connect4', P.CGROUP_SOCK_ADDR, T.CGROUP_INET4_CONNECT, A),
  def('cgroup/connect6', P.CGROUP_SOCK_ADDR, T.CGROUP_INET6_CONNECT, A),
  def('cgroup/connect_unix', P.CGROUP_SOCK_ADDR, T.CGROUP_UNIX_CONNECT, A),
  def('cgroup/sendmsg4', P.CGROUP_SOCK_ADDR, T.CGROUP_UDP4_SENDMSG, A),
  def('cgroup/sendmsg6', P.CGROUP_SOCK_ADDR, T.CGROUP_UDP6_SENDMSG, A),
  def('cgroup/sendmsg_unix', P.CGROUP_SOCK_ADDR, T.CGROUP_UNIX_SENDMSG, A),
  def('cgroup/recvmsg4', P.CGROUP_SOCK_ADDR, T.CGROUP_UDP4_RECVMSG, A),
  def('cgroup/recvmsg6', P.CGROUP_SOCK_ADDR, T.CGROUP_UDP6_RECVMSG, A),
  def('cgroup/recvmsg_unix', P.CGROUP_SOCK_ADDR, T.CGROUP_UNIX_RECVMSG, A),
  def('cgroup/getpeername4', P.CGROUP_SOCK_ADDR, T.CGROUP_INET4_GETPEERNAME, A),
  def('cgroup/getpeername6', P.CGROUP_SOCK_ADDR, T.CGROUP_INET6_GETPEERNAME, A),
  def('cgroup/getpeername_unix', P.CGROUP_SOCK_ADDR, T.CGROUP_UNIX_GETPEERNAME, A),
  def('cgroup/getsockname4', P.CGROUP_SOCK_ADDR, T.CGROUP_INET4_GETSOCKNAME, A),
  def('cgroup/getsockname6', P.CGROUP_SOCK_ADDR, T.CGROUP_INET6_GETSOCKNAME, A),
  def('cgroup/getsockname_unix', P.CGROUP_SOCK_ADDR, T.CGROUP_UNIX_GETSOCKNAME, A),
  def('cgroup/sysctl', P.CGROUP_SYSCTL, T.CGROUP_SYSCTL, A),
  def('cgroup/getsockopt', P.CGROUP_SOCKOPT, T.CGROUP_GETSOCKOPT, A),
  def('cgroup/setsockopt', P.CGROUP_SOCKOPT, T.CGROUP_SETSOCKOPT, A),
  def('cgroup/dev', P.CGROUP_DEVICE, T.CGROUP_DEVICE, AO),
  def('struct_ops+', P.STRUCT_OPS, NONE, SEC_NONE),
  def('struct_ops.s+', P.STRUCT_OPS, NONE, S),
  def('sk_lookup', P.SK_LOOKUP, T.SK_LOOKUP, A),
  def('netfilter', P.NETFILTER, T.NETFILTER, SEC_NONE),
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
      xdpFrags: (d.flags & SEC_XDP_FRAGS) !== 0 && d.progType === ProgType.XDP,
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
