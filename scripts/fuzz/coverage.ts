// V8 block coverage of this thread, taken through the inspector: the feedback the fuzzing loop
// steers by (which blocks an input reached) and the per-target report (lines, functions, blocks of
// the target's source files, lines mapped back to the TypeScript through tsx's source maps).
import { Session } from 'node:inspector';
import { findSourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Range {
  startOffset: number;
  endOffset: number;
  count: number;
}
interface FunctionCoverage {
  functionName: string;
  ranges: Range[];
  isBlockCoverage: boolean;
}
interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: FunctionCoverage[];
}

export interface FileCoverage {
  file: string;
  lines: [hit: number, total: number];
  functions: [hit: number, total: number];
  blocks: [hit: number, total: number];
}

/** Synchronous post: an in-thread inspector session answers before post returns. */
function post<T>(s: Session, method: string, params?: object): T {
  let out: { e: Error | null; r: T } | undefined;
  s.post(method, params, (e: Error | null, r?: object) => {
    out = { e, r: r as T };
  });
  if (out === undefined) throw new Error(`inspector: ${method} did not answer synchronously`);
  if (out.e !== null) throw out.e;
  return out.r;
}

/** Block coverage of the scripts whose file path starts with one of `roots`. */
export class Coverage {
  private readonly session = new Session();
  /** Per script url: range "start:end" → ever hit; and which ranges are whole functions. */
  private readonly seen = new Map<string, Map<string, boolean>>();
  private readonly functionRanges = new Map<string, Set<string>>();
  private readonly scriptIds = new Map<string, string>();

  constructor(private readonly roots: readonly string[]) {
    this.session.connect();
    post(this.session, 'Profiler.enable');
    post(this.session, 'Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private wanted(url: string): boolean {
    if (!url.startsWith('file://')) return false;
    const path = fileURLToPath(url);
    return this.roots.some((r) => path.startsWith(r));
  }

  /**
   * The blocks run since the last take (V8 resets its counters on each take), as keys; also
   * folded into the totals the report is made from.
   */
  take(): Set<string> {
    const { result } = post<{ result: ScriptCoverage[] }>(this.session, 'Profiler.takePreciseCoverage');
    const hit = new Set<string>();
    for (const sc of result) {
      if (!this.wanted(sc.url)) continue;
      this.scriptIds.set(sc.url, sc.scriptId);
      let seen = this.seen.get(sc.url);
      let fns = this.functionRanges.get(sc.url);
      if (seen === undefined || fns === undefined) {
        seen = new Map();
        fns = new Set();
        this.seen.set(sc.url, seen);
        this.functionRanges.set(sc.url, fns);
      }
      for (const f of sc.functions) {
        f.ranges.forEach((r, i) => {
          const key = `${r.startOffset}:${r.endOffset}`;
          if (i === 0) fns.add(key);
          if (r.count > 0) {
            hit.add(`${sc.url}#${key}`);
            seen.set(key, true);
          } else if (!seen.has(key)) seen.set(key, false);
        });
      }
    }
    return hit;
  }

  /** Lines, functions and blocks hit of the scripts taken so far under `files` (paths relative to `repo`). */
  report(repo: string, files: readonly string[]): FileCoverage[] {
    post(this.session, 'Debugger.enable');
    const out: FileCoverage[] = [];
    try {
      for (const [url, seen] of this.seen) {
        const file = relative(repo, fileURLToPath(url));
        if (!files.some((f) => file.startsWith(f))) continue;
        const fns = this.functionRanges.get(url)!;
        const id = this.scriptIds.get(url)!;
        const { scriptSource } = post<{ scriptSource: string }>(this.session, 'Debugger.getScriptSource', {
          scriptId: id,
        });
        const ranges = [...seen].map(([k, hit]) => {
          const [s, e] = k.split(':').map(Number) as [number, number];
          return { s, e, hit, fn: fns.has(k) };
        });
        // Innermost range decides: paint outermost first, inner ranges over them.
        const painted = new Int8Array(scriptSource.length).fill(-1);
        for (const r of [...ranges].sort((a, b) => b.e - b.s - (a.e - a.s)))
          painted.fill(r.hit ? 1 : 0, r.s, Math.min(r.e, scriptSource.length));
        const lines = originalLines(url, scriptSource, painted);
        const blocks = ranges.filter((r) => !r.fn);
        const functions = ranges.filter((r) => r.fn && r.s > 0);
        out.push({
          file,
          lines,
          functions: [functions.filter((r) => r.hit).length, functions.length],
          blocks: [blocks.filter((r) => r.hit).length, blocks.length],
        });
      }
    } finally {
      post(this.session, 'Debugger.disable');
    }
    return out.sort((a, b) => a.file.localeCompare(b.file));
  }

  close(): void {
    this.session.disconnect();
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Source map "mappings": per generated line, segments of [column, source, line, column] (absolute). */
function decodeMappings(mappings: string): number[][][] {
  const lines: number[][][] = [];
  const state = [0, 0, 0, 0];
  for (const line of mappings.split(';')) {
    state[0] = 0;
    const segs: number[][] = [];
    for (const seg of line.split(',')) {
      if (seg === '') continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const d = B64.indexOf(ch);
        value += (d & 31) << shift;
        if (d & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      for (let i = 0; i < fields.length; i++) state[i] = state[i]! + fields[i]!;
      if (fields.length >= 4) segs.push([state[0]!, state[1]!, state[2]!, state[3]!]);
    }
    lines.push(segs);
  }
  return lines;
}

/**
 * Lines of the original (TypeScript) source: a line counts when some generated code maps to it,
 * and is hit when every piece of code mapped to it ran. Without a source map, generated lines.
 */
function originalLines(url: string, source: string, painted: Int8Array): [number, number] {
  const starts = [0];
  for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 10) starts.push(i + 1);
  const map = findSourceMap(url) ?? findSourceMap(fileURLToPath(url));
  const state = new Map<string, boolean>();
  if (map === undefined) {
    starts.forEach((s, i) => {
      const e = starts[i + 1] ?? source.length;
      const text = source.slice(s, e).trim();
      if (text === '' || text === '}' || text.startsWith('//')) return;
      state.set(
        String(i),
        painted[s + (source.slice(s, e).length - source.slice(s, e).trimStart().length)] === 1,
      );
    });
  } else {
    const payload = map.payload as { mappings: string; sources: string[] };
    decodeMappings(payload.mappings).forEach((segs, genLine) => {
      for (const [col, src, line] of segs) {
        const off = (starts[genLine] ?? 0) + col!;
        if (off >= source.length) continue;
        // Only the target file's own lines (a map may name others).
        const key = `${src}:${line}`;
        const hit = painted[off] === 1;
        state.set(key, (state.get(key) ?? true) && hit);
      }
    });
  }
  let hit = 0;
  for (const v of state.values()) if (v) hit++;
  return [hit, state.size];
}
