// The package's shape (package.json `exports`, `files`, typedoc.json) agrees with the sources:
// every subpath has its entry file and its API page, the root shadows no global, every name a
// folder exports is reachable through some subpath, the files the examples and the demo load
// are in the tarball, and a missing addon names the command that builds it.
// scripts/consumer-test.sh checks the packed tarball itself, installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { need, ROOT } from './helpers.js';

interface Pkg {
  exports: Record<string, string | { types: string; default: string }>;
  files: string[];
  main: string;
  types: string;
  bin: Record<string, string>;
  engines: { node: string };
}
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Pkg;
const typedoc = JSON.parse(readFileSync(join(ROOT, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };

/** dist/x/y.js (or .d.ts) → src/x/y.ts, as tsconfig.build.json compiles it. */
function sourceOf(target: string): string {
  return target.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$|\.js$/, '.ts');
}

const subpaths = Object.entries(pkg.exports).filter(([k]) => k !== './package.json') as [
  string,
  { types: string; default: string },
][];

test('every subpath in exports has its entry source, its types beside it, and a page in the API reference', () => {
  assert.ok(subpaths.length >= 10);
  for (const [name, target] of subpaths) {
    assert.equal(sourceOf(target.types), sourceOf(target.default), name);
    assert.ok(
      existsSync(join(ROOT, sourceOf(target.default))),
      `${name}: ${sourceOf(target.default)} missing`,
    );
  }
  assert.deepEqual(subpaths.map(([, t]) => sourceOf(t.default)).sort(), [...typedoc.entryPoints].sort());
  // Every entry file under src/exports/ is a subpath.
  const entries = readdirSync(join(ROOT, 'src/exports')).map((f) => `src/exports/${f}`);
  for (const e of entries) assert.ok(typedoc.entryPoints.includes(e), `${e} is not exported`);
  assert.equal(
    pkg.main,
    pkg.exports['.'] !== undefined ? (pkg.exports['.'] as { default: string }).default : '',
  );
  assert.equal(pkg.types, (pkg.exports['.'] as { types: string }).types);
});

test('the root export is the common path: no name shadows a JavaScript global, and it stays small', async () => {
  const root = (await import(pathToFileURL(join(ROOT, 'src/index.ts')).href)) as Record<string, unknown>;
  const names = Object.keys(root);
  const globals = Object.getOwnPropertyNames(globalThis);
  assert.deepEqual(
    names.filter((n) => globals.includes(n)),
    [],
  );
  for (const n of [
    'loadObjectSpec',
    'loadObject',
    'BpfMap',
    'Program',
    'Link',
    'attachXdp',
    'RingBuffer',
    'EbpfError',
    'haveFeature',
  ])
    assert.ok(names.includes(n), n);
  // Raw flags and pipeline internals live in the subpaths.
  for (const n of ['BPF_F_RDONLY_PROG', 'parseSpec', 'BPF_ALU64', 'SECTION_DEFS', 'KIND_NAMES'])
    assert.ok(!names.includes(n), n);
  assert.ok(names.length < 150, `${names.length} runtime names at the root`);
});

test('every name a pipeline folder exports is reachable through the root or a subpath', async () => {
  const reachable = new Set<string>();
  for (const [, t] of subpaths) {
    const m = (await import(pathToFileURL(join(ROOT, sourceOf(t.default))).href)) as Record<string, unknown>;
    for (const k of Object.keys(m)) reachable.add(k);
  }
  const missing: string[] = [];
  for (const folder of readdirSync(join(ROOT, 'src'))) {
    const index = join(ROOT, 'src', folder, 'index.ts');
    if (folder === 'cli' || folder === 'sys' || folder === 'internal' || !existsSync(index)) continue;
    const m = (await import(pathToFileURL(index).href)) as Record<string, unknown>;
    for (const k of Object.keys(m)) if (!reachable.has(k)) missing.push(`${folder}: ${k}`);
  }
  assert.deepEqual(missing, []);
});

test('files ships the objects the examples and the demo load, the addon sources and no tests', () => {
  const files = new Set(pkg.files);
  const wanted = new Set<string>(['testdata/flow-el.o']); // the demo's default object
  for (const f of readdirSync(join(ROOT, 'examples'))) {
    for (const m of readFileSync(join(ROOT, 'examples', f), 'utf8').matchAll(/testdata\/([\w-]+\.o)/g))
      wanted.add(`testdata/${m[1]}`);
  }
  assert.ok(wanted.size >= 4);
  for (const w of wanted) {
    assert.ok(files.has(w), `${w} not in files`);
    assert.ok(files.has(w.replace(/-el\.o$/, '.c')), `${w}'s source not in files`);
  }
  for (const f of ['bin/', 'native/ebpf.c', 'binding.gyp', 'prebuilds/', 'examples/'])
    assert.ok(files.has(f), f);
  for (const f of pkg.files) assert.doesNotMatch(f, /^(test|bench|src|scripts|\.ci)\b/);
  assert.equal(pkg.bin.ebpf, './bin/ebpf.js');
});

test('with no addon for this platform, the error says which command builds one', () => {
  const empty = mkdtempSync(join(tmpdir(), 'ebpf-no-addon-'));
  try {
    const code = `import { native } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/sys/native.ts')).href)};
      try { native(); console.log('loaded'); } catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, EBPF_PREBUILD: empty },
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    // In a checkout the fix is the checkout's script; installed, `npm rebuild ebpf` (the consumer test).
    assert.match(
      r.stdout,
      /^NotSupportedError: native addon missing: .*run `npm run build:native` in the checkout/,
    );
    assert.match(r.stdout, new RegExp(`${process.platform}-${process.arch}`));
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test('the built entry points (one bundle behind them) export what their sources export, as the same objects', async (t) => {
  // dist/ is what `npm run build` makes (tsc, then scripts/bundle.ts): npm ci and npm pack run it.
  if (!need(t, existsSync(join(ROOT, 'dist', 'lib', 'ebpf.js')), 'dist/ is not built: run `npm run build`'))
    return;
  // name → [source object, built object] as the first subpath exporting it gave them.
  const seen = new Map<string, [unknown, unknown]>();
  for (const [name, target] of subpaths) {
    const built = (await import(pathToFileURL(join(ROOT, target.default)).href)) as Record<string, unknown>;
    const source = (await import(pathToFileURL(join(ROOT, sourceOf(target.default))).href)) as Record<
      string,
      unknown
    >;
    assert.deepEqual(Object.keys(built).sort(), Object.keys(source).sort(), name);
    for (const [k, v] of Object.entries(built)) {
      assert.equal(typeof v, typeof source[k], `${name}: ${k}`);
      // The bundle renames what collides across files; a class keeps its name all the same (an
      // error's name is its class's). A function may not: enableStats.name is 'enableStats2'.
      if (typeof v === 'function' && /^class\b/.test(Function.prototype.toString.call(v)))
        assert.equal(v.name, (source[k] as () => unknown).name, `${name}: ${k}.name`);
      // What two subpaths export as one object in the sources (a class, a function, a table) is
      // one object in the bundle too: instanceof and identity hold whichever subpath it came from.
      const first = seen.get(k);
      if (first === undefined) seen.set(k, [source[k], v]);
      else if (first[0] === source[k])
        assert.equal(v, first[1], `${name}: ${k} is not the object another subpath gives`);
    }
  }
  // The entry points take their names from the bundle rather than holding code of their own.
  const index = readFileSync(join(ROOT, 'dist', 'index.js'), 'utf8');
  assert.match(index, /from '\.\/lib\/ebpf\.js'/);
  assert.ok(index.length < 20_000, `dist/index.js is ${index.length} bytes`);
});
