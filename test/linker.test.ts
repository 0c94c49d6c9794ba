// The static linker and BTF dedup against libbpf 1.1: `btf__dedup` (test/c/btf_dedup.c) gives the
// same bytes for every object's BTF and for all of them concatenated; `bpftool gen object` gives
// the same object, byte for byte, for each testdata object alone and for the three-file program
// (testdata/link_a.c, link_b.c, link_c.c) in every order, and refuses the same conflicts. The linked
// program loads to the xlated instructions libbpf's load of bpftool's link gets, and runs.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder, type TypeSpec } from '../src/btf/builder.js';
import { parseBtfFile } from '../src/btf/from-elf.js';
import { formatRaw } from '../src/btf/format-raw.js';
import { loadKernelBtf } from '../src/btf/kernel.js';
import { EbpfError, ElfError, FormatError } from '../src/errors.js';
import { cloneType, dedupBtf, dedupTypes, mapTypeIds } from '../src/linker/dedup.js';
import { LinkError, linkObjects } from '../src/linker/index.js';
import { loadObject } from '../src/loader/index.js';
import {
  cli,
  haveTool,
  need,
  needRoot,
  needTool,
  objectsIn,
  ROOT,
  run,
  TESTDATA,
  VMLINUX,
  xdpToolsObjects,
} from './helpers.js';

const BPFFS = '/sys/fs/bpf';
const DEDUP_SRC = join(ROOT, 'test', 'c', 'btf_dedup.c');
const DEDUP_BIN = join(ROOT, 'build', 'test-c', 'btf_dedup');
const LINK_SRC = join(ROOT, 'test', 'c', 'link_objects.c');
const LINK_BIN = join(ROOT, 'build', 'test-c', 'link_objects');
/** bpftool 7.1 carries Linux 6.1's libbpf, whose dedup lacks the FWD-by-unique-name pass. */
const LIKE_BPFTOOL = { fwdByName: false };
const PARTS = ['link_a', 'link_b', 'link_c'];
const part = (name: string, endian = 'el'): string => join(TESTDATA, `${name}-${endian}.o`);
const input = (file: string): { file: string; bytes: Uint8Array } => ({ file, bytes: readFileSync(file) });
const tmp = mkdtempSync(join(tmpdir(), `ebpf-linker-${process.pid}-`));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function haveLibbpfDev(t: Parameters<typeof need>[0]): boolean {
  return needTool(t, 'gcc') && need(t, existsSync('/usr/include/bpf/btf.h'), 'libbpf-dev not installed');
}

function harness(src: string, bin: string): string {
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(ROOT, 'build', 'test-c'), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', src, '-lbpf', '-o', bin], { stdio: 'inherit' });
  }
  return bin;
}
const dedupHarness = (): string => harness(DEDUP_SRC, DEDUP_BIN);

/** The shared libbpf's (1.1.2 here) bpf_linker on the files; undefined when it refuses them. */
function libbpfLink(files: string[]): Buffer | undefined {
  const out = join(tmp, 'libbpf-link.o');
  const r = spawnSync(harness(LINK_SRC, LINK_BIN), [out, ...files], { encoding: 'utf8' });
  return r.status === 0 ? readFileSync(out) : undefined;
}

/** libbpf's btf__dedup of a raw BTF or object file. */
function libbpfDedup(file: string): Buffer {
  const out = join(tmp, 'libbpf.btf');
  execFileSync(dedupHarness(), [file, out]);
  return readFileSync(out);
}

/** The BTF of several files as one raw BTF, ids renumbered: many compilation units to merge. */
function concatenated(files: string[]): Uint8Array {
  const b = new BtfBuilder();
  for (const f of files) {
    const btf = parseBtfFile(readFileSync(f), { file: f });
    const shift = b.nextTypeId - 1;
    for (const t0 of btf.types()) {
      const t = cloneType(t0);
      mapTypeIds(t, (id) => (id === 0 ? 0 : id + shift));
      t.id += shift;
      b.add(t);
    }
  }
  return b.build();
}

function assertSameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  if (Buffer.compare(Buffer.from(got), Buffer.from(want)) === 0) return;
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  assert.fail(`${what}: ${got.length} bytes vs libbpf's ${want.length}, first difference at offset ${i}`);
}

test('btf dedup: the same bytes as libbpf btf__dedup for every testdata and xdp-tools object', (t) => {
  if (!haveLibbpfDev(t)) return;
  const files = [...objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o')), ...xdpToolsObjects(t)];
  assert.ok(files.length > 30);
  for (const f of files) {
    const ours = dedupBtf(parseBtfFile(readFileSync(f), { file: f }));
    assertSameBytes(ours.bytes, libbpfDedup(f), f);
  }
});

test('btf dedup across compilation units: every object concatenated dedups as libbpf does', (t) => {
  if (!haveLibbpfDev(t)) return;
  const files = [...objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o')), ...xdpToolsObjects(t)];
  const raw = join(tmp, 'all.btf');
  writeFileSync(raw, concatenated(files));
  const ours = dedupBtf(Btf.parse(readFileSync(raw)));
  assert.ok(ours.typesIn > 1000 && ours.typesOut < ours.typesIn / 1.5, `${ours.typesIn} -> ${ours.typesOut}`);
  assertSameBytes(ours.bytes, libbpfDedup(raw), 'concatenated BTF');
  // Big-endian BTF deduplicates to the same types.
  const eb = concatenated(objectsIn(TESTDATA).filter((f) => f.endsWith('-eb.o')));
  const el = concatenated(objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o')));
  const a = dedupBtf(Btf.parse(eb));
  const b = dedupBtf(Btf.parse(el));
  assert.equal(formatRaw(Btf.parse(a.bytes)), formatRaw(Btf.parse(b.bytes)));
});

/** Two compilation units, as the linker sees them: one with forward declarations, one complete. */
function twoUnits(): TypeSpec[] {
  const int = (): TypeSpec => ({ kind: 'INT', name: 'int', size: 4, encoding: 1, bitsOffset: 0, bits: 32 });
  return [
    // Unit 1: struct node; struct holder { struct node *n; }; enum color (forward); anon *.
    /* 1 */ { kind: 'FWD', name: 'node', union: false },
    /* 2 */ { kind: 'PTR', name: '', type: 1 },
    /* 3 */ {
      kind: 'STRUCT',
      name: 'holder',
      size: 8,
      kindFlag: false,
      members: [{ name: 'n', type: 2, bitsOffset: 0, bitfieldSize: 0 }],
    },
    /* 4 */ { kind: 'ENUM', name: 'color', size: 4, signed: false, values: [] },
    /* 5 */ { kind: 'PTR', name: '', type: 4 },
    /* 6 */ { kind: 'FWD', name: 'twice', union: false },
    // Unit 2: struct node { int v; struct node *next; } (a cycle), the same holder, enum color.
    /* 7 */ int(),
    /* 8 */ {
      kind: 'STRUCT',
      name: 'node',
      size: 16,
      kindFlag: false,
      members: [
        { name: 'v', type: 7, bitsOffset: 0, bitfieldSize: 0 },
        { name: 'next', type: 9, bitsOffset: 64, bitfieldSize: 0 },
      ],
    },
    /* 9 */ { kind: 'PTR', name: '', type: 8 },
    /* 10 */ {
      kind: 'STRUCT',
      name: 'holder',
      size: 8,
      kindFlag: false,
      members: [{ name: 'n', type: 9, bitsOffset: 0, bitfieldSize: 0 }],
    },
    /* 11 */ { kind: 'ENUM', name: 'color', size: 4, signed: false, values: [{ name: 'RED', value: 1n }] },
    /* 12 */ { kind: 'PTR', name: '', type: 11 },
    // Two different structs named 'twice': the FWD of that name stays, ambiguous.
    /* 13 */ { kind: 'STRUCT', name: 'twice', size: 4, kindFlag: false, members: [] },
    /* 14 */ { kind: 'STRUCT', name: 'twice', size: 8, kindFlag: false, members: [] },
    /* 15 */ int(),
  ];
}

test('btf dedup: forward declarations resolve against full definitions through a cycle; an ambiguous one stays', (t) => {
  const specs = twoUnits();
  const b = new BtfBuilder();
  for (const s of specs) b.add(s);
  const raw = b.build();
  const r = dedupBtf(Btf.parse(raw));
  const out = Btf.parse(r.bytes);
  const kinds = [...out.types()].map((x) => `${x.kind} ${x.name}`);
  // The first of equivalent types is kept: unit 1's pointer and holder, now to the full node.
  assert.deepEqual(kinds, [
    'PTR ',
    'STRUCT holder',
    'PTR ',
    'FWD twice',
    'INT int',
    'STRUCT node',
    'ENUM color',
    'STRUCT twice',
    'STRUCT twice',
  ]);
  const holder = out.findOne('holder', 'STRUCT');
  assert.ok(holder.kind === 'STRUCT');
  const ptr = out.type(holder.members[0]!.type);
  assert.ok(ptr.kind === 'PTR');
  assert.equal(out.type(ptr.type).name, 'node');
  assert.equal(out.type(ptr.type).kind, 'STRUCT');
  // Every old id maps to a type of the same name (or to its resolution).
  assert.equal(r.remap[1], out.findOne('node', 'STRUCT').id);
  assert.equal(r.remap[4], r.remap[11]);
  assert.equal(r.remap[15], r.remap[7]);
  if (!haveTool('gcc') || !existsSync('/usr/include/bpf/btf.h')) {
    need(t, false, 'libbpf-dev or gcc missing: checked without the libbpf oracle');
    return;
  }
  const file = join(tmp, 'units.btf');
  writeFileSync(file, raw);
  assertSameBytes(r.bytes, libbpfDedup(file), 'two units');
});

test('btf dedup: a bad reference is a BtfError naming the type; split BTF is refused', () => {
  assert.throws(
    () => dedupTypes([{ kind: 'PTR', id: 1, name: '', type: 7 }]),
    (e: unknown) => e instanceof FormatError && /type \[1\].*type id 7/.test(e.message),
  );
  if (existsSync(VMLINUX)) {
    const base = loadKernelBtf();
    const b = new BtfBuilder({ base });
    b.add({ kind: 'PTR', name: '', type: 1 });
    assert.throws(() => dedupBtf(Btf.parse(b.build(), { base })), /split BTF/);
  }
});

test('ebpf btf dedup writes libbpf-identical raw BTF; --json counts', (t) => {
  const f = part('progtypes');
  const out = join(tmp, 'cli.btf');
  const r = cli(['btf', 'dedup', f, '-o', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const counts = JSON.parse(r.stdout) as { typesIn: number; typesOut: number };
  assert.deepEqual(counts, {
    typesIn: parseBtfFile(readFileSync(f)).typeCount,
    typesOut: Btf.parse(readFileSync(out)).typeCount,
    bytes: statSync(out).size,
  });
  assert.ok(counts.typesOut < counts.typesIn);
  assert.equal(cli(['btf', 'dedup', f]).status, 2, 'no -o: usage');
  if (haveLibbpfDev(t)) assertSameBytes(readFileSync(out), libbpfDedup(f), 'cli');
});

/** `bpftool gen object` of the files, or its error text. */
function bpftoolLink(files: string[], out: string): { ok: boolean; stderr: string } {
  const r = spawnSync('bpftool', ['gen', 'object', out, ...files], { encoding: 'utf8' });
  return { ok: r.status === 0, stderr: r.stderr };
}

test('link one object: byte-identical to bpftool gen object, for every testdata object', (t) => {
  if (!needTool(t, 'bpftool')) return;
  const files = objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o'));
  for (const f of files) {
    const theirs = join(tmp, 'one-theirs.o');
    assert.ok(bpftoolLink([f], theirs).ok, f);
    assertSameBytes(linkObjects([input(f)], LIKE_BPFTOOL), readFileSync(theirs), f);
  }
});

test('link pairs of objects: bpftool 7.1 and the shared libbpf 1.1.2, each byte for byte', (t) => {
  if (!needTool(t, 'bpftool') || !haveLibbpfDev(t)) return;
  const files = objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o') && !f.includes('/link_'));
  let pairs = 0;
  let differ = 0;
  const chosen: string[][] = [];
  for (let i = 0; i < files.length; i++)
    for (let j = i + 1; j < files.length; j += 4) chosen.push([files[i]!, files[j]!]);
  // core_many + struct_ops: a FWD 'sock' only the newer libbpf resolves (checked below), whatever
  // the sampling above picks as testdata grows.
  const fwdPair = ['core_many-el.o', 'struct_ops-el.o'].map((f) => join(TESTDATA, f));
  if (!chosen.some((p) => p[0] === fwdPair[0] && p[1] === fwdPair[1])) chosen.push(fwdPair);
  for (const pair of chosen) {
    {
      const what = pair.join(' + ');
      const theirs = join(tmp, 'pair-theirs.o');
      if (!bpftoolLink(pair, theirs).ok) {
        // Two objects defining the same global: both linkers refuse.
        assert.throws(() => linkObjects(pair.map(input)), LinkError, what);
        assert.equal(libbpfLink(pair), undefined, what);
        continue;
      }
      assertSameBytes(linkObjects(pair.map(input), LIKE_BPFTOOL), readFileSync(theirs), `${what} (bpftool)`);
      const lib = libbpfLink(pair);
      assert.ok(lib !== undefined, what);
      const ours = linkObjects(pair.map(input));
      assertSameBytes(ours, lib, `${what} (libbpf 1.1.2)`);
      if (Buffer.compare(lib, readFileSync(theirs)) !== 0) differ++;
      pairs++;
    }
  }
  assert.ok(pairs > 60, `${pairs} pairs`);
  // core_many + struct_ops: a FWD 'sock' only the newer libbpf resolves, so the two oracles differ.
  assert.ok(differ >= 1, 'the FWD-by-name pass made no difference: the option is untested');
});

const orders = (xs: string[]): string[][] =>
  xs.length <= 1
    ? [xs]
    : xs.flatMap((x, i) => orders([...xs.slice(0, i), ...xs.slice(i + 1)]).map((r) => [x, ...r]));

test('link the three-file program in every order: the same object as bpftool gen object, or the same refusal', (t) => {
  if (!needTool(t, 'bpftool')) return;
  let linked = 0;
  for (const order of orders(PARTS)) {
    const files = order.map((n) => part(n));
    const theirs = join(tmp, `three-theirs.o`);
    const lib = bpftoolLink(files, theirs);
    let ours: Uint8Array | undefined;
    let err: unknown;
    try {
      ours = linkObjects(files.map(input), LIKE_BPFTOOL);
    } catch (e) {
      err = e;
    }
    if (!lib.ok) {
      // libbpf's rule, kept: a __weak definition that replaced an extern counts as strong, so
      // link_c (extern counts), link_b (__weak counts), link_a (counts) conflict.
      assert.ok(err instanceof LinkError, `${order.join(' ')}: libbpf refused (${lib.stderr}), we did not`);
      const sym = /symbol #\d+ \((\w+)\)/.exec(lib.stderr)?.[1];
      assert.ok(sym !== undefined, lib.stderr);
      assert.match(err.message, new RegExp(`'${sym}'`));
      continue;
    }
    assert.equal(err, undefined, `${order.join(' ')}: ${String(err)}`);
    const mine = join(tmp, 'three-ours.o');
    writeFileSync(mine, ours!);
    assertSameBytes(ours!, readFileSync(theirs), order.join(' '));
    for (const fmt of [[], ['format', 'c']]) {
      assert.equal(
        run('bpftool', ['btf', 'dump', 'file', mine, ...fmt]),
        run('bpftool', ['btf', 'dump', 'file', theirs, ...fmt]),
      );
    }
    if (haveTool('llvm-objdump-19')) {
      const dis = (f: string): string => run('llvm-objdump-19', ['-dr', f]).split('\n').slice(2).join('\n');
      assert.equal(dis(mine), dis(theirs));
    }
    linked++;
  }
  assert.ok(linked >= 4, `only ${linked} orders linked`);
});

test('linking big-endian objects gives the little-endian link with bytes swapped: same BTF and instructions', () => {
  const el = linkObjects(PARTS.map((n) => input(part(n))));
  const eb = linkObjects(PARTS.map((n) => input(part(n, 'eb'))));
  assert.equal(formatRaw(parseBtfFile(eb)), formatRaw(parseBtfFile(el)));
  assert.equal(eb.length, el.length);
  if (haveTool('llvm-objdump-19')) {
    const dis = (bytes: Uint8Array, name: string): string => {
      const f = join(tmp, name);
      writeFileSync(f, bytes);
      // Instruction text without the raw byte columns, which differ by byte order.
      return run('llvm-objdump-19', ['-d', '--no-show-raw-insn', f]).split('\n').slice(2).join('\n');
    };
    assert.equal(dis(eb, 'eb.o'), dis(el, 'el.o'));
  }
});

test('conflicts name the symbol and both files, where libbpf refuses too', (t) => {
  const cases: [string[], RegExp][] = [
    [['link_a', 'link_a'], /conflicting definitions of 'link_xdp' in .*link_a-el\.o and .*link_a-el\.o/],
    [
      ['link_a', 'link_bad_map'],
      /max_entries mismatch between 'counts' in .*link_a-el\.o and .*link_bad_map-el\.o/,
    ],
    [
      ['link_bad_map', 'link_a'],
      /max_entries mismatch between 'counts' in .*link_bad_map-el\.o and .*link_a-el\.o/,
    ],
    [
      ['link_a', 'link_bad_extern'],
      /global 'link_total' in .*link_a-el\.o and .*link_bad_extern-el\.o: incompatible int .* size 8 and 4/,
    ],
  ];
  for (const [names, re] of cases) {
    const files = names.map((n) => part(n));
    assert.throws(
      () => linkObjects(files.map(input)),
      (e: unknown) => e instanceof LinkError && re.test(e.message),
    );
    if (haveTool('bpftool')) assert.equal(bpftoolLink(files, join(tmp, 'bad.o')).ok, false, names.join(' '));
  }
  const r = cli(['link', '-o', join(tmp, 'bad.o'), part('link_a'), part('link_bad_map')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^ebpf: .*'counts'/);
  if (!haveTool('bpftool')) need(t, false, 'bpftool missing: libbpf not asked');
});

test('bad input is a typed error naming the file: not ELF, truncated, mixed byte order, nothing to link', () => {
  const a = input(part('link_a'));
  assert.throws(() => linkObjects([]), LinkError);
  assert.throws(() => linkObjects([{ file: 'x.o', bytes: new Uint8Array(10) }]), ElfError);
  assert.throws(
    () => linkObjects([a, input(part('link_b', 'eb'))]),
    (e: unknown) => e instanceof LinkError && /link_b-eb\.o.*byte order/.test(e.message),
  );
  for (const cut of [64, 200, 1000, a.bytes.length - 100]) {
    assert.throws(
      () => linkObjects([{ file: 'cut.o', bytes: a.bytes.subarray(0, cut) }]),
      (e: unknown) => e instanceof FormatError && /cut\.o/.test(e.message),
      `cut at ${cut}`,
    );
  }
  const r = cli(['link', '-o', join(tmp, 'x.o'), join(tmp, 'missing.o')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing\.o/);
});

/** `bpftool prog dump xlated` of a pinned program with map ids blanked. */
const xlated = (pin: string): string =>
  run('bpftool', ['prog', 'dump', 'xlated', 'pinned', pin]).replace(/map\[id:\d+\]/g, 'map');

test('the linked program loads to the xlated instructions libbpf gets from its own link', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const files = PARTS.map((n) => part(n));
  const theirs = join(tmp, 'load-theirs.o');
  const mine = join(tmp, 'load-ours.o');
  assert.ok(bpftoolLink(files, theirs).ok);
  assert.equal(cli(['link', '-o', mine, ...files]).status, 0);
  const tag = join(BPFFS, `ebpf_test_${process.pid}_linker`);
  try {
    run('bpftool', ['prog', 'loadall', theirs, `${tag}_libbpf`]);
    const r = cli(['load', mine, '--pin-dir', `${tag}_ours`, '--pin-maps', `${tag}_maps`]);
    assert.equal(r.status, 0, r.stderr);
    const want = xlated(join(`${tag}_libbpf`, 'link_xdp'));
    assert.ok(want.split('\n').length > 50, want);
    assert.equal(xlated(join(`${tag}_ours`, 'link_xdp')), want);
  } finally {
    for (const d of ['libbpf', 'ours', 'maps']) rmSync(`${tag}_${d}`, { recursive: true, force: true });
  }
});

test('the linked program runs: the weak default is replaced, the extern call and the shared map and globals work', (t) => {
  if (!needRoot(t)) return;
  const linked = linkObjects(PARTS.map((n) => input(part(n))));
  using obj = loadObject(linked);
  const prog = obj.program('link_xdp');
  const XDP_PASS = 2;
  for (let i = 0; i < 5; i++) assert.equal(prog.testRun({ dataIn: new Uint8Array(64) }).retval, XDP_PASS);
  for (let i = 0; i < 3; i++) assert.equal(prog.testRun({ dataIn: new Uint8Array(200) }).retval, XDP_PASS);
  // classify (link_b): 2 for the rx_queue_index the kernel's xdp_md has, +1 past 100 bytes.
  const counts = obj.map<number, bigint>('counts');
  assert.deepEqual(
    [0, 1, 2, 3].map((k) => counts.lookup(k)),
    [0n, 0n, 5n, 3n],
  );
  // link_c's bump: slot * 10 + 1 (a kernel version) + 2 (XDP_PASS exists); link_b adds 1 per run.
  const bss = obj.bss as {
    link_total: bigint;
    link_classified: number;
    link_seen_version: number;
    link_skb_size: number;
  };
  assert.equal(bss.link_total, 5n * (2n * 10n + 3n + 1n) + 3n * (3n * 10n + 3n + 1n));
  assert.equal(bss.link_classified, 8);
  const [maj, min, patch] = run('uname', ['-r']).split(/[.-]/).map(Number) as [number, number, number];
  assert.equal(bss.link_seen_version, (maj << 16) + (min << 8) + Math.min(patch, 255));
  if (existsSync(VMLINUX)) {
    const skb = loadKernelBtf().findOne('sk_buff', 'STRUCT');
    assert.ok(skb.kind === 'STRUCT');
    assert.equal(bss.link_skb_size, skb.size);
  }
});

test('mutated objects link or fail with a located EbpfError, never a crash', () => {
  const base = PARTS.map((n) => new Uint8Array(readFileSync(part(n))));
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const inputs = base.map((b, j) => ({ file: `mutant${i}-${j}.o`, bytes: b.slice() }));
    const victim = inputs[rnd(3)]!;
    const b = victim.bytes;
    const view = new DataView(b.buffer);
    // Half the mutants hit the BTF type section with small numbers (type ids, lengths, kinds).
    const btf = new ElfFileLite(b).btf;
    for (let k = 1 + rnd(3); k > 0; k--) {
      if (i % 2 === 0 && btf) view.setUint32(btf.start + 24 + 4 * rnd((btf.size - 24) >> 2), rnd(70), true);
      else b[rnd(b.length)] = rnd(256);
    }
    try {
      linkObjects(inputs);
      outcomes.set('linked', (outcomes.get('linked') ?? 0) + 1);
    } catch (e) {
      assert.ok(e instanceof EbpfError, `mutant ${i}: ${(e as Error).stack}`);
      assert.match(
        e.message,
        /mutant\d+-\d\.o|section|type \[/,
        `mutant ${i}: no location in '${e.message}'`,
      );
      outcomes.set(e.name, (outcomes.get(e.name) ?? 0) + 1);
    }
  }
  assert.ok((outcomes.get('linked') ?? 0) > 20 && outcomes.size >= 3, JSON.stringify([...outcomes]));
});

/** Where .BTF is in an object, found without the project's reader (which the mutants break). */
class ElfFileLite {
  readonly btf: { start: number; size: number } | undefined;
  constructor(b: Uint8Array) {
    const v = new DataView(b.buffer, b.byteOffset);
    const shoff = Number(v.getBigUint64(40, true));
    const n = v.getUint16(60, true);
    const strOff = Number(v.getBigUint64(shoff + 64 * v.getUint16(62, true) + 24, true));
    for (let i = 0; i < n; i++) {
      const h = shoff + 64 * i;
      let name = '';
      for (let p = strOff + v.getUint32(h, true); b[p] !== 0; p++) name += String.fromCharCode(b[p]!);
      if (name === '.BTF') {
        this.btf = {
          start: Number(v.getBigUint64(h + 24, true)),
          size: Number(v.getBigUint64(h + 32, true)),
        };
      }
    }
  }
}
