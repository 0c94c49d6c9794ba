// RLIMIT_MEMLOCK and BPF memory: kernels before 5.11 charge maps, programs and BTF to the
// process's RLIMIT_MEMLOCK (64 KiB by default on Debian 11: a few maps), later ones to the memory
// cgroup. As libbpf does, the loader raises the limit only where the kernel still charges it.
import { ProgType } from '../constants.js';
import { E } from '../sys/errno.js';
import { isErrno } from '../sys/error.js';
import { releaseBefore511, setMemlockCharged } from '../sys/memlock.js';
import { removeMemlockRlimit } from '../sys/rlimit.js';
import { feature, haveFeature } from './feature.js';
import { helperAvailable } from './programs.js';

/** bpf_ktime_get_coarse_ns: added in 5.11, the release that moved BPF memory to memcg. */
const BPF_FUNC_KTIME_GET_COARSE_NS = 160;

// The accounting change itself leaves no trace a program can see; the helper that came in the
// same release (5.11) does, and its presence is how libbpf decides too.
export const MEMCG_ACCOUNTING = feature('memcg accounting of BPF memory (not RLIMIT_MEMLOCK)', '5.11', () =>
  helperAvailable(ProgType.SOCKET_FILTER, BPF_FUNC_KTIME_GET_COARSE_NS),
);

let raised = false;

/**
 * Raises RLIMIT_MEMLOCK to infinity (or the soft limit to the hard one without
 * CAP_SYS_RESOURCE) when the kernel charges BPF memory to it; once per process, a no-op on 5.11+.
 * Where the probe itself is refused (EPERM: no privilege, or the limit already spent), the
 * kernel's release decides. Failing to raise is not an error: the syscall that then fails says
 * EPERM with a hint naming RLIMIT_MEMLOCK.
 */
export function raiseMemlockIfCharged(): void {
  if (raised) return;
  let charged: boolean;
  try {
    charged = !haveFeature(MEMCG_ACCOUNTING);
  } catch (err) {
    if (!isErrno(err, E.EPERM)) throw err;
    charged = releaseBefore511();
  }
  raised = true;
  setMemlockCharged(charged);
  if (!charged) return;
  try {
    removeMemlockRlimit();
  } catch (err) {
    if (!isErrno(err, E.EPERM)) throw err;
  }
}
