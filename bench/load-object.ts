// load-object benchmark, our side: loadObject() of whole objects (open + BTF + maps + programs)
// and close, in process, beside libbpf's bpf_object__open_file + load + close of the same objects.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadObject } from '../src/loader/index.js';
import { timeIt, type Measurement, type TimeOptions } from './measure.js';

const ROOT = join(import.meta.dirname, '..');

/** The objects each iteration loads, for both sides. */
export const LOAD_OBJECTS = [join(ROOT, 'testdata', 'flow-el.o'), join(ROOT, 'testdata', 'maps-el.o')];

/** A private pin root: maps pinned by name go there, and are unpinned each iteration. */
export function benchPinRoot(side: string): string {
  return `/sys/fs/bpf/ebpf_bench_${side}_${process.pid}`;
}

export async function benchLoadObject(opts: TimeOptions = {}): Promise<Measurement> {
  const pinRoot = benchPinRoot('ts');
  mkdirSync(pinRoot, { recursive: true });
  let programs = 0;
  try {
    const m = await timeIt(
      () => {
        programs = 0;
        for (const path of LOAD_OBJECTS) {
          const obj = loadObject(path, { pinRoot });
          programs += obj.programs.size;
          obj.unpin();
          obj.close();
        }
      },
      { iterations: opts.iterations ?? 30, warmup: opts.warmup ?? 3 },
    );
    return { ...m, extra: { programs, objects: LOAD_OBJECTS.map((p) => p.split('/').pop()).join(' ') } };
  } finally {
    rmSync(pinRoot, { recursive: true, force: true });
  }
}
