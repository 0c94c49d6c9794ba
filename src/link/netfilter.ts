// netfilter links: a NETFILTER program on a netfilter hook of a protocol family, at a priority,
// as an nftables base chain would be (BPF_NETFILTER, Linux 6.4). The program returns NF_ACCEPT (1)
// or NF_DROP (0).
import { AttachType, ProgType } from '../constants.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import type { Program } from '../program/program.js';
import { linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { Link, requireProgramType } from './link.js';
import { checkProgramArgument } from './link.js';
import { checkOptionsArgument } from '../internal/options.js';

/** Protocol families (NFPROTO_*) netfilter links take. */
export const NFPROTO = { IPV4: 2, IPV6: 10 } as const;
/** Hooks (enum nf_inet_hooks). */
export const NF_INET = { PRE_ROUTING: 0, LOCAL_IN: 1, FORWARD: 2, LOCAL_OUT: 3, POST_ROUTING: 4 } as const;
/** BPF_F_NETFILTER_IP_DEFRAG: packets reach the program reassembled (Linux 6.6). */
export const BPF_F_NETFILTER_IP_DEFRAG = 1;

export interface NetfilterOptions {
  /** 'ipv4' (default) or 'ipv6', or an NFPROTO_* number. */
  family?: 'ipv4' | 'ipv6' | number;
  /** Where in the hook's chain; neither INT_MIN nor INT_MAX (reserved). Default 0. */
  priority?: number;
  /** Reassemble fragments first (BPF_F_NETFILTER_IP_DEFRAG). */
  defrag?: boolean;
}

const HOOKS: Record<string, number> = {
  prerouting: NF_INET.PRE_ROUTING,
  input: NF_INET.LOCAL_IN,
  forward: NF_INET.FORWARD,
  output: NF_INET.LOCAL_OUT,
  postrouting: NF_INET.POST_ROUTING,
};

export class NetfilterLink extends Link {
  readonly family: number;
  readonly hook: number;
  readonly priority: number;

  constructor(fd: Fd, family: number, hook: number, priority: number) {
    super(fd);
    this.family = family;
    this.hook = hook;
    this.priority = priority;
  }
}

/**
 * Attaches a NETFILTER program to `hook` ('prerouting', 'input', 'forward', 'output',
 * 'postrouting', or an NF_INET_* number) in this network namespace. Requires Linux 6.4.
 */
export function attachNetfilter(
  program: Program,
  hook: string | number,
  opts: NetfilterOptions = {},
): NetfilterLink {
  checkProgramArgument('attachNetfilter', program);
  checkOptionsArgument('attachNetfilter', opts);
  requireProgramType(program, 'a netfilter', ProgType.NETFILTER);
  const hooknum = typeof hook === 'number' ? hook : HOOKS[hook];
  if (hooknum === undefined)
    throw new EbpfError(`unknown netfilter hook '${hook}' (one of ${Object.keys(HOOKS).join(', ')})`, {
      program: program.name,
    });
  const f = opts.family ?? 'ipv4';
  const family = f === 'ipv4' ? NFPROTO.IPV4 : f === 'ipv6' ? NFPROTO.IPV6 : f;
  const priority = opts.priority ?? 0;
  try {
    const fd = linkCreate({
      prog_fd: program.fd.fd,
      attach_type: AttachType.NETFILTER,
      netfilter_pf: family,
      netfilter_hooknum: hooknum,
      netfilter_priority: priority,
      netfilter_flags: opts.defrag === true ? BPF_F_NETFILTER_IP_DEFRAG : 0,
    });
    return new NetfilterLink(fd, family, hooknum, priority);
  } catch (err) {
    // A kernel that loaded a NETFILTER program (6.4+) but has no netfilter links was built without
    // CONFIG_NETFILTER_BPF_LINK: EOPNOTSUPP.
    if (err instanceof SyscallError && (err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUPP'))
      throw new NotSupportedError('netfilter links require Linux 6.4 with CONFIG_NETFILTER_BPF_LINK', {
        program: program.name,
      });
    if (err instanceof SyscallError && err.code === 'EINVAL') {
      throw new SyscallError(err.command, err.errno, {
        location: { program: program.name },
        hint: `the family, hook or priority is not valid for a netfilter link (defrag needs Linux 6.6)`,
      });
    }
    throw err;
  }
}
