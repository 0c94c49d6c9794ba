// `ebpf build`: a C program with a ring buffer of struct event becomes an object (both byte
// orders, read back by llvm-readelf and bpftool) and a TypeScript module that a strict-TS
// consumer uses without a cast — tsc passes, and each @ts-expect-error line (a wrong use) must
// fail to compile — and that runs: load, attach, trigger, typed events out of the ring buffer.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildObject, BuildError, defaultOutput, vmlinuxHeader } from '../src/build/index.js';
import { typeByCName } from '../src/btf/c-name.js';
import { NotFoundError } from '../src/errors.js';
import {
  objectShapes,
  shapesFingerprint,
  withObjectTypes,
  ObjectTypesMismatchError,
} from '../src/gen/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { cli, haveTool, need, needRoot, ROOT, TESTDATA, VMLINUX } from './helpers.js';

const SOURCE = join(ROOT, 'test/c/build_events.bpf.c');
const API = join(ROOT, 'src/index.js');
let dir = '';
let cache = '';

const canBuild = (): boolean => haveTool('clang-19') && existsSync(VMLINUX);
const WHY = 'needs clang-19 and kernel BTF at /sys/kernel/btf/vmlinux';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ebpf-build-'));
  cache = join(dir, 'cache');
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `ebpf build` with the test's vmlinux.h cache. */
function build(args: string[]): { status: number; stdout: string; stderr: string } {
  return cli(['build', ...args, '--cache-dir', cache]);
}

const el = (): string => join(dir, 'events.bpf.o');
const eb = (): string => join(dir, 'events-eb.bpf.o');
const module = (): string => join(dir, 'events.ts');

test('ebpf build writes bpfel and bpfeb objects, as llvm-readelf and bpftool read them', (t) => {
  if (!need(t, canBuild(), WHY)) return;
  const r = build([SOURCE, '-o', el(), '--types', module(), '--type', 'event', '--import', API]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*events\.bpf\.o \(bpfel, \d+ bytes\)\nwrote .*events\.ts/);
  const j = build([SOURCE, '-o', eb(), '--target', 'bpfeb', '--json']);
  assert.equal(j.status, 0, j.stderr);
  const res = JSON.parse(j.stdout) as {
    target: string;
    vmlinux: { path: string; cached: boolean };
    command: string[];
  };
  assert.equal(res.target, 'bpfeb');
  assert.equal(res.vmlinux.cached, true, 'the second build reuses the cached vmlinux.h');
  // libbpf-bootstrap's flags, the host's arch for bpf_tracing.h, system includes after the rest.
  const cmd = res.command.join(' ');
  assert.match(cmd, /-g -O2 -target bpfeb -D__TARGET_ARCH_x86 -I \S+vmlinux-[0-9a-f]+ (-idirafter \S+ )+-c /);

  for (const [file, order] of [
    [el(), 'little endian'],
    [eb(), 'big endian'],
  ] as const) {
    const h = execFileSync('llvm-readelf-19', ['-h', file], { encoding: 'utf8' });
    assert.match(h, new RegExp(`Data:\\s+2's complement, ${order}`));
    assert.match(h, /Machine:\s+(EM_BPF|Linux BPF)/);
    const btf = execFileSync('bpftool', ['btf', 'dump', 'file', file], { encoding: 'utf8' });
    assert.match(btf, /STRUCT 'event' size=32 vlen=4/);
    assert.match(btf, /FUNC 'on_getppid'/);
  }
  const specEl = loadObjectSpec(el());
  const specEb = loadObjectSpec(eb(), { name: 'events' });
  assert.equal(specEl.littleEndian, true);
  assert.equal(specEb.littleEndian, false);
  // The module's check passes for either byte order: the same types.
  const fp = (s: typeof specEl): string => shapesFingerprint(objectShapes(s, { records: ['event'] }));
  assert.equal(fp(specEb), fp(specEl));
  assert.equal(withObjectTypes(specEb, { fingerprint: fp(specEl), records: ['event'] }), specEb);
  // Another object is refused, naming what differs.
  assert.throws(
    () =>
      withObjectTypes(loadObjectSpec(join(TESTDATA, 'events-el.o')), {
        fingerprint: fp(specEl),
        records: [],
      }),
    (e: unknown) =>
      e instanceof ObjectTypesMismatchError && /its maps, sections, programs, records differ/.test(e.message),
  );
});

test('the vmlinux.h is what bpftool writes for the same BTF, and is cached by content', (t) => {
  if (!need(t, canBuild() && haveTool('bpftool'), `${WHY}, and bpftool`)) return;
  const h = vmlinuxHeader({ cacheDir: cache });
  const oracle = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX, 'format', 'c'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  assert.ok(readFileSync(h.path, 'utf8') === oracle, 'vmlinux.h differs from bpftool btf dump ... format c');
  const again = vmlinuxHeader({ cacheDir: cache });
  assert.equal(again.path, h.path);
  assert.equal(again.cached, true);
  assert.equal(statSync(again.path).mtimeMs, statSync(h.path).mtimeMs);
  // Another BTF (an object's .BTF, as raw BTF) gets its own header, bpftool's text too.
  const raw = join(dir, 'flow.btf');
  execFileSync('llvm-objcopy-19', [
    '--dump-section',
    `.BTF=${raw}`,
    join(TESTDATA, 'flow-el.o'),
    join(dir, 'flow.tmp.o'),
  ]);
  const other = vmlinuxHeader({ cacheDir: cache, btf: raw });
  assert.notEqual(other.dir, h.dir);
  assert.equal(
    readFileSync(other.path, 'utf8'),
    execFileSync('bpftool', ['btf', 'dump', 'file', raw, 'format', 'c'], { encoding: 'utf8' }),
  );
});

/** A consumer as a user writes it: no `as`, and wrong uses that must not compile. */
const CONSUMER = `
import { attachTracepoint, loadObject, RingBuffer, type BpfMap, type LoadedObject } from '${API}';
import { loadSpec, type Event, type EventsObject, type EventsSpec } from './events.js';

export function run(): string {
  const spec = loadSpec();
  spec.rodata.target_tgid = process.pid;
  using obj = loadObject(spec);
  const typed: EventsObject = obj;
  const plain: LoadedObject = obj;
  void typed, plain;
  const counts: BpfMap<number, bigint> = obj.map('counts');
  using ring = RingBuffer.open(obj.map('events')).decodeWith(obj.codec('event'));
  using link = attachTracepoint(obj.program('on_getppid'), 'syscalls', 'sys_enter_getppid');
  void link;
  for (let i = 0; i < 5; i++) void process.ppid;
  const events: Event[] = ring.readAvailable();
  const out = [];
  for (const e of events) {
    const pid: number = e.pid;
    const n: bigint = e.n;
    const comm: string = e.comm;
    const kind: 'KIND_GETPPID' | 'KIND_OTHER' | number = e.kind;
    out.push({ pid, n: String(n), comm, kind });
  }
  const seen: bigint = obj.bss.seen;
  return JSON.stringify({ events: out, seen: String(seen), count: String(counts.lookup(0) ?? -1n) });
}

/** Wrong uses, each of which must fail to compile (never run). */
export function wrongUses(spec: EventsSpec, obj: EventsObject, e: Event): void {
  // @ts-expect-error target_tgid is a u32: a number
  spec.rodata.target_tgid = 1n;
  // @ts-expect-error the object has no such variable
  spec.rodata.target_pid = 1;
  // @ts-expect-error counts holds u64 values: bigint
  const wrongCounts: BpfMap<number, number> = obj.map('counts');
  // @ts-expect-error no such map
  obj.map('event');
  // @ts-expect-error no such program
  obj.program('on_getpid');
  // @ts-expect-error no such record type
  obj.codec('evnt');
  // @ts-expect-error the object has no .data
  void obj.data.seen;
  // @ts-expect-error n is a u64: a bigint
  const wrongN: number = e.n;
  // @ts-expect-error an enum decodes to its enumerator's name, or the number
  const wrongKind: number = e.kind;
  // @ts-expect-error struct event has no such field
  void e.tgid;
  // @ts-expect-error the ring's records decode as struct event, not as the count
  const wrongRecords: bigint[] = RingBuffer.open(obj.map('events')).decodeWith(obj.codec('event')).readAvailable();
  void wrongCounts, wrongN, wrongKind, wrongRecords;
}
`;

// The events carry the calling thread's name: 'node' on Node 20, 'MainThread' from Node 24 on.
const MAIN = `import { readFileSync } from 'node:fs';
import { run } from './consumer.js';
const out: unknown = JSON.parse(run());
const thread = readFileSync('/proc/thread-self/comm', 'utf8').trim();
process.stdout.write(JSON.stringify({ out, thread }));
`;

test('a strict-TS consumer uses the generated module without a cast; each wrong use fails to compile', (t) => {
  if (!need(t, canBuild(), WHY)) return;
  if (!existsSync(module())) {
    const r = build([SOURCE, '-o', el(), '--types', module(), '--type', 'event', '--import', API]);
    assert.equal(r.status, 0, r.stderr);
  }
  const generated = readFileSync(module(), 'utf8');
  assert.doesNotMatch(generated, /\bas unknown\b/);
  assert.match(generated, /export interface Event \{/);
  assert.match(generated, /const OBJECT_BASE64 =/);
  assert.doesNotMatch(CONSUMER.replace(/\/\/.*$/gm, ''), /\bas\b/, 'the consumer has no cast');
  writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
  writeFileSync(join(dir, 'main.ts'), MAIN);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'ESNext.Disposable'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: ['events.ts', 'consumer.ts', 'main.ts'],
    }),
  );
  const tsc = (): { status: number | null; out: string } => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  const ok = tsc();
  assert.equal(ok.status, 0, `tsc failed:\n${ok.out}`);
  // The witnesses are live: without its directive each wrong use is a compile error.
  const expected = CONSUMER.split('\n').filter((l) => l.includes('@ts-expect-error')).length;
  assert.ok(expected >= 10);
  writeFileSync(join(dir, 'consumer.ts'), CONSUMER.replace(/\/\/ @ts-expect-error.*\n/g, ''));
  const bad = tsc();
  assert.equal(bad.out.match(/error TS\d+/g)?.length, expected, bad.out);
  writeFileSync(join(dir, 'consumer.ts'), CONSUMER);

  if (!needRoot(t)) return;
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(dir, 'main.ts')], {
    encoding: 'utf8',
    cwd: ROOT,
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const { out: got, thread } = JSON.parse(r.stdout) as {
    out: {
      events: { pid: number; n: string; comm: string; kind: string }[];
      seen: string;
      count: string;
    };
    thread: string;
  };
  assert.ok(thread.length > 0, 'the child read its thread name');
  // The child's own getppid calls, each one event in order; none from other processes.
  assert.ok(got.events.length >= 5, JSON.stringify(got));
  assert.equal(got.seen, String(got.events.length));
  assert.equal(got.count, got.seen);
  got.events.forEach((e, i) => {
    assert.equal(e.n, String(i + 1));
    assert.equal(e.kind, 'KIND_GETPPID');
    assert.equal(e.comm, thread);
  });
  assert.equal(new Set(got.events.map((e) => e.pid)).size, 1);
});

test('a type used only in locals: the miss says why, where the source defines it, and how to keep it', (t) => {
  if (!need(t, canBuild(), WHY)) return;
  const src = join(dir, 'local.bpf.c');
  writeFileSync(
    src,
    readFileSync(SOURCE, 'utf8').replace(
      /^struct event \*unused_event .*$/m,
      '/* struct event: locals only */',
    ),
  );
  const r = build([src, '--types', join(dir, 'local.ts'), '--type', 'event']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /local\.bpf\.o: no event in BTF\./);
  assert.match(
    r.stderr,
    /clang emits BTF only for types reachable from global variables, maps and function signatures/,
  );
  const line = readFileSync(src, 'utf8').split('\n').indexOf('struct event {') + 1;
  const defined = `The source defines it \\(\\S+local\\.bpf\\.c:${line}: \`struct event \\{\`\\)`;
  assert.match(r.stderr, new RegExp(`${defined}, but nothing global refers to it`));
  assert.match(r.stderr, /struct event \*unused_event __attribute__\(\(unused\)\);/);
  assert.ok(!existsSync(join(dir, 'local.ts')), 'no module is written');
  // The library's lookup: in the object built with struct event, close names and the right tag;
  // in the one without it, the enum only struct event used is gone too.
  const miss = (file: string, name: string): string => {
    try {
      typeByCName(loadObjectSpec(file).btf!, name);
    } catch (e) {
      assert.ok(e instanceof NotFoundError);
      return e.message;
    }
    return assert.fail(`${name} was found`);
  };
  if (!existsSync(el())) assert.equal(build([SOURCE, '-o', el()]).status, 0);
  const btf = loadObjectSpec(el()).btf!;
  assert.equal(typeByCName(btf, 'struct event').kind, 'STRUCT');
  assert.equal(typeByCName(btf, 'event').kind, 'STRUCT');
  assert.equal(typeByCName(btf, 'enum event_kind').kind, 'ENUM');
  assert.equal(typeByCName(btf, '__u64').kind, 'TYPEDEF');
  assert.match(
    miss(el(), 'struct evnt'),
    /no struct evnt in BTF\.[\s\S]*Close names in BTF: struct event\.$/,
  );
  assert.match(
    miss(el(), 'union event'),
    /no union event in BTF\.[\s\S]*Close names in BTF: struct event, enum event_kind\.$/,
  );
  assert.doesNotMatch(miss(el(), 'struct zzzz'), /Close names/);
  assert.match(miss(el(), 'struct 1x'), /'struct 1x' is not a C type name/);
  assert.match(miss(defaultOutput(src), 'enum event_kind'), /no enum event_kind in BTF\./);
});

test('clear errors: no clang (which package to install), clang diagnostics, bad options', (t) => {
  if (!need(t, canBuild(), WHY)) return;
  const missing = build([SOURCE, '-o', join(dir, 'x.o'), '--clang', '/nonexistent/clang-19']);
  assert.equal(missing.status, 1);
  assert.match(
    missing.stderr,
    /clang '\/nonexistent\/clang-19' not found: install clang \(Debian\/Ubuntu: `apt-get install clang-19`/,
  );
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'build', SOURCE], {
    encoding: 'utf8',
    env: { ...process.env, PATH: '/nonexistent', CLANG: '' },
  });
  assert.match(r.stderr, /no clang on PATH \(looked for clang-19, .*\): install clang/);

  const broken = join(dir, 'broken.bpf.c');
  writeFileSync(broken, '#include "vmlinux.h"\nint f(void) { return undeclared_thing; }\n');
  const b = build([broken, '-o', join(dir, 'broken.o')]);
  assert.equal(b.status, 1);
  assert.match(b.stderr, /broken\.bpf\.c: clang failed \(exit 1\):/);
  assert.match(b.stderr, /broken\.bpf\.c:2:\d+: error: use of undeclared identifier 'undeclared_thing'/);
  assert.ok(!existsSync(join(dir, 'broken.o')), 'no object is left behind');
  assert.throws(
    () => buildObject({ source: broken, output: join(dir, 'broken.o'), cacheDir: cache }),
    (e: unknown) => e instanceof BuildError,
  );

  const badTarget = build([SOURCE, '--target', 'bpf64']);
  assert.equal(badTarget.status, 2, 'a malformed value is a usage error');
  assert.match(badTarget.stderr, /--target wants one of bpfel, bpfeb, not 'bpf64'/);
  assert.match(build([SOURCE, '--type', 'event']).stderr, /--type needs --types FILE/);
  assert.equal(build([]).status, 2);
  assert.match(build(['/nonexistent.bpf.c']).stderr, /\/nonexistent\.bpf\.c: no such source file/);
});
