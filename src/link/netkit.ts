// netkit links: a SCHED_CLS program on a netkit device (Linux 6.7), on its primary side (the
// device in the host namespace: traffic leaving the peer) or on its peer. Like tcx, programs form
// an ordered list; a program returns NETKIT_NEXT (-1), NETKIT_PASS (0), NETKIT_DROP (2) or
// NETKIT_REDIRECT (7).
import { AttachType, ProgType } from '../constants.js';
import { NotSupportedError } from '../errors.js';
import type { Program } from '../program/program.js';
import { linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { Link, requireProgramType } from './link.js';
import { ifindexOf, type Device } from './netdev.js';
import { checkProgramArgument } from './link.js';
import { checkOptionsArgument } from '../internal/options.js';

export type NetkitSide = 'primary' | 'peer';

export interface NetkitOptions {
  /** BPF_F_BEFORE / BPF_F_AFTER with relativeFd, or 0 (append). */
  flags?: number;
  relativeFd?: number;
  expectedRevision?: bigint;
}

export class NetkitLink extends Link {
  readonly ifindex: number;
  readonly side: NetkitSide;

  constructor(fd: Fd, ifindex: number, side: NetkitSide) {
    super(fd);
    this.ifindex = ifindex;
    this.side = side;
  }
}

/**
 * Attaches a SCHED_CLS program to the primary netkit device `device` (its index or name in this
 * namespace), on the primary or the peer side. Requires Linux 6.7.
 */
export function attachNetkit(
  program: Program,
  device: Device,
  side: NetkitSide,
  opts: NetkitOptions = {},
): NetkitLink {
  checkProgramArgument('attachNetkit', program);
  checkOptionsArgument('attachNetkit', opts);
  requireProgramType(program, 'a netkit (SCHED_CLS)', ProgType.SCHED_CLS);
  const ifindex = ifindexOf(device);
  try {
    const fd = linkCreate({
      prog_fd: program.fd.fd,
      target_ifindex: ifindex,
      attach_type: side === 'primary' ? AttachType.NETKIT_PRIMARY : AttachType.NETKIT_PEER,
      flags: opts.flags ?? 0,
      ...(opts.relativeFd !== undefined && { netkit_relative_fd: opts.relativeFd }),
      ...(opts.expectedRevision !== undefined && { netkit_expected_revision: opts.expectedRevision }),
    });
    return new NetkitLink(fd, ifindex, side);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EINVAL')
      throw new NotSupportedError(
        `netkit links require Linux 6.7 (or ${String(device)} is not a netkit device)`,
        {
          program: program.name,
        },
      );
    if (err instanceof SyscallError && err.code === 'ENXIO')
      throw new SyscallError(err.command, err.errno, {
        location: { program: program.name },
        hint: `${String(device)} is not a netkit primary device (attach through the primary, side 'peer' for the peer)`,
      });
    throw err;
  }
}
