// core-relocate benchmark, our side: CO-RE relocation of every program of testdata/core_many-el.o
// (222 relocations, 264 once a subprogram's are counted in each caller) against vmlinux BTF. As on
// libbpf's side, the vmlinux BTF is parsed before the timed part and anew for each run, so the
// timing includes building its name indexes and every candidate search. Also reported: the same
// with an already indexed vmlinux (warm), as a loader that relocates several objects sees it. Timed
// in process CPU time, as the C harness times libbpf.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Btf } from '../src/btf/btf.js';
import { btfTarget, coreRelocator, type CoreTarget } from '../src/core/index.js';
import { loadObjectSpec, type ObjectSpec } from '../src/object/index.js';
import { parseKernelBtf } from '../src/btf/kernel.js';
import { mapKernelBtfFile } from '../src/sys/kernel-btf.js';
import { heldSinceKb, median, memorySnapshot, type Measurement, type TimeOptions } from './measure.js';

const OBJECT = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata', 'core_many-el.o');
const VMLINUX = '/sys/kernel/btf/vmlinux';

/**
 * The process's CPU milliseconds (all threads, so GC helpers count): the relocation is timed in
 * them as the C harness times libbpf's, so that a busy machine's other jobs do not count.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

/** Relocates every program as the loader does: through coreRelocator, given the object's programs. */
function relocateAll(spec: ObjectSpec, target: CoreTarget): number {
  const relocate = coreRelocator({ target });
  let n = 0;
  for (const p of spec.programs) {
    n += relocate({
      program: p,
      instructions: p.instructions.map((i) => i.clone()),
      btf: spec.btf!,
      kernelBtf: () => target.main.btf,
      programs: spec.programs,
    });
  }
  return n;
}

/**
 * KiB held by a kept vmlinux after the CO-RE relocation of the object against it (the loader's
 * state after a CO-RE load: the BTF mapped as the loader maps it, its decoded types, name index
 * and candidate searches), beyond what the process held before; measured before anything else.
 */
function heldAfterCore(spec: ObjectSpec): { heapKb: number; rssKb: number } {
  const before = memorySnapshot();
  const target = btfTarget(parseKernelBtf(VMLINUX, mapKernelBtfFile), 'vmlinux');
  relocateAll(spec, target);
  const held = heldSinceKb(before);
  if (target.main.btf.typeCount === 0) throw new Error('empty vmlinux BTF');
  return held;
}

export async function benchCoreRelocate(opts: TimeOptions = {}): Promise<Measurement> {
  const iterations = opts.iterations ?? 30;
  const warmup = opts.warmup ?? 3;
  const spec = loadObjectSpec(OBJECT);
  const held = heldAfterCore(spec);
  const b = readFileSync(VMLINUX);
  const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  let relocations = 0;
  const cold: number[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    const target = btfTarget(Btf.parse(bytes, { file: VMLINUX }), 'vmlinux');
    const start = cpuMs();
    relocations = relocateAll(spec, target);
    if (i >= warmup) cold.push(cpuMs() - start);
  }
  const warmTarget = btfTarget(Btf.parse(bytes, { file: VMLINUX }), 'vmlinux');
  relocateAll(spec, warmTarget);
  const warm: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = cpuMs();
    relocateAll(spec, warmTarget);
    warm.push(cpuMs() - start);
  }
  cold.sort((x, y) => x - y);
  warm.sort((x, y) => x - y);
  return {
    value: median(cold),
    min: cold[0]!,
    iterations,
    maxRssKb: process.resourceUsage().maxRSS,
    extra: {
      relocations,
      warmMs: Number(median(warm).toFixed(4)),
      warmMinMs: Number(warm[0]!.toFixed(4)),
      held_heap_kb: held.heapKb,
      held_rss_kb: held.rssKb,
    },
  };
}
