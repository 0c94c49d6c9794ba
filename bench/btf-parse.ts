// btf-parse benchmark, our side: get /sys/kernel/btf/vmlinux and parse + index it (what libbpf's
// btf__parse does) the way the loader does it: mapped read-only where the kernel allows (6.16+),
// else read. Also reported: read + parse, the parse alone, and the memory the index holds.
import { readFileSync } from 'node:fs';
import { Btf } from '../src/btf/btf.js';
import { parseKernelBtf } from '../src/btf/kernel.js';
import { mapKernelBtfFile } from '../src/sys/kernel-btf.js';
import { heldSinceKb, memorySnapshot, timeIt, type Measurement, type TimeOptions } from './measure.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';

export interface BtfParseResult extends Measurement {
  name: 'btf-parse-vmlinux';
  unit: 'ms';
  /** Median ms of getting the bytes + parse + index (comparable to btf__parse). */
  ours: number;
}

/**
 * What a parsed vmlinux holds while kept (the loader keeps one for CO-RE), in KiB: JS heap and
 * array buffers allocated for it (the mapping, an external buffer, is not among them), the
 * resident set's growth (which counts the pages of the mapping the parse touched), and the same
 * after a first lookup by name, which builds the name index. Measured first, before the timed
 * loops leave garbage and grown heaps behind.
 */
function held(): { heapKb: number; rssKb: number; afterLookupHeapKb: number; afterLookupRssKb: number } {
  const m0 = memorySnapshot();
  const btf = parseKernelBtf(VMLINUX, mapKernelBtfFile);
  const parsed = heldSinceKb(m0);
  btf.findByName('task_struct');
  const looked = heldSinceKb(m0);
  if (btf.typeCount === 0) throw new Error('empty vmlinux BTF');
  return {
    heapKb: parsed.heapKb,
    rssKb: parsed.rssKb,
    afterLookupHeapKb: looked.heapKb,
    afterLookupRssKb: looked.rssKb,
  };
}

function read(): Uint8Array {
  const b = readFileSync(VMLINUX);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export async function benchBtfParse(opts: TimeOptions = {}): Promise<BtfParseResult> {
  const iterations = opts.iterations ?? 50;
  const warmup = opts.warmup ?? 10;
  const mem = held();
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
