// The fuzzing loop, run in a worker thread (so the parent can stop a run that hangs): inputs come
// from the target's fast-check generator or from mutating the corpus, and run in this thread one
// after another (synchronous targets without a promise per run). After every batch the V8 block
// coverage is taken; when the batch reached blocks never reached before, it is bisected (halves
// run again) to keep the inputs that did in the corpus (coverage-guided, as libFuzzer keeps inputs
// that add features). A take costs tens of ms, so batches grow until takes are about 5% of the
// time. The parent sees progress through a shared heartbeat and the current input through shared
// memory.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { EbpfError } from '../../src/errors.js';
import { Coverage, type FileCoverage } from './coverage.js';
import { INTERESTING32 } from './arbitraries.js';
import { pack, unpack } from './raw.js';
import { REPO, type Target } from './targets.js';

export interface EngineOptions {
  target: string;
  seconds: number;
  runs: number;
  seed: number;
  /** Steer by coverage (batches, reruns, corpus); off: generate and mutate seeds only. */
  guided: boolean;
  /** Where the corpus grows and findings go; undefined: keep nothing on disk. */
  outDir: string | undefined;
  /** Committed inputs to start from besides testdata's (test/fuzz-corpus/<target>). */
  corpusDirs: string[];
  /** Keep going after a finding (each distinct one saved), up to this many. */
  maxFindings: number;
}

export interface Finding {
  kind: 'error' | 'property' | 'hang' | 'memory' | 'crash';
  message: string;
  file: string | undefined;
  input: string;
}

export interface EngineReport {
  target: string;
  execs: number;
  seconds: number;
  execsPerSecond: number;
  corpus: number;
  seeds: number;
  features: number;
  outcomes: Record<string, number>;
  findings: Finding[];
  slowestMs: number;
  coverage: FileCoverage[];
  totals: { lines: [number, number]; functions: [number, number]; blocks: [number, number] };
}

/** Shared with the parent: [0] execs, [1] state (0 idle, 1 running an input), [2] input length; then the input. */
export const HEARTBEAT_BYTES = 12;
export const MAX_INPUT = 1 << 20;

/** mulberry32: seeded, small, fast. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Byte-level mutations of one input (libFuzzer's usual set, smaller). */
export function mutateBytes(src: Uint8Array, rnd: () => number, other?: Uint8Array): Uint8Array {
  let b = src.slice();
  const n = 1 + Math.floor(rnd() * 4);
  const pick = (): number => Math.floor(rnd() * b.length);
  for (let i = 0; i < n; i++) {
    const op = Math.floor(rnd() * 9);
    if (b.length === 0 && op !== 6) {
      b = Uint8Array.of(Math.floor(rnd() * 256));
      continue;
    }
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (op) {
      case 0: {
        const at = pick();
        b[at] = b[at]! ^ (1 << Math.floor(rnd() * 8));
        break;
      }
      case 1:
        b[pick()] = Math.floor(rnd() * 256);
        break;
      case 2:
      case 3: {
        if (b.length < 4) break;
        const at = Math.floor(rnd() * (b.length - 3)) & (rnd() < 0.7 ? ~3 : ~0);
        const value = INTERESTING32[Math.floor(rnd() * INTERESTING32.length)]!;
        v.setUint32(Math.min(at, b.length - 4), value, rnd() < 0.8);
        break;
      }
      case 4: {
        if (b.length < 4) break;
        const at = Math.floor(rnd() * (b.length - 3)) & ~3;
        const old = v.getUint32(at, true);
        v.setUint32(at, (old + Math.floor(rnd() * 33) - 16) >>> 0, true);
        break;
      }
      case 5: {
        // Truncate.
        b = b.slice(0, pick());
        break;
      }
      case 6: {
        // Insert bytes (copied from elsewhere in this input or the other one).
        const from = other && other.length > 0 && rnd() < 0.5 ? other : b;
        const at = Math.floor(rnd() * (b.length + 1));
        const start = Math.floor(rnd() * Math.max(1, from.length));
        const chunk = from.slice(start, start + 1 + Math.floor(rnd() * 16));
        const next = new Uint8Array(b.length + chunk.length);
        next.set(b.subarray(0, at));
        next.set(chunk, at);
        next.set(b.subarray(at), at + chunk.length);
        b = next;
        break;
      }
      case 7: {
        // Erase a chunk.
        const at = pick();
        const len = 1 + Math.floor(rnd() * 16);
        const end = Math.min(b.length, at + len);
        const next = new Uint8Array(b.length - (end - at));
        next.set(b.subarray(0, at));
        next.set(b.subarray(end), at);
        b = next;
        break;
      }
      default: {
        // Overwrite with a chunk of the other input at the same place (crossover).
        if (!other || other.length === 0) break;
        const at = pick();
        const len = Math.min(1 + Math.floor(rnd() * 64), b.length - at, other.length);
        const from = Math.floor(rnd() * (other.length - len + 1));
        b.set(other.subarray(from, from + len), at);
      }
    }
  }
  return b.length > MAX_INPUT ? b.slice(0, MAX_INPUT) : b;
}

/** Mutate inside one part of a container input, so the frame stays intact. */
function mutate(t: Target, src: Uint8Array, rnd: () => number, other: Uint8Array | undefined): Uint8Array {
  if (t.parts === 0) return mutateBytes(src, rnd, other);
  const parts = unpack(src, t.parts);
  const i = Math.floor(rnd() * parts.length);
  const o = other ? unpack(other, t.parts)[i] : undefined;
  parts[i] = mutateBytes(parts[i]!, rnd, o);
  return pack(parts);
}

const hash = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex').slice(0, 16);

function readDir(dir: string): Uint8Array[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

/** What a run ended in: 'ok', the typed error's name, or a finding. */
type Outcome =
  | { ok: true; label: string }
  | { ok: false; kind: 'error' | 'property'; message: string; input?: Uint8Array };

const OK: Outcome = { ok: true, label: 'ok' };

function failed(e: unknown): Outcome {
  if (e instanceof EbpfError) return { ok: true, label: e.name };
  const property = e instanceof Error && e.name === 'FuzzPropertyError';
  const message = e instanceof Error ? (e.stack ?? e.message) : String(e);
  // A property checked after later runs names the input it is about.
  const input = property && (e as { input?: unknown }).input;
  return {
    ok: false,
    kind: property ? 'property' : 'error',
    message,
    ...(input instanceof Uint8Array ? { input } : {}),
  };
}

/** Run one input: synchronously for a synchronous target (no promise, no microtask per run). */
function execOne(t: Target, input: Uint8Array): Outcome | Promise<Outcome> {
  try {
    const r = t.run(input);
    return r instanceof Promise ? r.then(() => OK, failed) : OK;
  } catch (e) {
    return failed(e);
  }
}

/**
 * Coverage is taken once a batch: a take walks every script's counters (tens of ms with
 * fast-check and tsx loaded), so a batch is made long enough that takes cost about this
 * fraction of the time spent running inputs.
 */
const TAKE_SHARE = 0.05;
const MIN_BATCH = 8;
const MAX_BATCH = 1 << 16;
/** Inputs kept from one batch that reached new blocks (each found by bisecting the batch). */
const FINDS_PER_BATCH = 3;

/**
 * Fuzz `t`. `heartbeat` (shared with the parent) counts executions and holds the input being run,
 * so that a run the parent has to stop (hang, memory) still names its input.
 */
export async function fuzz(
  t: Target,
  o: EngineOptions,
  heartbeat: SharedArrayBuffer,
  coverage: Coverage | undefined,
  progress: (r: EngineReport) => void,
): Promise<EngineReport> {
  const beat = new Int32Array(heartbeat, 0, 3);
  const shared = new Uint8Array(heartbeat, HEARTBEAT_BYTES);
  t.setup?.();
  const rnd = prng(o.seed);
  const corpusOut = o.outDir && join(o.outDir, 'corpus');
  if (corpusOut) mkdirSync(corpusOut, { recursive: true });
  const seeds = [...t.seeds(), ...o.corpusDirs.flatMap(readDir), ...(corpusOut ? readDir(corpusOut) : [])];
  const corpus: Uint8Array[] = [];
  const features = new Set<string>();
  const outcomes: Record<string, number> = {};
  const findings: Finding[] = [];
  const findingKeys = new Set<string>();
  let execs = 0;
  let slowestMs = 0;
  const started = performance.now();
  const deadline = started + o.seconds * 1000;
  const arb = t.generate();
  let generated: Uint8Array[] = [];

  /** Every run goes through here, reruns included: the parent's watchdog sees each one. */
  let execMs = 0;
  const exec = (input: Uint8Array): Outcome | Promise<Outcome> => {
    const n = Math.min(input.length, shared.length);
    shared.set(input.subarray(0, n));
    Atomics.store(beat, 2, n);
    Atomics.store(beat, 1, 1);
    const s = performance.now();
    const done = (out: Outcome): Outcome => {
      const ms = performance.now() - s;
      execMs += ms;
      if (ms > slowestMs) slowestMs = ms;
      Atomics.store(beat, 1, 0);
      Atomics.add(beat, 0, 1);
      return out;
    };
    const out = execOne(t, input);
    return out instanceof Promise ? out.then(done) : done(out);
  };
  const run = async (inputs: Uint8Array[]): Promise<void> => {
    for (const input of inputs) {
      const out = exec(input);
      if (out instanceof Promise) await out;
    }
  };
  let takeMs = 0;
  let takes = 0;
  /** Coverage since the last take, timed (the batch size follows the cost). */
  const take = (): Set<string> => {
    const s = performance.now();
    const hit = coverage!.take();
    takeMs += performance.now() - s;
    takes++;
    return hit;
  };
  const fresh = (hit: Set<string>): string[] => [...hit].filter((f) => !features.has(f));

  const record = (ran: Uint8Array, out: Outcome): boolean => {
    if (out.ok) {
      outcomes[out.label] = (outcomes[out.label] ?? 0) + 1;
      return false;
    }
    const input = out.input ?? ran;
    outcomes[out.kind] = (outcomes[out.kind] ?? 0) + 1;
    // One finding per place it was thrown from (the stack's first frames) or property message.
    const key =
      out.kind === 'property'
        ? out.message.split('\n')[0]!.replace(/\d+/g, 'N')
        : out.message.split('\n').slice(0, 3).join('|');
    if (findingKeys.has(key)) return false;
    findingKeys.add(key);
    let file: string | undefined;
    if (o.outDir) {
      file = join(o.outDir, `${out.kind}-${hash(input)}`);
      writeFileSync(file, input);
    }
    findings.push({
      kind: out.kind,
      message: out.message,
      file,
      input: Buffer.from(input.subarray(0, 4096)).toString('base64'),
    });
    return true;
  };

  const keep = (input: Uint8Array, save: boolean): void => {
    corpus.push(input);
    if (save && corpusOut) writeFileSync(join(corpusOut, hash(input)), input);
  };

  const report = (): EngineReport => {
    const seconds = (performance.now() - started) / 1000;
    return {
      target: t.name,
      execs,
      seconds: Math.round(seconds * 10) / 10,
      execsPerSecond: Math.round(execs / Math.max(seconds, 0.001)),
      corpus: corpus.length,
      seeds: seeds.length,
      features: features.size,
      outcomes,
      findings,
      slowestMs: Math.round(slowestMs),
      coverage: [],
      totals: { lines: [0, 0], functions: [0, 0], blocks: [0, 0] },
    };
  };

  // Seeds first, all kept; one take for all of them, so later inputs are new only beyond them.
  if (coverage) take();
  for (const s of seeds) {
    if (performance.now() >= deadline || execs >= o.runs) break;
    let out = exec(s);
    if (out instanceof Promise) out = await out;
    execs++;
    if (record(s, out) && findings.length >= o.maxFindings) break;
    corpus.push(s);
  }
  if (coverage) for (const f of take()) features.add(f);

  let batchSize = 64;
  let lastProgress = performance.now();
  while (findings.length < o.maxFindings && execs < o.runs && performance.now() < deadline) {
    const batch: Uint8Array[] = [];
    for (let i = 0; i < batchSize && execs < o.runs; i++) {
      let input: Uint8Array;
      if (corpus.length === 0 || rnd() < 0.2) {
        if (generated.length === 0)
          generated = fc.sample(arb, { seed: Math.floor(rnd() * 0x7fffffff), numRuns: 256 });
        input = generated.pop()!;
      } else {
        const a = corpus[Math.floor(rnd() * corpus.length)]!;
        const b = rnd() < 0.2 ? corpus[Math.floor(rnd() * corpus.length)] : undefined;
        input = mutate(t, a, rnd, b);
      }
      batch.push(input);
      let out = exec(input);
      if (out instanceof Promise) out = await out;
      execs++;
      if (record(input, out) && findings.length >= o.maxFindings) break;
    }
    if (coverage) {
      const hit = take();
      if (fresh(hit).length > 0) {
        // Which inputs reached the new blocks: bisect the batch (run one half again, take; the
        // half with new blocks is searched on), keep the input found and look again in the rest.
        let rest = batch;
        for (let found = 0; found < FINDS_PER_BATCH && rest.length > 0; found++) {
          let part = rest;
          while (part.length > 1) {
            const left = part.slice(0, part.length >> 1);
            await run(left);
            part = fresh(take()).length > 0 ? left : part.slice(part.length >> 1);
          }
          await run(part);
          const added = fresh(take());
          // Blocks only a first run reaches (caches, lazy setup) are not any input's.
          if (added.length === 0) break;
          keep(part[0]!, true);
          for (const f of added) features.add(f);
          rest = rest.filter((x) => x !== part[0]);
          if (found + 1 < FINDS_PER_BATCH) {
            await run(rest);
            if (fresh(take()).length === 0) break;
          }
        }
        for (const f of hit) features.add(f);
      }
      // Takes cost about TAKE_SHARE of the time (reruns included in execMs).
      const perExec = execMs / Math.max(1, Atomics.load(beat, 0));
      const perTake = takeMs / Math.max(1, takes);
      batchSize = Math.min(
        MAX_BATCH,
        Math.max(MIN_BATCH, Math.ceil(perTake / TAKE_SHARE / Math.max(perExec, 1e-3))),
      );
    } else if (corpus.length < 4096 && rnd() < 0.01) keep(batch[0]!, false);
    if (performance.now() - lastProgress > 2000) {
      lastProgress = performance.now();
      progress(report());
    }
  }

  // Checks a target deferred past later runs.
  try {
    t.settle?.();
  } catch (e) {
    record(new Uint8Array(0), failed(e));
  }
  const r = report();
  if (coverage) {
    r.coverage = coverage.report(REPO, t.files);
    for (const c of r.coverage)
      for (const k of ['lines', 'functions', 'blocks'] as const) {
        r.totals[k][0] += c[k][0];
        r.totals[k][1] += c[k][1];
      }
    coverage.close();
  }
  t.teardown?.();
  return r;
}
