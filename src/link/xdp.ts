// XDP attachment through a bpf_link (BPF_LINK_CREATE, BPF_XDP): the program runs on every packet the
// device receives, before the kernel allocates an skb. Requires Linux 5.9.
import {
  AttachType,
  ProgType,
  XDP_FLAGS_DRV_MODE,
  XDP_FLAGS_HW_MODE,
  XDP_FLAGS_SKB_MODE,
} from '../constants.js';
import type { Program } from '../program/program.js';
import { checkChoice, checkOptionsArgument } from '../internal/options.js';
import { linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import { Link, requireProgramType } from './link.js';
import { ifindexOf, type Device } from './netdev.js';
import { checkProgramArgument } from './link.js';

/**
 * generic: in the network stack after the skb is built (XDP_FLAGS_SKB_MODE), works on any device;
 * driver: in the driver (XDP_FLAGS_DRV_MODE), needs driver support (veth, virtio_net, mlx5, ...);
 * offload: on the NIC (XDP_FLAGS_HW_MODE), needs a program loaded for that device;
 * auto: driver mode where the driver has it, else generic (the kernel's choice with no flag).
 */
export type XdpMode = 'auto' | 'generic' | 'driver' | 'offload';

/** The XDP modes, as XdpOptions.mode takes them. */
export const XDP_MODES: readonly XdpMode[] = ['auto', 'generic', 'driver', 'offload'];

const MODE_FLAGS: Record<XdpMode, number> = {
  auto: 0,
  generic: XDP_FLAGS_SKB_MODE,
  driver: XDP_FLAGS_DRV_MODE,
  offload: XDP_FLAGS_HW_MODE,
};

export interface XdpOptions {
  mode?: XdpMode;
}

export class XdpLink extends Link {
  readonly ifindex: number;
  readonly mode: XdpMode;

  constructor(fd: ConstructorParameters<typeof Link>[0], ifindex: number, mode: XdpMode) {
    super(fd);
    this.ifindex = ifindex;
    this.mode = mode;
  }
}

/**
 * Attaches an XDP program to a device. The device must have no XDP program in the same mode
 * already (EBUSY); the link detaches when closed, unless pinned.
 */
export function attachXdp(program: Program, device: Device, opts: XdpOptions = {}): XdpLink {
  checkProgramArgument('attachXdp', program);
  checkOptionsArgument('attachXdp', opts);
  const mode = checkChoice('mode', opts.mode, XDP_MODES, { program: program.name }) ?? 'auto';
  requireProgramType(program, 'an XDP', ProgType.XDP);
  const ifindex = ifindexOf(device);
  try {
    const fd = linkCreate({
      prog_fd: program.fd.fd,
      target_ifindex: ifindex,
      attach_type: AttachType.XDP,
      flags: MODE_FLAGS[mode],
    });
    return new XdpLink(fd, ifindex, mode);
  } catch (err) {
    if (err instanceof SyscallError) {
      const hint =
        err.code === 'EBUSY' || err.code === 'EEXIST'
          ? `device ${String(device)} already has an XDP program in this mode`
          : err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUPP'
            ? `device ${String(device)} does not support XDP ${mode} mode`
            : err.hint;
      throw new SyscallError(err.command, err.errno, {
        location: { program: program.name },
        ...(hint !== undefined && { hint }),
      });
    }
    throw err;
  }
}
