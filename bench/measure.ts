// Timing for the TypeScript side of a benchmark: warm-up, timed iterations, median and minimum,
// and the process's peak RSS, in the same shape the C references print.
import { performance } from 'node:perf_hooks';

/** One side's result. `value` is in the benchmark's unit (milliseconds unless it says otherwise). */
export interface Measurement {
  value: number;
  min?: number;
  iterations?: number;
  /** Peak resident set of the process that measured, in KiB. */
  maxRssKb?: number;
  /** Anything else worth printing in --json (counts, sizes). */
  extra?: Record<string, number | string>;
}

export interface TimeOptions {
  iterations?: number;
  warmup?: number;
}

export function median(sorted: readonly number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const mid = Math.floor(n / 2);
  return n % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs `fn` warmup + iterations times and reports the median milliseconds of the timed runs. */
export async function timeIt(fn: () => unknown, opts: TimeOptions = {}): Promise<Measurement> {
  const iterations = opts.iterations ?? 30;
  const warmup = opts.warmup ?? 3;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return {
    value: median(samples),
    min: samples[0]!,
    iterations,
    maxRssKb: process.resourceUsage().maxRSS,
  };
}

/** What the process holds: JS heap + array buffers (not external ones such as mappings), and RSS. */
export interface MemorySnapshot {
  heap: number;
  rss: number;
}

/**
 * A full collection (with node --expose-gc; the runner starts memory benchmarks so), then what is
 * held: so that a difference of two snapshots counts what is live and nothing more.
 */
export function memorySnapshot(): MemorySnapshot {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('memory figures need node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

/** KiB held now beyond `before` (heap and RSS), with the same collection first. */
export function heldSinceKb(before: MemorySnapshot): { heapKb: number; rssKb: number } {
  const now = memorySnapshot();
  return {
    heapKb: Math.round((now.heap - before.heap) / 1024),
    rssKb: Math.round((now.rss - before.rss) / 1024),
  };
}
