// npm run fuzz -- TARGET [--seconds N] [--runs N] [--seed N] [--no-coverage] [--out DIR] [--json FILE]
// npm run fuzz -- --list | --all
//
// Runs one fuzz target (or each in turn) in a worker thread with a memory limit, watched from here:
// a run that makes no progress for the target's hang bound is stopped and its input saved, as is
// one that exhausts the worker's heap. See scripts/fuzz/targets.ts for the targets.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { EbpfError } from '../src/errors.js';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  type EngineOptions,
  type EngineReport,
  type Finding,
  HEARTBEAT_BYTES,
  MAX_INPUT,
} from './fuzz/engine.js';
import { REPO, TARGETS, targetNamed } from './fuzz/targets.js';

export interface RunOptions extends Omit<EngineOptions, 'target'> {
  /** Heap limit of the fuzzing thread, MiB. */
  maxMb: number;
  onProgress?: (r: EngineReport) => void;
}

type Message = { kind: 'progress' | 'done'; report: EngineReport };

/** Fuzz one target in a watched worker; resolves with its report (hangs and OOMs as findings). */
export function runTarget(name: string, o: RunOptions): Promise<EngineReport> {
  const target = targetNamed(name);
  const heartbeat = new SharedArrayBuffer(HEARTBEAT_BYTES + MAX_INPUT);
  const beat = new Int32Array(heartbeat, 0, 3);
  const api = import.meta.resolve('tsx/esm/api');
  const worker = import.meta.resolve('./fuzz/worker.ts');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(worker)}); })`;
  const { onProgress, maxMb, ...engine } = o;
  const w = new Worker(code, {
    eval: true,
    workerData: { options: { ...engine, target: name }, heartbeat },
    resourceLimits: { maxOldGenerationSizeMb: maxMb },
  });
  let last: EngineReport | undefined;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let seen = -1;
    let since = Date.now();
    let stopped: Finding['kind'] | undefined;
    const saveCurrent = (kind: Finding['kind'], message: string): Finding => {
      const n = Atomics.load(beat, 2);
      const input = new Uint8Array(heartbeat, HEARTBEAT_BYTES, n).slice();
      let file: string | undefined;
      if (o.outDir !== undefined) {
        mkdirSync(o.outDir, { recursive: true });
        file = join(o.outDir, `${kind}-${Date.now().toString(36)}`);
        writeFileSync(file, input);
      }
      return { kind, message, file, input: Buffer.from(input.subarray(0, 4096)).toString('base64') };
    };
    const watchdog = setInterval(() => {
      const execs = Atomics.load(beat, 0);
      if (execs !== seen || Atomics.load(beat, 1) === 0) {
        seen = execs;
        since = Date.now();
        return;
      }
      // Setup (vmlinux parse, the load target's preflight) gets its own, longer bound.
      const bound = execs === 0 ? Math.max(target.hangMs, 120_000) : target.hangMs;
      if (Date.now() - since < bound) return;
      stopped = 'hang';
      clearInterval(watchdog);
      const f = saveCurrent('hang', `no progress for ${bound} ms on one input (hang)`);
      void w.terminate().then(() => resolve(finish(f)));
    }, 250);
    const finish = (f?: Finding): EngineReport => {
      const r: EngineReport = last ?? {
        target: name,
        execs: 0,
        seconds: 0,
        execsPerSecond: 0,
        corpus: 0,
        seeds: 0,
        features: 0,
        outcomes: {},
        findings: [],
        slowestMs: 0,
        coverage: [],
        totals: { lines: [0, 0], functions: [0, 0], blocks: [0, 0] },
      };
      if (f !== undefined) {
        r.findings.push(f);
        r.execs = Atomics.load(beat, 0);
        r.seconds = (Date.now() - started) / 1000;
      }
      return r;
    };
    w.on('message', (m: Message) => {
      last = m.report;
      if (m.kind === 'progress') onProgress?.(m.report);
    });
    w.on('error', (e: Error & { code?: string }) => {
      if (stopped) return;
      clearInterval(watchdog);
      if (e.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        stopped = 'memory';
        resolve(finish(saveCurrent('memory', `the fuzzing thread ran out of its ${maxMb} MiB heap`)));
      } else reject(e);
    });
    w.on('exit', (code) => {
      clearInterval(watchdog);
      if (stopped) return;
      if (last !== undefined && code === 0) resolve(last);
      else resolve(finish(saveCurrent('crash', `the fuzzing thread exited with code ${code}`)));
    });
  });
}

const pct = ([hit, total]: [number, number]): string =>
  total === 0 ? '-' : `${((100 * hit) / total).toFixed(1)}%`;

export function summary(r: EngineReport): string {
  const lines = [
    `${r.target}: ${r.execs} executions in ${r.seconds} s (${r.execsPerSecond}/s), corpus ${r.corpus} (${r.seeds} seeds), ${r.features} coverage features, slowest ${r.slowestMs} ms`,
    `  outcomes: ${JSON.stringify(r.outcomes)}`,
  ];
  if (r.coverage.length > 0) {
    lines.push(
      `  coverage: lines ${pct(r.totals.lines)}, functions ${pct(r.totals.functions)}, blocks ${pct(r.totals.blocks)}`,
    );
    for (const c of r.coverage)
      lines.push(
        `    ${c.file.padEnd(40)} lines ${pct(c.lines).padStart(6)}  functions ${pct(c.functions).padStart(6)}  blocks ${pct(c.blocks).padStart(6)}`,
      );
  }
  for (const f of r.findings)
    lines.push(
      `  FINDING ${f.kind}${f.file ? ` (input: ${f.file})` : ''}: ${f.message.split('\n').slice(0, 6).join('\n      ')}`,
    );
  return lines.join('\n');
}

/** Run saved inputs once each, in this thread, saying what each ended in and how long it took. */
async function replay(name: string, files: string[]): Promise<number> {
  const t = targetNamed(name);
  t.setup?.();
  let bad = 0;
  for (const f of files) {
    const started = performance.now();
    let what = 'ok';
    try {
      await t.run(new Uint8Array(readFileSync(f)));
    } catch (e) {
      if (!(e instanceof EbpfError)) bad++;
      what =
        e instanceof Error
          ? e instanceof EbpfError
            ? `${e.name}: ${e.message}`
            : (e.stack ?? e.message)
          : String(e);
    }
    console.log(`${f}: ${(performance.now() - started).toFixed(1)} ms: ${what}`);
  }
  try {
    t.settle?.();
  } catch (e) {
    bad++;
    console.log(`after the last input: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
  t.teardown?.();
  return bad > 0 ? 1 : 0;
}

function usage(): never {
  console.error(
    `usage: npm run fuzz -- TARGET|--all [--seconds N] [--runs N] [--seed N] [--no-coverage] [--out DIR] [--json FILE] [--max-mb N] [--keep-going]\n       npm run fuzz -- TARGET --input FILE...   (replay saved inputs)\n       npm run fuzz -- --list`,
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  let seconds = 60;
  let runs = Number.MAX_SAFE_INTEGER;
  let seed = Date.now() >>> 0;
  let guided = true;
  let out: string | undefined = join(REPO, 'fuzz-out');
  let json: string | undefined;
  let maxMb = 1024;
  let maxFindings = 1;
  const names: string[] = [];
  const inputs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) usage();
      return v;
    };
    if (a === '--list') {
      for (const t of TARGETS) console.log(`${t.name.padEnd(12)} ${t.what}`);
      return 0;
    } else if (a === '--all') names.push(...TARGETS.map((t) => t.name));
    else if (a === '--seconds') seconds = num();
    else if (a === '--runs') runs = num();
    else if (a === '--seed') seed = num();
    else if (a === '--max-mb') maxMb = num();
    else if (a === '--no-coverage') guided = false;
    else if (a === '--keep-going') maxFindings = 100;
    else if (a === '--out') out = argv[++i] ?? usage();
    else if (a === '--no-out') out = undefined;
    else if (a === '--json') json = argv[++i] ?? usage();
    else if (a === '--input') inputs.push(argv[++i] ?? usage());
    else if (a.startsWith('-')) usage();
    else names.push(a);
  }
  if (names.length === 0) usage();
  if (inputs.length > 0) return await replay(names[0]!, [...inputs, ...names.slice(1)]);
  const reports: EngineReport[] = [];
  for (const name of names) {
    targetNamed(name);
    console.log(
      `fuzzing ${name} (seed ${seed}, ${seconds} s${runs < Number.MAX_SAFE_INTEGER ? `, ${runs} runs` : ''})`,
    );
    const r = await runTarget(name, {
      seconds,
      runs,
      seed,
      guided,
      outDir: out && join(out, name),
      corpusDirs: [join(REPO, 'test', 'fuzz-corpus', name)],
      maxFindings,
      maxMb,
      onProgress: (p) =>
        console.log(
          `  ${p.execs} execs, ${p.execsPerSecond}/s, corpus ${p.corpus}, features ${p.features}, ${JSON.stringify(p.outcomes)}`,
        ),
    });
    reports.push(r);
    console.log(summary(r));
  }
  if (json !== undefined) writeFileSync(json, `${JSON.stringify(reports, null, 2)}\n`);
  return reports.some((r) => r.findings.length > 0) ? 1 : 0;
}

if (process.argv[1]?.endsWith('fuzz.ts') === true) {
  process.exitCode = await main(process.argv.slice(2));
}
