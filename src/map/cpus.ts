// The number of possible CPUs, which sizes per-CPU map values: one slot per possible CPU.
import { readCpuList } from '../sys/cpus.js';

let cached: number | undefined;

/** Possible CPUs of this machine (read once). */
export function possibleCpus(): number {
  cached ??= readCpuList('possible').length;
  return cached;
}
