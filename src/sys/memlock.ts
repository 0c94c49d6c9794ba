// Whether RLIMIT_MEMLOCK limits BPF objects on this kernel: kernels before 5.11 charge maps,
// programs and BTF to it, later ones to the memory cgroup. src/features probes it and records the
// answer here, where the EPERM hint (sys/error.ts) can ask without depending on the probes.
import { release } from 'node:os';
import { native } from './native.js';

let charged: boolean | undefined;

/** Records the probe's answer (src/features' MEMCG_ACCOUNTING, negated). */
export function setMemlockCharged(v: boolean): void {
  charged = v;
}

/** `5.10.0-46-cloud-amd64` → true when before 5.11: the guess until the probe has answered. */
export function releaseBefore511(rel: string = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (m === null) return false;
  const major = Number(m[1]);
  return major < 5 || (major === 5 && Number(m[2]) < 11);
}

/** Whether this kernel charges BPF memory to RLIMIT_MEMLOCK (the probe's answer, else by release). */
export function memlockCharged(): boolean {
  return charged ?? releaseBefore511();
}

/**
 * The RLIMIT_MEMLOCK soft limit in bytes when the kernel charges BPF memory to it and it is
 * finite: an EPERM from BPF_MAP_CREATE/BPF_PROG_LOAD/BPF_BTF_LOAD is then most likely that limit.
 */
export function chargedMemlockLimit(): bigint | undefined {
  if (!memlockCharged()) return undefined;
  try {
    const n = native();
    const r = n.getrlimit(n.RLIMIT_MEMLOCK);
    if (typeof r === 'number' || r[0] === 0xffffffffffffffffn) return undefined;
    return r[0];
  } catch {
    return undefined; // no addon: no hint, the error itself still says EPERM
  }
}
