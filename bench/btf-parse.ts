// btf-parse benchmark, our side: get /sys/kernel/btf/vmlinux and parse + index it (what libbpf's
// btf__parse does) the way the loader does it: mapped read-only where the kernel allows (6.16+),
// else read. Also reported: read + parse, the parse alone, and the memory the index holds.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Btf } from '../src/btf/btf.js';
import { parseKernelBtf } from '../src/btf/kernel.js';
import { mapKernelBtfFile } from '../src/sys/kernel-btf.js';
import { timeIt, type Measurement, type TimeOptions } from './measure.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

export interface BtfParseResult extends Measurement {
  name: 'btf-parse-vmlinux';
  unit: 'ms';
  /** Median ms of getting the bytes + parse + index (comparable to btf__parse). */
  ours: number;
}

/** A full collection, so that heap figures count what is live and nothing more. */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/**
 * What a parsed vmlinux holds while kept (the loader keeps one for CO-RE), in KiB: JS heap and
 * array buffers allocated for it (the mapping, an external buffer, is not among them), the
 * resident set's growth, and the same after a first lookup by name (CO-RE's candidate search),
 * which builds the name index.
 */
function held(): { heapKb: number; rssKb: number; afterLookupHeapKb: number; afterLookupRssKb: number } {
  collect();
  const m0 = process.memoryUsage();
  const btf = parseKernelBtf(VMLINUX, mapKernelBtfFile);
  collect();
  const m1 = process.memoryUsage();
  btf.findByName('task_struct');
  collect();
  const m2 = process.memoryUsage();
  const heap = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.arrayBuffers;
  const kb = (n: number): number => Math.round(n / 1024);
  return {
    heapKb: kb(heap(m1) - heap(m0)),
    rssKb: kb(m1.rss - m0.rss),
    afterLookupHeapKb: kb(heap(m2) - heap(m0)),
    afterLookupRssKb: kb(m2.rss - m0.rss),
  };
}

function read(): Uint8Array {
  const b = readFileSync(VMLINUX);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export async function benchBtfParse(opts: TimeOptions = {}): Promise<BtfParseResult> {
  const iterations = opts.iterations ?? 50;
  const warmup = opts.warmup ?? 10;
  let types = 0;
  const mapped = mapKernelBtfFile(VMLINUX) !== undefined;
  const full = await timeIt(
    () => {
      types = parseKernelBtf(VMLINUX, mapKernelBtfFile).typeCount;
    },
    { iterations, warmup },
  );
  const readAndParse = await timeIt(() => Btf.parse(read()), { iterations, warmup });
  const bytes = read();
  const parseOnly = await timeIt(() => Btf.parse(bytes), { iterations, warmup });
  const btf = Btf.parse(bytes);
  // Held beyond the input bytes: one u32 offset per type (the decoded-type cache starts empty).
  const indexBytes = btf.typeCount * Uint32Array.BYTES_PER_ELEMENT;
  const mem = held();
  return {
    name: 'btf-parse-vmlinux',
    unit: 'ms',
    ours: full.value,
    ...full,
    extra: {
      types,
      source: mapped ? 'mmap' : 'read',
      readParseMs: Number(readAndParse.value.toFixed(3)),
      parseOnlyMs: Number(parseOnly.value.toFixed(3)),
      parseOnlyMinMs: Number((parseOnly.min ?? NaN).toFixed(3)),
      inputBytes: bytes.length,
      indexBytes,
      held_heap_kb: mem.heapKb,
      held_rss_kb: mem.rssKb,
      held_heap_after_lookup_kb: mem.afterLookupHeapKb,
      held_rss_after_lookup_kb: mem.afterLookupRssKb,
    },
  };
}
