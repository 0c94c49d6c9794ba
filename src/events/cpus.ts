// CPU numbers a perf buffer opens one event on: the online ones among the possible ones, read
// from sysfs as kernel cpu lists (`0-3,8`).
import { readFileSync } from 'node:fs';
import { EbpfError } from '../errors.js';

/** The CPU numbers in a kernel cpu list such as `0-3,8,10-11`, ascending. */
export function cpuIds(text: string, file = 'cpu list'): number[] {
  const out = new Set<number>();
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new EbpfError(`bad cpu list '${text.trim()}'`, { file });
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 1 << 16) throw new EbpfError(`bad cpu range '${part}'`, { file });
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

function read(which: 'online' | 'possible'): number[] {
  const file = `/sys/devices/system/cpu/${which}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EbpfError(`cannot read ${file}: ${(e as Error).message}`, { file }, { cause: e });
  }
  return cpuIds(text, file);
}

/** Online CPUs (a CPU can go offline later; its buffer then just stays quiet). */
export function onlineCpus(): number[] {
  return read('online');
}
