// tc attachment through a tcx bpf_link (BPF_LINK_CREATE with BPF_TCX_INGRESS / BPF_TCX_EGRESS): the
// program runs on the device's ingress or egress path, without a qdisc. Requires Linux 6.6.
import { AttachType, BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, ProgType } from '../constants.js';
import {
  checkChoice,
  checkFlags,
  checkInteger,
  checkU64,
  checkOptionsArgument,
} from '../internal/options.js';
import { requireFeature } from '../features/feature.js';
import { TCX } from '../features/links.js';
import type { Program } from '../program/program.js';
import { linkCreate } from '../sys/bpf.js';
import type { Fd } from '../sys/fd.js';
import { Link, requireProgramType } from './link.js';
import { ifindexOf, type Device } from './netdev.js';
import { checkProgramArgument } from './link.js';

export type TcDirection = 'ingress' | 'egress';

/** `direction` when it is 'ingress' or 'egress'; otherwise an OptionError. */
export function checkTcDirection(direction: unknown, program: string): TcDirection {
  return checkChoice('direction', direction ?? '', ['ingress', 'egress'] as const, { program })!;
}

/** The flags a tcx link takes: where in the device's list, relative to what (uapi bpf.h). */
const TCX_FLAGS = BPF_F_BEFORE | BPF_F_AFTER | BPF_F_ID | BPF_F_LINK;

export interface TcxOptions {
  /** Where in the device's program list: BPF_F_BEFORE / BPF_F_AFTER with relative, or 0 (append). */
  flags?: number;
  /** The program or link the position is relative to, by descriptor. */
  relativeFd?: number;
  /** Fail with ESTALE unless the list is still at this revision (from a query). */
  expectedRevision?: bigint;
}

export class TcxLink extends Link {
  readonly ifindex: number;
  readonly direction: TcDirection;

  constructor(fd: Fd, ifindex: number, direction: TcDirection) {
    super(fd);
    this.ifindex = ifindex;
    this.direction = direction;
  }
}

/**
 * Attaches a SCHED_CLS program at the device's ingress or egress through a tcx link; on a kernel
 * before 6.6 a NotSupportedError naming tcx (attachTc falls back to clsact and cls_bpf there).
 */
export function attachTcx(
  program: Program,
  device: Device,
  direction: TcDirection,
  opts: TcxOptions = {},
): TcxLink {
  checkProgramArgument('attachTcx', program);
  checkOptionsArgument('attachTcx', opts);
  const at = { program: program.name };
  checkTcDirection(direction, program.name);
  const flags = checkFlags('flags', opts.flags, TCX_FLAGS, at) ?? 0;
  checkInteger('relativeFd', opts.relativeFd, 0, 0x7fffffff, at);
  checkU64('expectedRevision', opts.expectedRevision, at);
  requireProgramType(program, 'a tc (SCHED_CLS)', ProgType.SCHED_CLS);
  const ifindex = ifindexOf(device);
  // Kernels before 6.6 answer a bare EINVAL for the unknown attach type.
  requireFeature(TCX);
  const fd = linkCreate({
    prog_fd: program.fd.fd,
    target_ifindex: ifindex,
    attach_type: direction === 'ingress' ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS,
    flags,
    ...(opts.relativeFd !== undefined && { tcx_relative_fd: opts.relativeFd }),
    ...(opts.expectedRevision !== undefined && { tcx_expected_revision: opts.expectedRevision }),
  });
  return new TcxLink(fd, ifindex, direction);
}
