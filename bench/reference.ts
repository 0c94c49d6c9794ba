// C reference harnesses (bench/c/*.c, against Debian's libbpf): compiled on demand into
// build/bench/ when missing or older than their source, run, and their JSON line read back.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './measure.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_DIR = join(ROOT, 'build', 'bench');

/** Path of the compiled harness for bench/c/<name>.c, building it first if needed. */
export function buildReference(name: string): string {
  const src = join(ROOT, 'bench', 'c', `${name}.c`);
  const bin = join(BUILD_DIR, name);
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(BUILD_DIR, { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', src, '-lbpf', '-o', bin], { stdio: ['ignore', 'inherit', 'inherit'] });
  return bin;
}

/** Output line of a harness: median_ms, min_ms, iterations, max_rss_kb, and any other numbers. */
export function runReference(name: string, args: readonly (string | number)[]): Measurement {
  const bin = buildReference(name);
  const out = execFileSync(bin, args.map(String), { encoding: 'utf8' });
  const line = out.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(line) as Record<string, number>;
  const { median_ms, min_ms, iterations, max_rss_kb, ...rest } = parsed;
  if (typeof median_ms !== 'number') throw new Error(`${name}: no median_ms in ${JSON.stringify(line)}`);
  const m: Measurement = { value: median_ms };
  if (min_ms !== undefined) m.min = min_ms;
  if (iterations !== undefined) m.iterations = iterations;
  if (max_rss_kb !== undefined) m.maxRssKb = max_rss_kb;
  if (Object.keys(rest).length > 0) m.extra = rest;
  return m;
}

/**
 * For harnesses that time a number of operations per sample and print `ops_per_sec` (from the
 * median): that rate, higher is better, becomes the value; the times go to `extra`.
 */
export function runReferenceRate(name: string, args: readonly (string | number)[]): Measurement {
  const m = runReference(name, args);
  const { ops_per_sec, ...rest } = m.extra ?? {};
  if (typeof ops_per_sec !== 'number') throw new Error(`${name}: no ops_per_sec in its output`);
  const out: Measurement = { value: ops_per_sec, extra: { median_ms: m.value, ...rest } };
  if (m.min !== undefined) out.extra!.min_ms = m.min;
  if (m.iterations !== undefined) out.iterations = m.iterations;
  if (m.maxRssKb !== undefined) out.maxRssKb = m.maxRssKb;
  return out;
}
