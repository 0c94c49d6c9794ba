// The CPU lists the kernel publishes in sysfs (`0-3,8,10-11`): the possible CPUs size per-CPU
// map values and perf event arrays, the online ones each get a perf buffer event.
import { readFileSync } from 'node:fs';
import { EbpfError } from '../errors.js';

/** The CPU numbers in a kernel cpu list such as `0-3,8,10-11`, ascending; `file` names it in errors. */
export function parseCpuList(text: string, file = 'cpu list'): number[] {
  const out = new Set<number>();
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new EbpfError(`bad cpu list '${text.trim()}'`, { file });
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    // The bound keeps a corrupt range from filling memory; no kernel has 65536 CPUs in one range.
    if (hi < lo || hi - lo > 1 << 16) throw new EbpfError(`bad cpu range '${part}'`, { file });
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** /sys/devices/system/cpu/{possible,online} as CPU numbers; EbpfError when unreadable or empty. */
export function readCpuList(which: 'possible' | 'online'): number[] {
  const file = `/sys/devices/system/cpu/${which}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EbpfError(`cannot read: ${(e as Error).message}`, { file }, { cause: e });
  }
  const cpus = parseCpuList(text, file);
  if (cpus.length === 0) throw new EbpfError(`no ${which} CPUs`, { file });
  return cpus;
}
