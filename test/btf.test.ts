// BTF parser, builder and formatters against bpftool: raw text and JSON for the kernel's BTF, every
// testdata and xdp-tools object; byte-identical marshalling; split BTF on vmlinux; sizes from DATASECs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BtfError, NotFoundError } from '../src/errors.js';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder } from '../src/btf/builder.js';
import { formatRaw, rawJson } from '../src/btf/format-raw.js';
import { formatTree } from '../src/btf/format-tree.js';
import { parseBtfFile } from '../src/btf/from-elf.js';
import { loadKernelBtf, loadModuleBtf } from '../src/btf/kernel.js';
import { parseElf } from '../src/elf/index.js';
import { essentialName } from '../src/core/names.js';
import { BTF_INT_SIGNED, BtfKind, type BtfKindName, type Struct } from '../src/btf/types.js';
import {
  allObjects,
  assertSameText,
  objectsIn,
  TESTDATA,
  VMLINUX,
  cli,
  needFile,
  needTool,
  run,
} from './helpers.js';

function read(path: string): Uint8Array {
  const b = readFileSync(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The raw .BTF bytes of a file: the file itself, or the ELF section. */
function btfBytes(path: string): Uint8Array {
  const bytes = read(path);
  if (bytes[0] !== 0x7f) return bytes;
  const sec = parseElf(bytes, path).section('.BTF');
  assert.ok(sec, `${path} has .BTF`);
  return sec.data();
}

const allFiles = (t: TestContext): string[] => [VMLINUX, ...allObjects(t)].filter(existsSync);

test('raw text equals `bpftool btf dump file` for vmlinux, testdata and xdp-tools objects', (t) => {
  if (!needTool(t, 'bpftool') || !needFile(t, VMLINUX)) return;
  const files = allFiles(t);
  assert.ok(files.length > 10, 'enough objects to compare');
  for (const f of files) {
    const btf = parseBtfFile(read(f), { file: f });
    assertSameText(formatRaw(btf), run('bpftool', ['btf', 'dump', 'file', f]), f);
  }
});

/** bpftool 7.1 prints unsigned 32-bit enum values sign-extended to 64 bits and loses precision past 2^53. */
function comparableJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(comparableJson);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      o[k] = k === 'val' && (typeof x === 'string' || !Number.isSafeInteger(x)) ? 'big' : comparableJson(x);
    }
    return o;
  }
  return v;
}

test('JSON equals `bpftool -j btf dump file` (types, fields, values within 2^53)', (t) => {
  if (!needTool(t, 'bpftool')) return;
  for (const f of allObjects(t)) {
    const ours = JSON.parse(JSON.stringify(rawJson(parseBtfFile(read(f), { file: f }))));
    const theirs = JSON.parse(run('bpftool', ['-j', 'btf', 'dump', 'file', f]));
    assert.deepEqual(comparableJson(ours), comparableJson(theirs), f);
  }
});

test('marshal() gives back the exact bytes for vmlinux and every object', (t) => {
  if (!needFile(t, VMLINUX)) return;
  for (const f of allFiles(t)) {
    const bytes = btfBytes(f);
    const btf = Btf.parse(bytes, { file: f });
    const out = btf.marshal();
    assert.equal(out.length, bytes.length, f);
    assert.ok(Buffer.from(out).equals(Buffer.from(bytes)), `${f}: marshalled bytes differ`);
  }
});

test('header, byte order and counts agree with bpftool for both endians', (t) => {
  if (!needTool(t, 'bpftool')) return;
  const pairs = objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o'));
  assert.ok(pairs.length > 0, 'testdata has -el/-eb objects');
  for (const el of pairs) {
    const eb = el.replace(/-el\.o$/, '-eb.o');
    const a = parseBtfFile(read(el), { file: el });
    const b = parseBtfFile(read(eb), { file: eb });
    assert.equal(a.littleEndian, true);
    assert.equal(b.littleEndian, false);
    assert.equal(a.header.version, 1);
    const lines = run('bpftool', ['btf', 'dump', 'file', el])
      .split('\n')
      .filter((l) => l.startsWith('['));
    assert.equal(a.typeCount, lines.length, el);
    assert.equal(a.firstTypeId, 1);
    // The same source gives the same types whatever the byte order.
    assert.deepEqual([...a.types()], [...b.types()], `${el} vs ${eb}`);
  }
});

test('vmlinux: lookups, kinds, resolve, sizeof and alignof agree with DATASEC sizes', (t) => {
  if (!needFile(t, VMLINUX)) return;
  const btf = loadKernelBtf();
  assert.equal(loadKernelBtf(), btf, 'cached');
  const ts = btf.findByName('task_struct', 'STRUCT');
  assert.equal(ts.length, 1);
  assert.equal(btf.kindOf(ts[0]!.id), 'STRUCT');
  const pid = (ts[0] as Struct).members.find((m) => m.name === 'pid');
  assert.ok(pid, 'task_struct.pid');
  assert.equal(btf.sizeof(pid.type), 4); // pid_t
  const pidT = btf.type(pid.type);
  assert.equal(pidT.kind, 'TYPEDEF');
  const r = btf.resolve(pid.type);
  assert.equal(r.kind, 'INT');
  assert.ok(r.kind === 'INT' && r.encoding === BTF_INT_SIGNED);
  assert.deepEqual(
    btf.findByName('u32').map((x) => x.kind),
    ['TYPEDEF'],
  );
  const datasecs = btf.findByKind('DATASEC');
  assert.ok(datasecs.length >= 1);
  // The compiler wrote each variable's size into the DATASEC: sizeof must agree, offsets must be aligned.
  let checked = 0;
  for (const ds of datasecs) {
    for (const v of ds.vars) {
      assert.equal(btf.sizeof(v.type), v.size, `${ds.name} var [${v.type}]`);
      assert.equal(v.offset % btf.alignof(v.type), 0, `${ds.name} var [${v.type}] alignment`);
      checked++;
    }
  }
  assert.ok(checked > 100, `checked ${checked} variables`);
  assert.throws(() => btf.type(btf.endTypeId), BtfError);
  assert.throws(() => btf.type(-1), BtfError);
  assert.throws(() => loadModuleBtf('no_such_module_xyz'), NotFoundError);
});

test('sizeof matches DATASEC variable sizes in every object', (t) => {
  let checked = 0;
  for (const f of allObjects(t)) {
    const btf = parseBtfFile(read(f), { file: f });
    for (const ds of btf.findByKind('DATASEC')) {
      // A .maps variable may be larger than its type: initialised inner-map slots follow it.
      if (ds.name === '.maps') continue;
      // Extern ksyms have no storage in the object; a typeless one (`const void x __ksym`) is void.
      if (ds.name === '.ksyms') continue;
      for (const v of ds.vars) {
        if (btf.type(v.type).kind !== 'VAR') continue;
        assert.equal(btf.sizeof(v.type), v.size, `${f} ${ds.name}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 20, `checked ${checked} variables`);
});

test('split BTF on vmlinux: ids and strings continue the base; `bpftool -B vmlinux` agrees', (t) => {
  if (!needFile(t, VMLINUX) || !needTool(t, 'bpftool')) return;
  const base = loadKernelBtf();
  const int = base.findOne('int', 'INT').id;
  const task = base.findOne('task_struct', 'STRUCT').id;
  const b = new BtfBuilder({ base });
  assert.equal(b.nextTypeId, base.endTypeId);
  const ptr = b.add({ kind: 'PTR', name: '', type: task });
  const st = b.add({
    kind: 'STRUCT',
    name: 'my_module_state',
    size: 16,
    kindFlag: false,
    members: [
      { name: 'pid', type: int, bitsOffset: 0, bitfieldSize: 0 }, // 'pid' is already a vmlinux string
      { name: 'owner_task_xyz', type: ptr, bitsOffset: 64, bitfieldSize: 0 },
    ],
  });
  b.add({ kind: 'VAR', name: 'my_module_var_xyz', type: st, linkage: 1 });
  const bytes = b.build();
  const split = Btf.parse(bytes, { base, file: 'split' });
  assert.equal(split.firstTypeId, base.endTypeId);
  assert.equal(split.typeCount, 3);
  assert.equal(split.type(int).name, 'int', 'base ids resolve through the split BTF');
  const s = split.type(st);
  assert.ok(s.kind === 'STRUCT');
  assert.deepEqual(
    s.members.map((m) => m.name),
    ['pid', 'owner_task_xyz'],
  );
  assert.equal(split.findOne('my_module_state').id, st);
  assert.equal(split.findByName('task_struct')[0]!.id, task);
  // 'pid' was reused from the base; the new names are after the base's strings.
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const hdrLen = view.getUint32(4, true);
  const structNameOff = view.getUint32(hdrLen + 12, true);
  assert.ok(structNameOff >= base.strings.end);
  const pidNameOff = view.getUint32(hdrLen + 12 + 12, true);
  assert.ok(pidNameOff < base.strings.end);
  assert.equal(base.string(pidNameOff), 'pid');
  assert.equal(split.sizeof(st), 16);
  assert.ok(Buffer.from(split.marshal()).equals(Buffer.from(bytes)));

  const dir = mkdtempSync(join(tmpdir(), 'ebpf-btf-'));
  try {
    const path = join(dir, 'mod.btf');
    writeFileSync(path, bytes);
    assertSameText(formatRaw(split), run('bpftool', ['-B', VMLINUX, 'btf', 'dump', 'file', path]), 'split');
    const r = cli(['btf', 'dump', path, '--base', VMLINUX]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, formatRaw(split));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('builder: hand-made BTF with deduplicated strings, accepted by bpftool', (t) => {
  if (!needTool(t, 'bpftool')) return;
  for (const littleEndian of [true, false]) {
    const b = new BtfBuilder({ littleEndian });
    const int = b.add({
      kind: 'INT',
      name: 'int',
      size: 4,
      encoding: BTF_INT_SIGNED,
      bitsOffset: 0,
      bits: 32,
    });
    const arr = b.add({ kind: 'ARRAY', name: '', type: int, indexType: int, nelems: 3 });
    const e = b.add({
      kind: 'ENUM64',
      name: 'e',
      size: 8,
      signed: true,
      values: [
        { name: 'NEG', value: -5n },
        { name: 'BIG', value: 1n << 40n },
      ],
    });
    const s = b.add({
      kind: 'STRUCT',
      name: 'int', // same string as the INT's name: stored once
      size: 24,
      kindFlag: false,
      members: [
        { name: 'a', type: int, bitsOffset: 0, bitfieldSize: 3 },
        { name: 'arr', type: arr, bitsOffset: 32, bitfieldSize: 0 },
        { name: 'e', type: e, bitsOffset: 128, bitfieldSize: 0 },
      ],
    });
    const proto = b.add({ kind: 'FUNC_PROTO', name: '', returnType: int, params: [{ name: 'a', type: s }] });
    b.add({ kind: 'FUNC', name: 'f', type: proto, linkage: 1 });
    b.add({ kind: 'DECL_TAG', name: 'tag', type: s, componentIdx: 1 });
    b.add({ kind: 'FWD', name: 'u', union: true });
    b.add({ kind: 'FLOAT', name: 'double', size: 8 });
    const bytes = b.build();
    const btf = Btf.parse(bytes);
    assert.equal(btf.littleEndian, littleEndian);
    const strs = new TextDecoder().decode(btf.strings.bytes).split('\0');
    assert.equal(strs.filter((x) => x === 'int').length, 1, 'int stored once');
    assert.equal(strs.filter((x) => x === 'a').length, 1, 'a stored once');
    const st = btf.type(s);
    assert.ok(st.kind === 'STRUCT' && st.kindFlag, 'kind_flag set for a bitfield');
    const en = btf.type(e);
    assert.ok(en.kind === 'ENUM64');
    assert.deepEqual(
      en.values.map((v) => v.value),
      [-5n, 1n << 40n],
    );
    assert.equal(btf.sizeof(arr), 12);
    assert.equal(btf.alignof(s), 8);
    const dir = mkdtempSync(join(tmpdir(), 'ebpf-btf-'));
    try {
      const path = join(dir, 'hand.btf');
      writeFileSync(path, bytes);
      assertSameText(formatRaw(btf), run('bpftool', ['btf', 'dump', 'file', path]), 'hand-built');
    } finally {
      rmSync(dir, { recursive: true });
    }
  }
});

test('malformed BTF is a BtfError naming type id and offset', () => {
  const b = new BtfBuilder();
  b.add({ kind: 'INT', name: 'int', size: 4, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: 32 });
  b.add({ kind: 'PTR', name: '', type: 7 });
  const good = b.build();
  assert.throws(() => Btf.parse(good.subarray(0, 10)), BtfError);
  const badMagic = good.slice();
  badMagic[0] = 0;
  assert.throws(() => Btf.parse(badMagic), /bad magic/);
  const unknownKind = good.slice();
  // Type 2's info word: kind 31 does not exist.
  new DataView(unknownKind.buffer).setUint32(24 + 16 + 4, 31 << 24, true);
  assert.throws(
    () => Btf.parse(unknownKind),
    (e: unknown) =>
      e instanceof BtfError &&
      e.location.typeId === 2 &&
      e.location.offset === 40 &&
      /unknown kind 31/.test(e.message),
  );
  const btf = Btf.parse(good);
  const p = btf.type(2);
  assert.ok(p.kind === 'PTR');
  assert.throws(
    () => btf.type(p.type),
    (e: unknown) => e instanceof BtfError && e.location.typeId === 7,
  );
  const badName = good.slice();
  new DataView(badName.buffer).setUint32(24, 999, true);
  assert.throws(
    () => Btf.parse(badName).type(1),
    (e: unknown) => e instanceof BtfError && e.location.typeId === 1,
  );
  const truncated = good.slice();
  new DataView(truncated.buffer).setUint32(12, 20, true); // type_len cuts the PTR short
  assert.throws(() => Btf.parse(truncated), BtfError);
});

test('tree: every entry point is a root, every composite type expanded once', () => {
  const f = join(TESTDATA, 'flow-el.o');
  const btf = parseBtfFile(read(f), { file: f });
  const out = formatTree(btf);
  const roots = out.split('\n').filter((l) => l.startsWith('['));
  const want = [...btf.findByKind('DATASEC'), ...btf.findByKind('FUNC')].map((x) => `[${x.id}] ${x.kind}`);
  assert.deepEqual(
    roots.map((l) => l.split(' ').slice(0, 2).join(' ')),
    want,
  );
  const expanded = new Map<string, number>();
  for (const l of out.split('\n')) {
    if (l.endsWith('^ see above')) continue;
    for (const m of l.matchAll(/\[(\d+)\] (STRUCT|UNION|ENUM|FUNC_PROTO|DATASEC)/g)) {
      expanded.set(m[1]!, (expanded.get(m[1]!) ?? 0) + 1);
    }
  }
  for (const [id, n] of expanded) assert.equal(n, 1, `[${id}] expanded ${n} times`);
  // The map's key struct appears under the map variable.
  const key = btf.findOne('flow_key');
  assert.match(out, new RegExp(`key \\+16: \\[\\d+\\] PTR \\(anon\\) -> \\[${key.id}\\] STRUCT 'flow_key'`));
  // __uint(max_entries, 1024) is spelled int (*max_entries)[1024]: the tree shows the number.
  assert.match(out, /max_entries \+8 = 1024: \[\d+\] PTR/);
  const one = formatTree(btf, { type: 'flow_key' });
  assert.match(one, /^\[\d+\] STRUCT 'flow_key' size=8\n├── saddr \+0: /);
});

test('cli: btf dump raw, json, tree and c', (t) => {
  if (!needTool(t, 'bpftool')) return;
  const f = join(TESTDATA, 'maps-eb.o');
  const raw = cli(['btf', 'dump', f]);
  assert.equal(raw.status, 0, raw.stderr);
  assert.equal(raw.stdout, run('bpftool', ['btf', 'dump', 'file', f]));
  const json = cli(['btf', 'dump', f, '--json']);
  assert.equal(json.status, 0, json.stderr);
  assert.deepEqual(
    comparableJson(JSON.parse(json.stdout)),
    comparableJson(JSON.parse(run('bpftool', ['-j', 'btf', 'dump', 'file', f]))),
  );
  const tree = cli(['btf', 'dump', f, '--format', 'tree']);
  assert.equal(tree.status, 0, tree.stderr);
  assert.match(tree.stdout, /DATASEC '\.maps'/);
  const c = cli(['btf', 'dump', f, '--format', 'c']);
  assert.equal(c.status, 0, c.stderr);
  assert.equal(c.stdout, run('bpftool', ['btf', 'dump', 'file', f, 'format', 'c']));
  const missing = cli(['btf', 'dump', f, '--type', 'no_such_type_xyz']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no_such_type_xyz/);
  const shallow = cli(['btf', 'dump', f, '--format', 'tree', '--depth', '0']);
  assert.equal(shallow.status, 0, shallow.stderr);
  assert.ok(shallow.stdout.length < tree.stdout.length, '--depth 0 draws less than the default');
  const badDepth = cli(['btf', 'dump', f, '--format', 'tree', '--depth', 'abc']);
  assert.equal(badDepth.status, 2, 'a malformed value is a usage error');
  assert.equal(
    badDepth.stderr,
    "ebpf: --depth wants a whole number >= 0, not 'abc'\n(see 'ebpf btf --help')\n",
  );
});

test('searches by name and essential name: record scans and the name index agree with a walk of every type', () => {
  // Names that share hash prefixes, flavours (`___`), long names, non-ASCII, and split BTF whose
  // types reuse the base's strings.
  const names = [
    'a',
    'a___v1',
    'a___v1___v2',
    'ab',
    'a_b',
    'a__',
    '___x',
    'task_struct',
    'task_struct___old',
    'a_very_long_name_beyond_the_hashed_bytes',
    'a_very_long_name_beyond_the_hashed_bytes___2',
    'a_very_long_name_beyond_the_hashed_other',
    'naïve',
  ];
  const b = new BtfBuilder();
  const int = b.add({ kind: 'INT', name: 'int', size: 4, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: 32 });
  for (const name of names) {
    b.add({ kind: 'STRUCT', name, size: 4, kindFlag: false, members: [] });
    b.add({ kind: 'TYPEDEF', name, type: int });
    b.add({ kind: 'ENUM', name, size: 4, signed: false, values: [] });
  }
  const base = Btf.parse(b.build());
  const sb = new BtfBuilder({ base });
  for (const name of [...names, 'only_split'])
    sb.add({ kind: 'UNION', name, size: 4, kindFlag: false, members: [] });
  const split = Btf.parse(sb.build(), { base });
  const essential = essentialName;
  const queries = [...names, 'only_split', 'missing', 'a_very_long_name_beyond_the_hashed_bytes_not', ''];
  const kindSets = [-1, 1 << BtfKind.STRUCT, (1 << BtfKind.ENUM) | (1 << BtfKind.UNION)];
  const expectIn =
    (btf: Btf) =>
    (q: string, kinds: number): number[] =>
      q === ''
        ? []
        : [...btf.types()]
            .filter(
              (t) =>
                (t.name === q || essential(t.name) === q) &&
                ((1 << BtfKind[t.kind as BtfKindName]) & kinds) !== 0,
            )
            .map((t) => t.id - btf.firstTypeId);
  // Every query at once on a fresh BTF: the one-pass scan, then (past the scans) the index.
  const freshBase = Btf.parse(b.build());
  const fresh = [freshBase, Btf.parse(sb.build(), { base: freshBase })];
  for (const btf of fresh) {
    const expect = expectIn(btf);
    const searches = queries.flatMap((q) =>
      kindSets.map((kinds) => ({
        essential: q,
        kinds,
        flavoured: (i: number) => essential(btf.type(btf.firstTypeId + i).name) === q,
      })),
    );
    for (let round = 0; round < 8; round++) {
      const got = btf.indexesByEssentialNames(searches);
      assert.deepEqual(
        got,
        searches.map((s) => expect(s.essential, s.kinds)),
        `one pass, round ${round}`,
      );
    }
  }
  for (const btf of [base, split]) {
    const own = [...btf.types()];
    const expect = expectIn(btf);
    // Run the queries until past the scans, so the later rounds go through the index.
    for (let round = 0; round < 3; round++) {
      for (const q of queries) {
        for (const kinds of kindSets) {
          const got = btf.indexesByEssentialName(
            q,
            kinds,
            (i) => essential(btf.type(btf.firstTypeId + i).name) === q,
          );
          assert.deepEqual(got, expect(q, kinds), `${q} kinds ${kinds} round ${round}`);
        }
        const all = [...(btf.base?.types() ?? []), ...own];
        assert.deepEqual(
          btf.findByName(q).map((t) => t.id),
          all.filter((t) => t.name === q).map((t) => t.id),
          q,
        );
        assert.deepEqual(
          btf.findByName(q, 'TYPEDEF').map((t) => t.id),
          all.filter((t) => t.name === q && t.kind === 'TYPEDEF').map((t) => t.id),
          q,
        );
      }
    }
  }
});
