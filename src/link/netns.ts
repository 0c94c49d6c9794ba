// Network-namespace links: sk_lookup programs (BPF_SK_LOOKUP, Linux 5.9), which pick the socket an
// incoming connection or datagram is delivered to, and flow dissectors (BPF_FLOW_DISSECTOR, link
// 5.8), which replace the kernel's packet parser for the namespace. The target is a namespace
// file: /proc/self/ns/net (the default), /proc/PID/ns/net or an `ip netns` bind mount.
import { constants, openSync } from 'node:fs';
import { AttachType, ProgType } from '../constants.js';
import { NotFoundError, NotSupportedError } from '../errors.js';
import type { Program } from '../program/program.js';
import { linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import { Fd } from '../sys/fd.js';
import { Link, requireProgramType } from './link.js';
import { checkProgramArgument } from './link.js';

export class NetnsLink extends Link {
  /** The namespace file it was attached through. */
  readonly netns: string;
  readonly attachType: number;

  constructor(fd: Fd, netns: string, attachType: number) {
    super(fd);
    this.netns = netns;
    this.attachType = attachType;
  }
}

/** The namespace file of `ip netns` namespace `name` (/run/netns/NAME). */
export const namedNetns = (name: string): string => `/run/netns/${name}`;

function attachNetns(
  program: Program,
  netns: string,
  attachType: number,
  what: string,
  version: string,
): NetnsLink {
  let ns: Fd;
  try {
    ns = new Fd(openSync(netns, constants.O_RDONLY));
  } catch (err) {
    throw new NotFoundError(`cannot open network namespace ${netns}`, { file: netns }, { cause: err });
  }
  try {
    return new NetnsLink(
      linkCreate({ prog_fd: program.fd.fd, target_fd: ns.fd, attach_type: attachType }),
      netns,
      attachType,
    );
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EINVAL')
      throw new NotSupportedError(
        `${what} links require Linux ${version} (or ${netns} is not a network namespace)`,
        {
          program: program.name,
        },
      );
    // A full program list is E2BIG (flow dissectors allow one per namespace); a prog_attach'ed one EEXIST.
    if (err instanceof SyscallError && (err.code === 'EEXIST' || err.code === 'E2BIG'))
      throw new SyscallError(err.command, err.errno, {
        location: { program: program.name, file: netns },
        hint: `the namespace already has ${what === 'flow_dissector' ? 'a flow_dissector program (one is allowed)' : `as many ${what} programs as it takes`}`,
      });
    throw err;
  } finally {
    ns.close();
  }
}

/** Attaches an SK_LOOKUP program to a network namespace. Requires Linux 5.9. */
export function attachSkLookup(program: Program, netns = '/proc/self/ns/net'): NetnsLink {
  checkProgramArgument('attachSkLookup', program);
  requireProgramType(program, 'an sk_lookup', ProgType.SK_LOOKUP);
  return attachNetns(program, netns, AttachType.SK_LOOKUP, 'sk_lookup', '5.9');
}

/**
 * Attaches a FLOW_DISSECTOR program to a network namespace: it parses the packets of its devices
 * in place of the kernel's dissector. One per namespace. Requires Linux 5.8 for the link.
 */
export function attachFlowDissector(program: Program, netns = '/proc/self/ns/net'): NetnsLink {
  checkProgramArgument('attachFlowDissector', program);
  requireProgramType(program, 'a flow_dissector', ProgType.FLOW_DISSECTOR);
  return attachNetns(program, netns, AttachType.FLOW_DISSECTOR, 'flow_dissector', '5.8');
}
