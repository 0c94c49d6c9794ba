// The number of possible CPUs, which sizes per-CPU map values: one slot per possible CPU.
import { readFileSync } from 'node:fs';
import { EbpfError } from '../errors.js';

const POSSIBLE = '/sys/devices/system/cpu/possible';
let cached: number | undefined;

/** Count of CPUs in a kernel cpu list such as `0-3,8,10-11`. */
export function parseCpuList(text: string): number {
  let n = 0;
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new EbpfError(`bad cpu list '${text.trim()}'`, { file: POSSIBLE });
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new EbpfError(`bad cpu range '${part}'`, { file: POSSIBLE });
    n += hi - lo + 1;
  }
  if (n === 0) throw new EbpfError('no possible CPUs', { file: POSSIBLE });
  return n;
}

/** Possible CPUs of this machine (read once). */
export function possibleCpus(): number {
  cached ??= parseCpuList(readFileSync(POSSIBLE, 'utf8'));
  return cached;
}
