// Link probes: bpf_link through BPF_LINK_CREATE, for XDP, tcx, uprobe_multi, kprobe_multi, sessions and struct_ops.
import { asm, R0 } from '../asm/index.js';
import { AttachType, BPF_F_LINK, MapType, ProgType, XDP_FLAGS_SKB_MODE } from '../constants.js';
import { cString, linkCreate, mapCreate, progLoad } from '../sys/bpf.js';
import { cStringPointers } from '../sys/probe-event.js';
import { E } from '../sys/errno.js';
import { attempt, NOT_SUPPORTED } from './attempt.js';
import { feature } from './feature.js';
import { program } from './insns.js';

const LOOPBACK_IFINDEX = 1;

function withProgram(type: number, expectedAttachType: number, use: (progFd: number) => void): void {
  // (A KPROBE program loads with any expected attach type on kernels that predate the one asked.)
  const prog = progLoad(
    { prog_type: type, expected_attach_type: expectedAttachType },
    {
      insns: program(asm.mov64Imm(R0, type === ProgType.XDP ? 2 /* XDP_PASS */ : 0), asm.exit()),
      license: 'GPL',
    },
  ).fd;
  try {
    use(prog.fd);
  } finally {
    prog.close();
  }
}

// A cgroup link to a descriptor that is not a cgroup: a kernel with BPF_LINK_CREATE gets as far
// as resolving the target (EBADF); one without it rejects the command (EINVAL).
export const LINK_CREATE = feature('BPF_LINK_CREATE (bpf_link)', '5.7', () =>
  attempt(
    () =>
      withProgram(ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, (progFd) => {
        linkCreate({
          prog_fd: progFd,
          target_fd: 0x7fffffff,
          attach_type: AttachType.CGROUP_INET_INGRESS,
        }).close();
      }),
    { alsoYes: [E.EBADF] },
  ),
);

// XDP links report a missing device as EINVAL too, so this one really attaches, in generic
// mode, to the loopback device for the moment it takes to close the link. EBUSY/EEXIST mean
// someone else's XDP program is there, which a kernel without XDP links would not say.
export const XDP_LINK = feature('BPF_LINK_CREATE for XDP', '5.9', () =>
  attempt(
    () =>
      withProgram(ProgType.XDP, AttachType.XDP, (progFd) => {
        linkCreate({
          prog_fd: progFd,
          target_ifindex: LOOPBACK_IFINDEX,
          attach_type: AttachType.XDP,
          flags: XDP_FLAGS_SKB_MODE,
        }).close();
      }),
    { alsoYes: [E.EBUSY, E.EEXIST] },
  ),
);

// tcx reports a missing device as ENODEV, so the probe attaches to nothing.
export const TCX = feature('tcx (BPF_TCX_INGRESS links)', '6.6', () =>
  attempt(
    () =>
      withProgram(ProgType.SCHED_CLS, AttachType.TCX_INGRESS, (progFd) => {
        linkCreate({
          prog_fd: progFd,
          target_ifindex: 0x7fffffff,
          attach_type: AttachType.TCX_INGRESS,
        }).close();
      }),
    { alsoYes: [E.ENODEV] },
  ),
);

/**
 * A uprobe_multi link on "/" (a directory): a kernel with such links resolves the path and
 * refuses a non-regular file (EBADF); one without refuses the attach type (EINVAL).
 */
function uprobeMultiProbe(attachType: number): boolean {
  return attempt(
    () =>
      withProgram(ProgType.KPROBE, attachType, (progFd) => {
        linkCreate(
          { prog_fd: progFd, attach_type: attachType, uprobe_multi_cnt: 1 },
          { uprobe_multi_path: cString('/'), uprobe_multi_offsets: new BigUint64Array([0n]) },
        ).close();
      }),
    { alsoYes: [E.EBADF] },
  );
}

export const UPROBE_MULTI_LINK = feature('uprobe_multi links (BPF_TRACE_UPROBE_MULTI)', '6.6', () =>
  uprobeMultiProbe(AttachType.TRACE_UPROBE_MULTI),
);

export const UPROBE_SESSION = feature('uprobe sessions (BPF_TRACE_UPROBE_SESSION)', '6.13', () =>
  uprobeMultiProbe(AttachType.TRACE_UPROBE_SESSION),
);

// A kprobe_multi link (or session) to a function that does not exist: a kernel with them looks
// the name up (ESRCH or ENOENT); one built without CONFIG_FPROBE says EOPNOTSUPP; one that does
// not know the attach type (before 5.18; sessions before 6.10) refuses it or takes the request for
// a perf link on descriptor 0 (EINVAL, EBADF).
function kprobeMultiProbe(attachType: number): boolean {
  const { pointers, keep } = cStringPointers(['ebpf_feature_probe_no_such_function']);
  try {
    return attempt(
      () =>
        withProgram(ProgType.KPROBE, attachType, (progFd) => {
          linkCreate(
            { prog_fd: progFd, attach_type: attachType, kprobe_multi_cnt: 1 },
            { kprobe_multi_syms: pointers },
          ).close();
        }),
      { alsoYes: [E.ESRCH, E.ENOENT], no: [...NOT_SUPPORTED, E.EBADF] },
    );
  } finally {
    void keep;
  }
}

export const KPROBE_MULTI_LINK = feature(
  'kprobe_multi links (BPF_TRACE_KPROBE_MULTI)',
  '5.18',
  () => kprobeMultiProbe(AttachType.TRACE_KPROBE_MULTI),
  'CONFIG_FPROBE',
);

export const KPROBE_SESSION = feature(
  'kprobe sessions (BPF_TRACE_KPROBE_SESSION)',
  '6.10',
  () => kprobeMultiProbe(AttachType.TRACE_KPROBE_SESSION),
  'CONFIG_FPROBE',
);

// A struct_ops map with BPF_F_LINK and a value type id no kernel has: a kernel with struct_ops
// links accepts the flag and then finds no such struct_ops type (ENOTSUPP); one before refuses
// any map flag on a struct_ops map (EINVAL), as does one without struct_ops maps at all.
export const STRUCT_OPS_LINK = feature('struct_ops links (BPF_F_LINK struct_ops maps)', '6.4', () =>
  attempt(
    () =>
      mapCreate({
        map_type: MapType.STRUCT_OPS,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        map_flags: BPF_F_LINK,
        btf_vmlinux_value_type_id: 0x7fffffff,
      }),
    { alsoYes: [E.ENOTSUPP], no: [E.EINVAL] },
  ),
);
