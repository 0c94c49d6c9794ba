// Benchmark runner (`npm run bench [-- --json | --markdown] [--only NAME[,NAME...]] [--iterations N]
// [--warmup N] [--from FILE...]`; a NAME also selects the rows it prefixes: `--only ring-consume`;
// `--from` prints the rows of earlier `--json` runs instead of running, a later file's row replacing
// an earlier one of the same name, so a re-run of some rows updates a whole run's table):
// runs each benchmark's TypeScript side in its own Node process (so its peak RSS is its own) and
// its C reference against libbpf, then prints a table, or one JSON object per line with --json.
// `npm run bench` runs it compiled by tsc (tsconfig.bench.json, into build/bench-js/), as a
// package's users run dist/; `node --import tsx bench/run.ts` runs the sources through tsx,
// which costs the hot loops a few percent.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import type { Measurement, TimeOptions } from './measure.js';
import { runReference, runReferenceRate } from './reference.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
/** Whether this is tsc's output (build/bench-js/bench/run.js) rather than the source. */
const COMPILED = import.meta.url.endsWith('.js');

/**
 * The compiled tree finds what the sources find one level up (testdata/, bench/c/, build/ with
 * the addon and the C harnesses) through links to the checkout's own.
 */
function linkCompiledTree(): void {
  const out = join(BENCH_DIR, '..');
  const root = join(out, '..', '..');
  for (const p of ['testdata', 'build', join('bench', 'c')]) {
    if (existsSync(join(out, p))) continue;
    mkdirSync(dirname(join(out, p)), { recursive: true });
    symlinkSync(join(root, p), join(out, p));
  }
}

/** bench/<module>, as the running runner's tree names it. */
function benchModule(module: string): string {
  return join(BENCH_DIR, COMPILED ? module.replace(/\.ts$/, '.js') : module);
}

/**
 * One row of the table. `ours` names a module in bench/ and the function it exports, called as
 * `fn(options)` in a child process; it returns a Measurement (or a number of milliseconds).
 * `reference` runs in this process, usually a C harness from bench/c/ via runReference().
 */
interface Benchmark {
  name: string;
  unit: string;
  description: string;
  ours: {
    module: string;
    export: string;
    args?: readonly (string | number)[];
    /** Node options for the child process (`--expose-gc` for memory figures). */
    nodeArgs?: readonly string[];
  };
  reference?: (opts: Required<TimeOptions>) => Measurement;
  /**
   * Runs of each side, alternating ours and the reference (default 1): on a busy machine the
   * load drifts, and alternating exposes both sides to it alike. The medians are reported.
   */
  rounds?: number;
  /** Warm-up runs for both sides, whatever `--warmup` says: for a row that times steady state. */
  warmup?: number;
}

const EVENT_OBJECT = join(BENCH_DIR, '..', 'testdata', 'event_load-el.o');
const EVENT_SIZES = [16, 128, 1024] as const;
const EVENT_MODES = [
  ['consume', 'consume(): zero-copy batch, one consumer store per batch'],
  ['ondata', 'onData(): a JS callback per record, each a copy'],
  ['onview', 'onView(): a JS callback per record over the ring (a reused view, no copy)'],
  ['iterator', 'for await: the async iterator, a copy per record'],
] as const;

/** ring-* and perf-* rows: each reading mode and record size against libbpf's poll with a C callback. */
function eventBenchmarks(): Benchmark[] {
  const out: Benchmark[] = [];
  for (const kind of ['ring', 'perf'] as const) {
    for (const [mode, how] of EVENT_MODES) {
      for (const size of EVENT_SIZES) {
        out.push({
          name: `${kind}-${mode}-${size}`,
          unit: 'records/s',
          description:
            kind === 'ring'
              ? `16 MiB ring buffer filled with ${size}-byte records by BPF_PROG_TEST_RUN, read by ${how} (libbpf: ring_buffer__poll)`
              : `perf buffer of 1024 pages per CPU, each filled with ${size}-byte samples, read by ${how} (libbpf: perf_buffer__poll)`,
          ours: { module: 'events.ts', export: 'benchEvents', args: [kind, mode, size] },
          reference: (o) =>
            runReferenceRate('events', [
              kind,
              size,
              Math.min(o.iterations, 15),
              Math.min(o.warmup, 2),
              EVENT_OBJECT,
            ]),
          rounds: 3,
        });
      }
    }
  }
  return out;
}

/**
 * map-* rows: each operation on raw bytes (the `*Into` and packed forms), and the same through the
 * BTF codecs (`-typed`: objects in and out), each against the same libbpf harness (raw bytes; C
 * does no decoding).
 */
function mapBenchmarks(): Benchmark[] {
  const ops = [
    [
      'lookup',
      'lookup',
      'MapLookup',
      '2^20-entry hash, existing keys in random order',
      'bpf_map_lookup_elem',
    ],
    [
      'update',
      'update',
      'MapUpdate',
      '2^20-entry hash, existing keys in random order',
      'bpf_map_update_elem',
    ],
    [
      'lookup-batch',
      'lookup_batch',
      'MapLookupBatch',
      '2^20-entry hash, whole map, 4096 a call',
      'bpf_map_lookup_batch',
    ],
    [
      'update-batch',
      'update_batch',
      'MapUpdateBatch',
      '2^20-entry hash, every entry, 4096 a call',
      'bpf_map_update_batch',
    ],
    [
      'iterate',
      'iterate',
      'MapIterate',
      '2^20-entry hash, entries(), BPF_MAP_LOOKUP_BATCH underneath',
      'bpf_map_get_next_key + lookup per entry',
    ],
  ] as const;
  const raw: Record<string, string> = {
    lookup: 'lookupInto, one reused value buffer',
    update: 'update of byte keys and values',
    'lookup-batch': 'lookupBatchInto, reused buffers',
    'update-batch': 'updateBatch of packed bytes',
    iterate: 'entries() of byte pairs',
  };
  const typedHow: Record<string, string> = {
    lookup: 'lookup() of a key object, a value object back',
    update: 'update() of key and value objects',
    'lookup-batch': 'lookupBatch(): an array of [key, value] objects',
    'update-batch': 'updateBatch() of [key, value] objects',
    iterate: 'entries() of [key, value] objects',
  };
  const out: Benchmark[] = [];
  for (const [name, cmd, fn, what, c] of ops) {
    for (const typed of [false, true]) {
      out.push({
        name: typed ? `map-${name}-typed` : `map-${name}`,
        unit: 'ops/s',
        description: `${what}: ${typed ? typedHow[name] : raw[name]} (libbpf: ${c})`,
        ours: { module: 'map-ops.ts', export: `bench${fn}${typed ? 'Typed' : ''}` },
        reference: (o) => runReferenceRate('map_ops', [cmd, o.iterations, o.warmup]),
        rounds: 3,
      });
    }
  }
  return out;
}

/** libbpf loading the objects bench/load-object.ts loads, as often. */
const loadObjectReference = (o: Required<TimeOptions>): Measurement =>
  runReference('load_object', [
    o.iterations,
    o.warmup,
    `/sys/fs/bpf/ebpf_bench_c_${process.pid}`,
    ...['flow-el.o', 'maps-el.o'].map((f) => join(BENCH_DIR, '..', 'testdata', f)),
  ]);

const BENCHMARKS: Benchmark[] = [
  {
    name: 'btf-parse-vmlinux',
    unit: 'ms',
    description: 'parse /sys/kernel/btf/vmlinux and release it (libbpf: btf__parse + btf__free)',
    ours: { module: 'btf-parse.ts', export: 'benchBtfParse', nodeArgs: ['--expose-gc'] },
    reference: (o) => runReference('btf_parse', [o.iterations, o.warmup, '/sys/kernel/btf/vmlinux']),
    rounds: 3,
  },
  {
    name: 'load-object',
    unit: 'ms',
    description:
      'load testdata/flow-el.o and maps-el.o whole and close them (libbpf: bpf_object__open_file + load + close)',
    ours: { module: 'load-object.ts', export: 'benchLoadObject' },
    reference: loadObjectReference,
  },
  {
    name: 'load-object-warm',
    unit: 'ms',
    description:
      'load-object after 300 warm-up loads on each side: a long-running process, its code compiled (load-object times the first 30 after 3, mostly interpreted)',
    ours: { module: 'load-object.ts', export: 'benchLoadObject' },
    reference: loadObjectReference,
    warmup: 300,
  },
  {
    name: 'load-event-loop-delay',
    unit: 'ms',
    description:
      'longest event-loop stall while the largest xdp-tools object loads with loadObjectAsync (loadObject in extra; no C counterpart)',
    ours: { module: 'load-async.ts', export: 'benchLoadDelay' },
  },
  ...eventBenchmarks(),
  ...mapBenchmarks(),
  {
    name: 'core-relocate',
    unit: 'ms',
    description:
      'CO-RE-relocate testdata/core_many-el.o (264 relocations) against vmlinux (libbpf: bpf_object__relocate inside load)',
    ours: { module: 'core.ts', export: 'benchCoreRelocate', nodeArgs: ['--expose-gc'] },
    reference: (o) =>
      runReference('core_relo', [
        o.iterations,
        o.warmup,
        join(BENCH_DIR, '..', 'testdata', 'core_many-el.o'),
      ]),
    rounds: 3,
  },
  {
    name: 'link-objects',
    unit: 'ms',
    description:
      'link testdata/link_a, link_b, link_c into one object file (libbpf: bpf_linker new + add_file + finalize, as bpftool gen object)',
    ours: { module: 'linker.ts', export: 'benchLinkObjects' },
    reference: (o) =>
      runReference('linker', [
        'link',
        o.iterations,
        o.warmup,
        join(tmpdir(), `ebpf-bench-link-c-${process.pid}.o`),
        ...['link_a', 'link_b', 'link_c'].map((n) => join(BENCH_DIR, '..', 'testdata', `${n}-el.o`)),
      ]),
  },
  {
    name: 'btf-dedup',
    unit: 'ms',
    description:
      'parse + deduplicate the BTF of every testdata object concatenated, ~1,600 types (libbpf: btf__parse + btf__dedup)',
    ours: { module: 'linker.ts', export: 'benchBtfDedup' },
    reference: (o) =>
      runReference('linker', ['dedup', o.iterations, o.warmup, join(tmpdir(), 'ebpf-bench-dedup-input.btf')]),
  },
];

interface Row {
  name: string;
  unit: string;
  ours: number | null;
  reference: number | null;
  /** ours / reference: for times (ms) above 1 is slower than libbpf, for rates (…/s) above 1 is faster. */
  ratio: number | null;
  /** Which way is better for this unit: rates are higher-is-better, times lower-is-better. */
  better: 'higher' | 'lower';
  oursMaxRssKb?: number;
  referenceMaxRssKb?: number;
  oursIterations?: number;
  referenceIterations?: number;
  oursExtra?: Record<string, number | string>;
  referenceExtra?: Record<string, number | string>;
  status: 'ok' | 'pending' | 'error';
  error?: string;
}

/** Accepts what a benchmark function returns: a Measurement, a plain number, or a close shape. */
function toMeasurement(x: unknown): Measurement {
  if (typeof x === 'number') return { value: x };
  if (x && typeof x === 'object') {
    const o = x as Record<string, unknown>;
    const value = [o.value, o.median, o.medianMs, o.ms].find((v) => typeof v === 'number');
    if (typeof value === 'number') {
      const m: Measurement = { value };
      if (typeof o.min === 'number') m.min = o.min;
      if (typeof o.iterations === 'number') m.iterations = o.iterations;
      const rss = [o.maxRssKb, o.rssKb].find((v) => typeof v === 'number');
      if (typeof rss === 'number') m.maxRssKb = rss;
      if (o.extra && typeof o.extra === 'object') m.extra = o.extra as Record<string, number | string>;
      return m;
    }
  }
  throw new Error(`benchmark returned ${JSON.stringify(x)}, not a measurement`);
}

/** Child-process side: run one benchmark's TypeScript function and print its measurement. */
async function runChild(name: string, opts: Required<TimeOptions>): Promise<void> {
  const b = BENCHMARKS.find((x) => x.name === name);
  if (!b) throw new Error(`unknown benchmark ${name}`);
  const mod = (await import(pathToFileURL(benchModule(b.ours.module)).href)) as Record<string, unknown>;
  const fn = mod[b.ours.export];
  if (typeof fn !== 'function') throw new Error(`${b.ours.module} does not export ${b.ours.export}()`);
  const args = b.ours.args ?? [];
  const m = toMeasurement(await (fn as (o: TimeOptions, ...a: unknown[]) => unknown)(opts, ...args));
  m.maxRssKb ??= process.resourceUsage().maxRSS;
  process.stdout.write(`${JSON.stringify(m)}\n`);
}

function runOurs(b: Benchmark, opts: Required<TimeOptions>): Measurement {
  const out = execFileSync(
    process.execPath,
    [
      ...(b.ours.nodeArgs ?? []),
      ...(COMPILED ? [] : ['--import', 'tsx']),
      fileURLToPath(import.meta.url),
      '--child',
      b.name,
      '--iterations',
      String(opts.iterations),
      '--warmup',
      String(opts.warmup),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return toMeasurement(JSON.parse(out.trim().split('\n').pop() ?? 'null'));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message.split('\n')[0]! : String(e);
}

/** The run whose value is the median of `runs` (the lower middle one for an even count). */
function medianRun(runs: Measurement[]): Measurement | undefined {
  const sorted = [...runs].sort((x, y) => x.value - y.value);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

function runOne(b: Benchmark, runOpts: Required<TimeOptions>): Row {
  const opts = b.warmup === undefined ? runOpts : { ...runOpts, warmup: b.warmup };
  const row: Row = {
    name: b.name,
    unit: b.unit,
    ours: null,
    reference: null,
    ratio: null,
    better: b.unit.endsWith('/s') ? 'higher' : 'lower',
    status: 'ok',
  };
  const errors: string[] = [];
  const oursRuns: Measurement[] = [];
  const refRuns: Measurement[] = [];
  const rounds = b.rounds ?? 1;
  let oursReady = true;
  if (!existsSync(benchModule(b.ours.module))) {
    row.status = 'pending';
    oursReady = false;
    errors.push(`bench/${b.ours.module} not written yet`);
  }
  for (let round = 0; round < rounds && errors.length === 0; round++) {
    if (oursReady) {
      try {
        oursRuns.push(runOurs(b, opts));
      } catch (e) {
        row.status = 'error';
        errors.push(`ours: ${message(e)}`);
      }
    }
    if (b.reference && errors.length === 0) {
      try {
        refRuns.push(b.reference(opts));
      } catch (e) {
        row.status = 'error';
        errors.push(`reference: ${message(e)}`);
      }
    }
  }
  const m = medianRun(oursRuns);
  if (m !== undefined) {
    row.ours = m.value;
    if (m.maxRssKb !== undefined) row.oursMaxRssKb = m.maxRssKb;
    if (m.iterations !== undefined) row.oursIterations = m.iterations;
    if (m.extra) row.oursExtra = m.extra;
    if (rounds > 1)
      row.oursExtra = { ...row.oursExtra, rounds: oursRuns.map((r) => r.value.toPrecision(4)).join(' ') };
  }
  const r = medianRun(refRuns);
  if (r !== undefined) {
    row.reference = r.value;
    if (r.maxRssKb !== undefined) row.referenceMaxRssKb = r.maxRssKb;
    if (r.iterations !== undefined) row.referenceIterations = r.iterations;
    if (r.extra) row.referenceExtra = r.extra;
    if (rounds > 1)
      row.referenceExtra = {
        ...row.referenceExtra,
        rounds: refRuns.map((x) => x.value.toPrecision(4)).join(' '),
      };
  }
  if (row.ours !== null && row.reference !== null && row.reference > 0) row.ratio = row.ours / row.reference;
  if (errors.length > 0) row.error = errors.join('; ');
  return row;
}

function fmt(n: number | null | undefined, digits = 3): string {
  if (n === null || n === undefined) return '-';
  if (n >= 1e6) return `${(n / 1e6).toPrecision(digits)}M`;
  if (n >= 1e4) return `${(n / 1e3).toPrecision(digits)}k`;
  return n >= 100 ? n.toFixed(1) : n.toPrecision(digits);
}

function mib(kb: number | undefined): string {
  return kb === undefined ? '-' : `${(kb / 1024).toFixed(1)} MiB`;
}

function printTable(rows: readonly Row[]): void {
  const header = ['benchmark', 'unit', 'ours', 'libbpf (C)', 'ratio', 'ours max RSS', 'C max RSS'];
  const lines = rows.map((r) => [
    r.name,
    r.unit,
    fmt(r.ours),
    fmt(r.reference),
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`,
    mib(r.oursMaxRssKb),
    mib(r.referenceMaxRssKb),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: readonly string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(show(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(show(l));
  for (const r of rows) if (r.error) console.log(`${r.name}: ${r.status}: ${r.error}`);
  console.log(
    'ratio = ours / libbpf: for ms below 1 is faster than libbpf, for ops/s above 1 is faster. Max RSS is per process (Node itself is ~40 MiB).',
  );
}

/** The rows as a Markdown table, as the README's benchmark section shows them. */
function printMarkdown(rows: readonly Row[]): void {
  console.log('| benchmark | unit | ours | libbpf (C) | ours / C |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  for (const r of rows) {
    const ratio = r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`;
    console.log(`| \`${r.name}\` | ${r.unit} | ${fmt(r.ours)} | ${fmt(r.reference)} | ${ratio} |`);
  }
}

/** Rows of earlier `--json` runs, in first-seen order; a later file's row of the same name wins. */
function readRows(files: readonly string[]): Row[] {
  const rows = new Map<string, Row>();
  for (const file of files) {
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (line.trim() === '') return;
        let row: Row;
        try {
          row = JSON.parse(line) as Row;
        } catch (e) {
          throw new Error(`${file}:${i + 1}: not a JSON row (${message(e)})`);
        }
        if (typeof row.name !== 'string') throw new Error(`${file}:${i + 1}: a row without a name`);
        rows.set(row.name, row);
      });
  }
  return [...rows.values()];
}

function parseFlags(argv: readonly string[]): {
  json: boolean;
  markdown: boolean;
  from: string[];
  only: string | undefined;
  child: string | undefined;
  opts: Required<TimeOptions>;
} {
  let json = false;
  let markdown = false;
  const from: string[] = [];
  let only: string | undefined;
  let child: string | undefined;
  const opts = { iterations: 30, warmup: 3 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = (min: number): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < min) throw new Error(`${a} needs an integer >= ${min}`);
      return n;
    };
    if (a === '--json') json = true;
    else if (a === '--markdown') markdown = true;
    else if (a === '--from') from.push(value());
    else if (a === '--only') only = value();
    else if (a === '--child') child = value();
    else if (a === '--iterations') opts.iterations = count(1);
    else if (a === '--warmup') opts.warmup = count(0);
    else
      throw new Error(
        `unknown option ${a} (use --json, --markdown, --only NAME, --iterations N, --warmup N, --from FILE)`,
      );
  }
  if (json && markdown) throw new Error('--json and --markdown are two ways to print: give one');
  return { json, markdown, from, only, child, opts };
}

/** Whether `--only` (names or name prefixes, comma-separated; none: all) selects the row `name`. */
function selects(only: string | undefined, name: string): boolean {
  return only === undefined || only.split(',').some((o) => name === o || name.startsWith(`${o}-`));
}

async function main(): Promise<number> {
  const { json, markdown, from, only, child, opts } = parseFlags(process.argv.slice(2));
  if (child !== undefined) {
    await runChild(child, opts);
    return 0;
  }
  const print = (rows: readonly Row[]): void =>
    json
      ? rows.forEach((row) => process.stdout.write(`${JSON.stringify(row)}\n`))
      : markdown
        ? printMarkdown(rows)
        : printTable(rows);
  if (from.length > 0) {
    print(readRows(from).filter((r) => selects(only, r.name)));
    return 0;
  }
  if (COMPILED) linkCompiledTree();
  const selected = BENCHMARKS.filter((b) => selects(only, b.name));
  if (selected.length === 0)
    throw new Error(`no benchmark named ${only}; have ${BENCHMARKS.map((b) => b.name).join(', ')}`);
  const rows: Row[] = [];
  for (const b of selected) {
    const row = runOne(b, opts);
    rows.push(row);
    if (json) process.stdout.write(`${JSON.stringify(row)}\n`);
  }
  if (!json) print(rows);
  return rows.some((r) => r.status === 'error') ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`bench: ${message(e)}`);
    process.exitCode = 2;
  },
);
