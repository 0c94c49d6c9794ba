// `ebpf gen types`: the generated TypeScript compiles (tsc) and admits exactly the values the
// runtime codecs decode — real decoded values type-check, values of another kind do not — and the
// shapes it is printed from agree with what codecs and loaded BpfMap handles really produce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { generateTypes, objectShapes, pascalCase, shapeOf, type Shape } from '../src/gen/index.js';
import { loadObjectSpec, type ObjectSpec } from '../src/object/index.js';
import { codecFor } from '../src/btf/codec.js';
import { EbpfError } from '../src/errors.js';
import { loadObject } from '../src/loader/index.js';
import { allObjects, cli, needRoot, objectsIn, ROOT, TESTDATA, XDP_TOOLS_DIR } from './helpers.js';

// ---- checking a JS value against a shape ----

const TYPED: Record<string, new (n: number) => ArrayBufferView> = {
  Int8Array,
  Uint8Array,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  BigInt64Array,
  BigUint64Array,
  Float32Array,
  Float64Array,
};

/** Where `x` does not fit `s`, or undefined when it does. Objects must have exactly the fields. */
function mismatch(x: unknown, s: Shape, path = '$'): string | undefined {
  const bad = (what: string): string => `${path}: expected ${what}, got ${describe(x)}`;
  switch (s.kind) {
    case 'number':
    case 'bigint':
    case 'boolean':
      return typeof x === s.kind ? undefined : bad(s.kind);
    case 'string':
      return typeof x === 'string' ? undefined : bad('string');
    case 'typed': {
      const ctor = TYPED[s.array]!;
      if (!(x instanceof ctor)) return bad(s.array);
      return (x as unknown as { length: number }).length === s.length
        ? undefined
        : bad(`${s.length} elements`);
    }
    case 'array':
    case 'perCpu': {
      if (!Array.isArray(x)) return bad('an array');
      if (s.kind === 'array' && x.length !== s.length) return bad(`${s.length} elements`);
      const el = s.kind === 'array' ? s.element : s.value;
      for (let i = 0; i < x.length; i++) {
        const m = mismatch(x[i], el, `${path}[${i}]`);
        if (m !== undefined) return m;
      }
      return undefined;
    }
    case 'enum':
      if (typeof x === 'string') return s.names.includes(x) ? undefined : bad(`one of ${s.names.join(', ')}`);
      return typeof x === (s.bigint ? 'bigint' : 'number') ? undefined : bad(s.bigint ? 'bigint' : 'number');
    case 'object': {
      if (typeof x !== 'object' || x === null || Array.isArray(x) || ArrayBuffer.isView(x))
        return bad('an object');
      const rec = x as Record<string, unknown>;
      const want = s.fields.map((f) => f.name).sort();
      const have = Object.keys(rec).sort();
      if (want.join() !== have.join())
        return `${path}: fields ${have.join(',')} instead of ${want.join(',')}`;
      for (const f of s.fields) {
        const m = mismatch(rec[f.name], f.shape, `${path}.${f.name}`);
        if (m !== undefined) return m;
      }
      return undefined;
    }
    case 'unknown':
      return undefined;
  }
}

function describe(x: unknown): string {
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  if (Array.isArray(x)) return `array(${x.length})`;
  return typeof x;
}

test('the shape checker rejects values of another kind (so the checks below can fail)', () => {
  assert.equal(mismatch(1, { kind: 'number' }), undefined);
  assert.ok(mismatch(1n, { kind: 'number' }));
  assert.ok(mismatch(1, { kind: 'bigint' }));
  assert.ok(mismatch(new Int8Array(2), { kind: 'typed', array: 'Uint8Array', length: 2 }));
  assert.ok(mismatch('X', { kind: 'enum', typeId: 1, name: 'e', names: ['A'], bigint: false }));
  assert.ok(mismatch(1n, { kind: 'enum', typeId: 1, name: 'e', names: ['A'], bigint: false }));
  const obj: Shape = {
    kind: 'object',
    typeId: 1,
    name: 's',
    what: 'struct',
    fields: [{ name: 'a', shape: { kind: 'number' } }],
  };
  assert.ok(mismatch({ a: 1, b: 2 }, obj));
  assert.ok(mismatch({}, obj));
  assert.equal(mismatch({ a: 1 }, obj), undefined);
});

// ---- decoding real bytes ----

/** Bytes to decode: random, zero (enumerators valued 0 decode to names) and all ones. */
function samples(size: number): Uint8Array[] {
  return [randomBytes(size), new Uint8Array(size), new Uint8Array(size).fill(0xff)];
}

interface Witness {
  /** A TS type expression in the generated module's names. */
  type: string;
  value: unknown;
  shape: Shape;
  where: string;
}

const q = (s: string): string => JSON.stringify(s);

/**
 * Values the runtime decodes for `spec`, with the generated type each must have: global variables
 * read through the spec's own Globals views over random section bytes, and map keys and values
 * decoded by the codec of their BTF type (the handles' choice of codec is checked as root below).
 */
function witnesses(spec: ObjectSpec, prefix: string): Witness[] {
  const shapes = objectShapes(spec);
  const out: Witness[] = [];
  for (const sec of shapes.sections) {
    const map = spec.maps.find((m) => m.name === sec.map)!;
    for (const bytes of samples(map.valueSize)) {
      if (map.contents !== undefined) map.contents.set(bytes.subarray(0, map.contents.length));
      const view = spec.globals(sec.section);
      for (const v of sec.variables) {
        out.push({
          type: `${prefix}Sections[${q(sec.section)}][${q(v.name)}]`,
          value: (view as Record<string, unknown>)[v.name],
          shape: v.shape,
          where: `${spec.name} ${sec.section} ${v.name}`,
        });
      }
    }
  }
  for (const m of shapes.maps) {
    const ms = spec.maps.find((x) => x.name === m.name)!;
    for (const [part, shape, id, size] of [
      ['key', m.key, ms.keyTypeId, ms.keySize],
      ['value', m.value, ms.valueTypeId, ms.valueSize],
    ] as const) {
      // Raw bytes and descriptor ids are not BTF-typed: the root test checks those handles.
      const typed = shape.kind === 'perCpu' ? shape.value : shape;
      if (spec.btf === undefined || id === 0 || typed.kind === 'unknown') continue;
      // Where the map's kind overrides its BTF type (no BTF for the map, ids for values, a size
      // that differs), the value is not the codec's: the root test checks those handles.
      if (!isDeepStrictEqual(shapeOf(spec.btf, id), { shape: typed, size })) continue;
      const codec = codecFor(spec.btf, id, part);
      for (const bytes of samples(codec.size)) {
        out.push({
          type: `${prefix}MapTypes[${q(m.name)}][${q(part)}]${shape.kind === 'perCpu' ? '[number]' : ''}`,
          value: codec.decode(bytes),
          shape: typed,
          where: `${spec.name} map ${m.name} ${part}`,
        });
      }
    }
  }
  return out;
}

/** The value as a TypeScript expression on one line (so @ts-expect-error covers all of it). */
function literal(x: unknown): string {
  if (typeof x === 'bigint') return `${x}n`;
  if (typeof x === 'number') return Object.is(x, -0) ? '-0' : String(x);
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x === 'boolean') return String(x);
  if (ArrayBuffer.isView(x)) {
    const name = x.constructor.name;
    const arr = Array.from(x as unknown as ArrayLike<number | bigint>);
    if (arr.length > 32) return `new ${name}(${arr.length})`;
    return `new ${name}([${arr.map(literal).join(', ')}])`;
  }
  if (Array.isArray(x)) return `[${x.map(literal).join(', ')}]`;
  const rec = x as Record<string, unknown>;
  return `{ ${Object.entries(rec)
    .map(([k, v]) => `${JSON.stringify(k)}: ${literal(v)}`)
    .join(', ')} }`;
}

/** A value of another kind than `x`, as TS text: what the generated type must refuse. */
function wrongKind(x: unknown): string {
  if (typeof x === 'number') return '1n';
  if (typeof x === 'bigint') return '1';
  if (typeof x === 'string' || typeof x === 'boolean') return typeof x === 'string' ? 'true' : '1';
  if (x instanceof Int8Array) return 'new Uint8Array(1)';
  if (ArrayBuffer.isView(x)) return 'new Int8Array(1)';
  return '"x"';
}

/** `x` with its leaf at `path` replaced by text of another kind; variants for up to `max` leaves. */
function mutations(x: unknown, max: number): string[] {
  const out: string[] = [];
  const walk = (v: unknown, replace: (text: string) => string): void => {
    if (out.length >= max) return;
    if (Array.isArray(v) && v.length > 0) {
      walk(v[0], (t) => replace(`[${[t, ...v.slice(1).map(literal)].join(', ')}]`));
      return;
    }
    if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !Array.isArray(v)) {
      const entries = Object.entries(v as Record<string, unknown>);
      entries.forEach(([k], i) =>
        walk(entries[i]![1], (t) =>
          replace(
            `{ ${entries.map(([k2, v2]) => `${JSON.stringify(k2)}: ${k2 === k ? t : literal(v2)}`).join(', ')} }`,
          ),
        ),
      );
      // An extra member is refused too (no index signature).
      if (out.length < max)
        out.push(
          replace(
            `{ ${[...entries.map(([k2, v2]) => `${JSON.stringify(k2)}: ${literal(v2)}`), '"zz_extra": 1'].join(', ')} }`,
          ),
        );
      return;
    }
    out.push(replace(wrongKind(v)));
  };
  walk(x, (t) => t);
  return out;
}

// ---- the generated module ----

/** The objects whose spec can be read (calls_entry, for one, is refused as libbpf refuses it). */
function readable(files: string[]): { file: string; spec: ObjectSpec }[] {
  const out: { file: string; spec: ObjectSpec }[] = [];
  for (const file of files) {
    try {
      out.push({ file, spec: loadObjectSpec(file) });
    } catch (e) {
      if (!(e instanceof EbpfError)) throw e;
    }
  }
  return out;
}

test('every object gives a module; -el and -eb objects give the same one', () => {
  const objs = readable(allObjects());
  assert.ok(objs.length > 20);
  for (const { spec } of objs) {
    const text = generateTypes(spec, { name: 'T', source: 'x.o' });
    assert.match(text, /export type TObject = LoadedObject<TTypes>;/);
  }
  for (const { file: el } of objs.filter((o) => o.file.endsWith('-el.o'))) {
    const eb = el.replace(/-el\.o$/, '-eb.o');
    // Read under one name: map names start with the object's (calls_el.bss).
    const body = (f: string): string =>
      generateTypes(loadObjectSpec(f, { name: 'x' }), { name: 'T', source: 'x.o' });
    assert.equal(body(eb), body(el), basename(el));
  }
});

test('decoded values fit their shapes (globals views and BTF codecs over random, zero and 0xff bytes)', () => {
  let checked = 0;
  for (const { spec } of readable(allObjects())) {
    for (const w of witnesses(spec, 'T')) {
      assert.equal(mismatch(w.value, w.shape), undefined, w.where);
      checked++;
    }
  }
  assert.ok(checked > 300, `only ${checked} values checked`);
});

test('shapes of testdata types: what the codec rules give, field by field', () => {
  const types = objectShapes(loadObjectSpec(join(TESTDATA, 'types-el.o')));
  const v = types.maps.find((m) => m.name === 'measures_map')!.value;
  assert.equal(v.kind, 'object');
  const fields = Object.fromEntries((v.kind === 'object' ? v.fields : []).map((f) => [f.name, f.shape]));
  assert.deepEqual(Object.keys(fields), [
    ...['ratio', 'mean', 'n', 'color', 'big', 'num', 'bits', 'grid', 'point', 'anon_kind'],
    ...['raw', 'lo', 'hi'],
  ]);
  assert.equal(fields.ratio?.kind, 'number');
  assert.equal(fields.big?.kind === 'enum' && fields.big.bigint, true);
  const bits = fields.bits;
  assert.ok(bits?.kind === 'object');
  assert.deepEqual(
    bits.fields.map((f) => `${f.name}:${f.shape.kind}`),
    ['a:number', 'b:number', 'c:number', 'wide:bigint', 'flag:number', 'tail:number'],
  );
  const globals = objectShapes(loadObjectSpec(join(TESTDATA, 'globals-el.o')));
  const bss = globals.sections.find((s) => s.section === '.bss')!;
  assert.deepEqual(
    bss.variables.map((x) => `${x.name}:${x.shape.kind === 'typed' ? x.shape.array : x.shape.kind}`),
    ['bss_total:bigint', 'bss_hits:number', 'bss_bytes:Uint8Array', 'message:string'],
  );
  // static_data is static: the Globals view hides it, so the type has no such member.
  const data = globals.sections.find((s) => s.section === '.data')!;
  assert.ok(!data.variables.some((x) => x.name === 'static_data'));
});

const USAGE = `
import type { FlowObject, FlowKey } from './flow.js';
import type { GlobalsObject, GlobalsSpec } from './globals.js';
import type { TypesObject, Color } from './types.js';
declare const flow: FlowObject;
declare const globals: GlobalsObject;
declare const spec: GlobalsSpec;
declare const types: TypesObject;

const key: FlowKey = { saddr: 1, daddr: 2 };
export const packets: bigint | undefined = flow.map('flow_map').lookup({ saddr: 1, daddr: 2 })?.packets;
flow.map('flow_map').update(key, { packets: 1n, bytes: 2n });
for (const [k, v] of flow.map('flow_map').entries()) {
  const s: number = k.saddr;
  const b: bigint = v.bytes;
  void s, b;
}
// @ts-expect-error packets is a bigint
export const wrong: number | undefined = flow.map('flow_map').lookup(key)?.packets;
// @ts-expect-error no such map
flow.map('no_such_map');
// @ts-expect-error no such program
flow.program('nope');
flow.program('count_flows').close();
// @ts-expect-error flow has no .rodata
void flow.rodata.anything;

spec.rodata.config_pid = 1234;
// @ts-expect-error config_limit is a u64
spec.rodata.config_limit = 5;
export const total: bigint = globals.bss.bss_total;
export const msg: string = globals.bss.message;
export const arr: Uint32Array = globals.data.data_array;
export const custom: bigint = globals.globals('.data.custom').custom_data;
// @ts-expect-error static variables are not in the view
void globals.data.static_data;
// @ts-expect-error no such section
globals.globals('.data.none');

const m = types.map('measures_map').lookup(0);
if (m !== undefined) {
  const c: Color = m.color;
  const named: boolean = c === 'NEGATIVE';
  const wide: bigint = m.bits.wide;
  const y: number = m.point.y;
  const hi: number = m.hi;
  const grid: Uint16Array = m.grid[1]![2]!;
  const u: bigint = m.num.u;
  void named, wide, y, hi, grid, u;
  // @ts-expect-error PURPLE is no enumerator
  const p: Color = 'PURPLE';
  void p;
}
`;

test('the generated modules type-check with tsc, admit real decoded values and refuse other kinds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-gen-'));
  try {
    const files: string[] = [];
    let negatives = 0;
    const objs = readable([
      ...objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o')),
      ...objectsIn(XDP_TOOLS_DIR),
    ]);
    const seen = new Set<string>();
    for (const { file: f, spec } of objs) {
      // flow-el.o → module flow.ts with FlowObject...; xdp-tools names as they are.
      let mod = basename(f, '.o').replace(/-el$/, '');
      if (seen.has(mod)) mod = `${mod}_2`;
      seen.add(mod);
      const prefix = pascalCase(mod);
      writeFileSync(join(dir, `${mod}.ts`), generateTypes(spec, { name: prefix, source: basename(f) }));
      files.push(`${mod}.ts`);
      const lines = [`import type * as G from './${mod}.js';`];
      let i = 0;
      for (const w of witnesses(spec, 'G.' + prefix)) {
        lines.push(`export const w${i++}: ${w.type} = ${literal(w.value)};`);
        for (const bad of mutations(w.value, 4)) {
          lines.push(`// @ts-expect-error ${w.where}`, `export const w${i++}: ${w.type} = ${bad};`);
          negatives++;
        }
      }
      writeFileSync(join(dir, `${mod}.witness.ts`), lines.join('\n') + '\n');
      files.push(`${mod}.witness.ts`);
    }
    writeFileSync(join(dir, 'usage.ts'), USAGE);
    files.push('usage.ts');
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
          baseUrl: '.',
          paths: { ebpf: [join(ROOT, 'src/index.ts')] },
        },
        files,
      }),
    );
    assert.ok(negatives > 200, `only ${negatives} wrong-kind values`);
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    });
    assert.equal(r.status, 0, `tsc failed:\n${(r.stdout + r.stderr).split('\n').slice(0, 40).join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ebpf gen types writes the module with -o and the shapes with --json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-gen-cli-'));
  try {
    const out = join(dir, 'flow.ts');
    const args = ['gen', 'types', join(TESTDATA, 'flow-el.o'), '-o', out, '--name', 'Flow'];
    const r = cli(args);
    assert.equal(r.status, 0, r.stderr);
    const spec = loadObjectSpec(join(TESTDATA, 'flow-el.o'));
    assert.equal(
      spawnSync('cat', [out], { encoding: 'utf8' }).stdout,
      generateTypes(spec, { name: 'Flow', source: 'flow-el.o', regenerate: ['ebpf', ...args].join(' ') }),
    );
    const j = cli(['gen', 'types', join(TESTDATA, 'flow-el.o'), '--json']);
    assert.equal(j.status, 0, j.stderr);
    assert.deepEqual(JSON.parse(j.stdout), JSON.parse(JSON.stringify(objectShapes(spec))));
    assert.equal(cli(['gen', 'types']).status, 2);
    const bad = cli(['gen', 'types', join(TESTDATA, 'flow-el.o'), '--name', '1x']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /not a TypeScript identifier/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- loaded objects: what BpfMap handles and Globals views really give ----

const LOADABLE = ['flow', 'maps', 'globals', 'types', 'events', 'core', 'calls'];

test('loaded maps and globals decode to the generated shapes (real handles, real kernel)', (t) => {
  if (!needRoot(t)) return;
  const pinRoot = mkdtempSync('/sys/fs/bpf/ebpf-gen-');
  try {
    let checked = 0;
    for (const name of LOADABLE) {
      const file = join(TESTDATA, `${name}-el.o`);
      const spec = loadObjectSpec(file);
      const shapes = objectShapes(spec);
      using obj = loadObject(spec, { pinRoot });
      for (const m of shapes.maps) {
        const h = obj.map(m.name);
        assert.equal(h.perCpu, m.value.kind === 'perCpu', `${name} ${m.name} per-CPU`);
        for (const bytes of samples(h.keySize)) {
          assert.equal(mismatch(h.keyCodec.decode(bytes), m.key), undefined, `${name} ${m.name} key`);
          checked++;
        }
        const one = m.value.kind === 'perCpu' ? m.value.value : m.value;
        for (const bytes of samples(h.valueSize)) {
          assert.equal(mismatch(h.valueCodec.decode(bytes), one), undefined, `${name} ${m.name} value`);
          checked++;
        }
      }
      for (const s of shapes.sections) {
        const view = obj.globals(s.section) as Record<string, unknown>;
        assert.deepEqual(
          Object.keys(view),
          s.variables.map((v) => v.name),
          `${name} ${s.section}`,
        );
        for (const v of s.variables) {
          assert.equal(mismatch(view[v.name], v.shape), undefined, `${name} ${s.section} ${v.name}`);
          checked++;
        }
      }
      obj.unpin();
    }
    // A real round trip through the kernel: update and lookup on flow_map and a per-CPU map.
    {
      using obj = loadObject(join(TESTDATA, 'flow-el.o'), { pinRoot });
      const shape = objectShapes(obj.spec).maps.find((m) => m.name === 'flow_map')!;
      const h = obj.map('flow_map');
      h.update({ saddr: 1, daddr: 2 }, { packets: 3n, bytes: 4n });
      const got = h.lookup({ saddr: 1, daddr: 2 });
      assert.equal(mismatch(got, shape.value), undefined);
      assert.deepEqual(
        [...h.entries()].map(([k]) => mismatch(k, shape.key)),
        [undefined],
      );
      obj.unpin();
    }
    assert.ok(checked > 100, `only ${checked} values checked`);
  } finally {
    rmSync(pinRoot, { recursive: true, force: true });
  }
});
