// RLIMIT_MEMLOCK: kernels before 5.11 charge BPF maps and programs against it instead of memcg.
import { E } from './errno.js';
import { isErrno, SyscallError } from './error.js';
import { native } from './native.js';

/** RLIM_INFINITY as the kernel reports it. */
export const RLIM_INFINITY = 0xffffffffffffffffn;

export interface Rlimit {
  soft: bigint;
  hard: bigint;
}

export function getMemlockRlimit(): Rlimit {
  const n = native();
  const r = n.getrlimit(n.RLIMIT_MEMLOCK);
  if (typeof r === 'number') throw new SyscallError('getrlimit', -r);
  return { soft: r[0], hard: r[1] };
}

export function setMemlockRlimit(limit: Rlimit): void {
  const n = native();
  const r = n.setrlimit(n.RLIMIT_MEMLOCK, limit.soft, limit.hard);
  if (r < 0) throw new SyscallError('setrlimit', -r);
}

/**
 * Raises RLIMIT_MEMLOCK to infinity and returns the previous limit, so a caller can restore it.
 * Raising the hard limit needs CAP_SYS_RESOURCE; without it the soft limit is raised to the hard
 * one, which is as far as an unprivileged process can go (and enough on 5.11+, which ignores it).
 */
export function removeMemlockRlimit(): Rlimit {
  const prev = getMemlockRlimit();
  if (prev.soft === RLIM_INFINITY && prev.hard === RLIM_INFINITY) return prev;
  try {
    setMemlockRlimit({ soft: RLIM_INFINITY, hard: RLIM_INFINITY });
  } catch (err) {
    if (!isErrno(err, E.EPERM)) throw err;
    if (prev.soft !== prev.hard) setMemlockRlimit({ soft: prev.hard, hard: prev.hard });
  }
  return prev;
}
