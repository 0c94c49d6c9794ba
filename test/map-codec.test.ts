// BTF codecs: against clang's own layout (a C initializer compiled for bpfel and bpfeb, read back
// from .data), against testdata objects' BTF, and hand-built types for the error paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf } from '../src/btf/btf.js';
import { codecFor, compileCodec, rawCodec, CodecError, type TypeSource } from '../src/btf/codec.js';
import type { Member, Type, Void } from '../src/btf/types.js';
import { BTF_INT_SIGNED, BTF_INT_CHAR, VOID } from '../src/btf/types.js';
import { TESTDATA, needTool, run } from './helpers.js';

const SOURCE = `
typedef unsigned int u32;
enum color { RED = 0, GREEN = 1, BLUE = 2, NEGATIVE = -3 };
enum big { SMALL = 1, HUGE = 0x1234567890ULL, TOP = 0xffffffffffffffffULL };
struct bits { unsigned int a : 3; unsigned int b : 5; int c : 7; unsigned long long wide : 40;
  unsigned char flag : 1; unsigned short tail; } __attribute__((packed));
struct bits2 { unsigned short x : 4; enum color col : 4; long long neg : 33; };
union number { unsigned long long u; long long s; double d; unsigned char bytes[8]; };
struct all {
  char name[12];
  unsigned char mac[6];
  short temps[3];
  _Bool ok;
  float ratio;
  double mean;
  enum color color;
  enum big big;
  union number num;
  struct bits bits;
  struct bits2 bits2;
  unsigned short grid[2][3];
  struct { u32 x; union { u32 y; float fy; }; } point;
  union { unsigned char raw[4]; struct { unsigned short lo, hi; }; };
  void *ptr;
  __int128 wide128;
  unsigned __int128 uwide128;
  signed char sc;
  long long neg64;
};
struct all g1 = { .name = "hello", .mac = {1,2,3,4,5,6}, .temps = {-1, 300, -32768}, .ok = 1,
  .ratio = 0.5f, .mean = -2.25, .color = NEGATIVE, .big = HUGE, .num = { .u = 0x0102030405060708ULL },
  .bits = { .a = 5, .b = 17, .c = -2, .wide = 0x123456789ULL, .flag = 1, .tail = 0xbeef },
  .bits2 = { .x = 9, .col = BLUE, .neg = -4294967296LL }, .grid = {{1,2,3},{4,5,6}},
  .point = { .x = 7, .y = 8 }, .lo = 0x1122, .hi = 0x3344, .ptr = (void*)0,
  .wide128 = -((__int128)1 << 100),
  .uwide128 = ((unsigned __int128)0xfedcba9876543210ULL << 64) | 0x0123456789abcdefULL,
  .sc = -5, .neg64 = -9000000000000LL };
`;

/** Compile SOURCE for one endianness; return its BTF and .data bytes. */
function compile(dir: string, e: 'el' | 'eb'): { btf: Btf; data: Uint8Array } {
  const c = join(dir, 'g.c');
  writeFileSync(c, SOURCE);
  const o = join(dir, `g-${e}.o`);
  run('clang-19', [`--target=bpf${e}`, '-g', '-O2', '-c', c, '-o', o]);
  const btfPath = join(dir, `${e}.btf`);
  const dataPath = join(dir, `${e}.data`);
  run('llvm-objcopy-19', [
    `--dump-section=.BTF=${btfPath}`,
    `--dump-section=.data=${dataPath}`,
    o,
    join(dir, 'junk'),
  ]);
  return {
    btf: Btf.parse(new Uint8Array(readFileSync(btfPath))),
    data: new Uint8Array(readFileSync(dataPath)),
  };
}

function findStruct(btf: Btf, name: string): number {
  for (const t of btf.types()) if (t.kind === 'STRUCT' && t.name === name) return t.id;
  throw new Error(`no struct ${name}`);
}

const hostLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

for (const e of ['el', 'eb'] as const) {
  test(`codec decodes and encodes clang's layout of every kind (bpf${e})`, (t) => {
    if (!needTool(t, 'clang-19') || !needTool(t, 'llvm-objcopy-19')) return;
    const dir = mkdtempSync(join(tmpdir(), 'codec-'));
    try {
      const { btf, data } = compile(dir, e);
      assert.equal(btf.littleEndian, e === 'el');
      const codec = codecFor(btf, findStruct(btf, 'all'));
      assert.equal(codec.size, data.length);
      const v = codec.decode(data) as Record<string, any>;
      assert.equal(v.name, 'hello');
      assert.deepEqual(v.mac, new Uint8Array([1, 2, 3, 4, 5, 6]));
      assert.deepEqual(v.temps, new Int16Array([-1, 300, -32768]));
      assert.equal(v.ok, true);
      assert.equal(v.ratio, 0.5);
      assert.equal(v.mean, -2.25);
      assert.equal(v.color, 'NEGATIVE');
      assert.equal(v.big, 'HUGE');
      assert.equal(v.num.u, 0x0102030405060708n);
      assert.equal(v.num.s, 0x0102030405060708n);
      assert.deepEqual(
        v.num.bytes,
        new Uint8Array(e === 'el' ? [8, 7, 6, 5, 4, 3, 2, 1] : [1, 2, 3, 4, 5, 6, 7, 8]),
      );
      assert.deepEqual(v.bits, { a: 5, b: 17, c: -2, wide: 0x123456789n, flag: 1, tail: 0xbeef });
      assert.deepEqual(v.bits2, { x: 9, col: 'BLUE', neg: -4294967296n });
      assert.deepEqual(v.grid, [new Uint16Array([1, 2, 3]), new Uint16Array([4, 5, 6])]);
      assert.equal(v.point.x, 7);
      assert.equal(v.point.y, 8);
      assert.equal(v.lo, 0x1122);
      assert.equal(v.hi, 0x3344);
      assert.deepEqual(
        v.raw,
        new Uint8Array(e === 'el' ? [0x22, 0x11, 0x44, 0x33] : [0x11, 0x22, 0x33, 0x44]),
      );
      assert.equal(v.ptr, 0n);
      assert.equal(v.wide128, -(1n << 100n));
      assert.equal(v.uwide128, (0xfedcba9876543210n << 64n) | 0x0123456789abcdefn);
      assert.equal(v.sc, -5);
      assert.equal(v.neg64, -9000000000000n);

      // Encoding the decoded value reproduces clang's bytes (padding included, which clang zeroes).
      assert.deepEqual(codec.encode(v), data);
      // Into a caller's buffer at an offset, leaving the rest alone.
      const out = new Uint8Array(data.length + 8).fill(0xaa);
      codec.encode(v, out, 4);
      assert.deepEqual(out.subarray(4, 4 + data.length), data);
      assert.equal(out[0], 0xaa);
      assert.equal(out[data.length + 4], 0xaa);

      // A value written from scratch (union by one member, enum by number) gives the same bytes.
      const fresh = {
        ...v,
        num: { u: 0x0102030405060708n },
        color: -3,
        point: { x: 7, fy: new DataView(new Uint32Array([8]).buffer).getFloat32(0, hostLE) },
      };
      delete (fresh as Record<string, unknown>).raw;
      assert.deepEqual(codec.encode(fresh), data);

      // The whole .data section through its DATASEC.
      let secId = 0;
      for (const ty of btf.types()) if (ty.kind === 'DATASEC' && ty.name === '.data') secId = ty.id;
      const sec = codecFor(btf, secId).decode(data) as Record<string, any>;
      assert.equal(sec.g1.name, 'hello');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

for (const e of ['el', 'eb'] as const) {
  test(`codec on testdata flow-${e}.o and types-${e}.o BTF`, (t) => {
    if (!needTool(t, 'llvm-objcopy-19')) return;
    const dir = mkdtempSync(join(tmpdir(), 'codec-'));
    try {
      const load = (name: string): Btf => {
        const out = join(dir, `${name}.btf`);
        run('llvm-objcopy-19', [
          `--dump-section=.BTF=${out}`,
          join(TESTDATA, `${name}-${e}.o`),
          join(dir, 'junk'),
        ]);
        return Btf.parse(new Uint8Array(readFileSync(out)));
      };
      const flow = load('flow');
      const key = codecFor(flow, findStruct(flow, 'flow_key'), 'key');
      const val = codecFor(flow, findStruct(flow, 'flow_stats'));
      assert.equal(key.size, 8);
      const kb = key.encode({ saddr: 0x0a000001, daddr: 0xc0a80101 });
      const dv = new DataView(kb.buffer);
      assert.equal(dv.getUint32(0, e === 'el'), 0x0a000001);
      assert.equal(dv.getUint32(4, e === 'el'), 0xc0a80101);
      assert.deepEqual(key.decode(kb), { saddr: 0x0a000001, daddr: 0xc0a80101 });
      assert.deepEqual(val.decode(val.encode({ packets: 3n, bytes: 1n << 40n })), {
        packets: 3n,
        bytes: 1n << 40n,
      });
      assert.throws(() => key.encode({ saddr: 1 }), /key: missing field 'daddr'/);

      const types = load('types');
      const m = codecFor(types, findStruct(types, 'measures'));
      const zero = m.decode(new Uint8Array(m.size)) as Record<string, any>;
      assert.equal(zero.color, 'RED');
      assert.equal(zero.anon_kind, 0);
      assert.equal(zero.big, 0n);
      const set = {
        ...zero,
        color: 'NEGATIVE',
        big: 'TOP',
        anon_kind: 'ANON_B',
        bits: { ...zero.bits, c: -2, wide: 0x123456789n },
      };
      const back = m.decode(m.encode(set)) as Record<string, any>;
      assert.equal(back.color, 'NEGATIVE');
      assert.equal(back.big, 'TOP');
      assert.equal(back.anon_kind, 'ANON_B');
      assert.equal(back.bits.c, -2);
      assert.equal(back.bits.wide, 0x123456789n);
      assert.throws(
        () => m.encode({ ...zero, color: 'PURPLE' }),
        (err: unknown) => err instanceof CodecError && err.path === 'value.color',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** A hand-built type table. */
function source(types: Type[], littleEndian = true): TypeSource {
  return {
    littleEndian,
    type(id: number): Type | Void {
      if (id === 0) return VOID;
      const ty = types[id - 1];
      if (!ty) throw new CodecError(`no type ${id}`, '');
      return ty;
    },
  };
}

test('codec errors name the field path and the reason', () => {
  const src = source([
    { kind: 'INT', id: 1, name: 'unsigned char', size: 1, encoding: 0, bitsOffset: 0, bits: 8 },
    { kind: 'INT', id: 2, name: 'char', size: 1, encoding: BTF_INT_CHAR, bitsOffset: 0, bits: 8 },
    { kind: 'ARRAY', id: 3, name: '', type: 2, indexType: 5, nelems: 4 },
    { kind: 'ARRAY', id: 4, name: '', type: 1, indexType: 5, nelems: 3 },
    { kind: 'INT', id: 5, name: 'int', size: 4, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: 32 },
    {
      kind: 'STRUCT',
      id: 6,
      name: 's',
      size: 16,
      kindFlag: false,
      members: [
        { name: 'comm', type: 3, bitsOffset: 0, bitfieldSize: 0 },
        { name: 'bytes', type: 4, bitsOffset: 32, bitfieldSize: 0 },
        { name: 'n', type: 5, bitsOffset: 64, bitfieldSize: 0 },
      ],
    },
    { kind: 'FUNC_PROTO', id: 7, name: '', returnType: 0, params: [] },
  ]);
  const c = codecFor(src, 6);
  const ok = { comm: 'abcd', bytes: [1, 2, 3], n: -1 };
  assert.deepEqual(c.decode(c.encode(ok)), { ...ok, bytes: new Uint8Array([1, 2, 3]) });
  const bad = (v: unknown, path: string, re: RegExp): void => {
    assert.throws(
      () => c.encode(v),
      (err: unknown) => err instanceof CodecError && err.path === path && re.test(err.message),
    );
  };
  bad({ ...ok, comm: 'abcde' }, 'value.comm', /too long for char\[4\]/);
  bad({ ...ok, bytes: [1, 2, 256] }, 'value.bytes[2]', /out of range for u8/);
  bad({ ...ok, bytes: [1, 2] }, 'value.bytes', /expected 3 elements/);
  bad({ ...ok, n: 2 ** 31 }, 'value.n', /out of range for s32/);
  bad({ ...ok, n: 1.5 }, 'value.n', /expected an integer/);
  bad({ ...ok, n: 'x' }, 'value.n', /expected an integer/);
  bad({ comm: '', bytes: [0, 0, 0] }, 'value', /missing field 'n'/);
  bad({ ...ok, extra: 1 }, 'value', /unknown field 'extra'/);
  bad(42, 'value', /expected an object/);
  bad(new Uint8Array(3), 'value', /expected 16 bytes, got 3/);
  // NUL padding, and trimming on decode.
  const b = c.encode({ ...ok, comm: 'ab' });
  assert.deepEqual([...b.subarray(0, 4)], [0x61, 0x62, 0, 0]);
  // A raw byte value is taken as is.
  assert.deepEqual(c.encode(b), b);
  // A function type has no value.
  assert.throws(() => codecFor(src, 7), CodecError);
  // A missing type is a typed error, not a crash.
  assert.throws(() => codecFor(src, 99), CodecError);
});

test('raw codec copies bytes and takes host-order integers', () => {
  const c = rawCodec(4, 'key');
  const b = c.encode(0x01020304);
  assert.deepEqual(b, new Uint8Array(hostLE ? [4, 3, 2, 1] : [1, 2, 3, 4]));
  const d = c.decode(b);
  assert.deepEqual(d, b);
  assert.notEqual(d.buffer, b.buffer);
  assert.throws(() => c.encode(new Uint8Array(5)), /key: expected 4 bytes, got 5/);
  assert.throws(() => c.encode(2 ** 32), /out of range/);
  assert.throws(() => rawCodec(3).encode(1), CodecError);
});

/** xorshift32: the property test below is reproducible from its seed. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/**
 * A random type table: integers of every width and signedness, bools, floats, enums, pointers,
 * char and numeric arrays, arrays of structs, structs with padding and bitfields, unions and
 * anonymous members, under typedefs and qualifiers. Returns the table and its root struct's id.
 */
type NewType = Type extends infer T ? (T extends Type ? Omit<T, 'id'> : never) : never;

function randomTypes(pick: (n: number) => number): { types: Type[]; root: number } {
  const types: Type[] = [];
  const add = (t: NewType): number => {
    const id = types.length + 1;
    types.push({ ...t, id } as Type);
    return id;
  };
  const ints: number[] = [];
  for (const size of [1, 2, 4, 8, 16]) {
    ints.push(add({ kind: 'INT', name: `u${size}`, size, encoding: 0, bitsOffset: 0, bits: size * 8 }));
    ints.push(
      add({ kind: 'INT', name: `s${size}`, size, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: size * 8 }),
    );
  }
  const char = add({ kind: 'INT', name: 'char', size: 1, encoding: BTF_INT_CHAR, bitsOffset: 0, bits: 8 });
  const bool = add({ kind: 'INT', name: '_Bool', size: 1, encoding: 4, bitsOffset: 0, bits: 8 });
  const f32 = add({ kind: 'FLOAT', name: 'float', size: 4 });
  const f64 = add({ kind: 'FLOAT', name: 'double', size: 8 });
  const en = add({
    kind: 'ENUM',
    name: 'e',
    size: 4,
    signed: false,
    values: [
      { name: 'A', value: 0n },
      { name: 'B', value: 7n },
    ],
  });
  const ptr = add({ kind: 'PTR', name: '', type: 0 });
  const index = ints[4]!;
  const leaves = [...ints, bool, f32, f64, en, ptr];
  const sizeOf = new Map<number, number>();
  for (const id of leaves) sizeOf.set(id, id === ptr ? 8 : (types[id - 1] as { size: number }).size);
  const wrap = (id: number): number => {
    const w = pick(4);
    if (w === 0) return add({ kind: 'TYPEDEF', name: `t${types.length}`, type: id });
    if (w === 1) return add({ kind: 'CONST', name: '', type: id });
    return id;
  };
  /** A struct or union of `n` members from `pool`, each at its natural alignment (up to 8). */
  const aggregate = (pool: number[], n: number, union: boolean, named: boolean): number => {
    const members: Member[] = [];
    let off = 0;
    let size = 0;
    for (let i = 0; i < n; i++) {
      if (!union && pick(5) === 0) {
        // A bitfield on a u32 (kind_flag encoding).
        const bits = 1 + pick(12);
        members.push({ name: `b${i}`, type: ints[4]!, bitsOffset: off * 8, bitfieldSize: bits });
        off += 4;
        size = Math.max(size, off);
        continue;
      }
      const t = pool[pick(pool.length)]!;
      const s = sizeOf.get(t)!;
      const align = Math.min(s & -s || 1, 8);
      if (!union) off = Math.ceil(off / align) * align + (pick(4) === 0 ? align : 0);
      const anon =
        !named && (types[t - 1]!.kind === 'STRUCT' || types[t - 1]!.kind === 'UNION') && pick(3) === 0;
      members.push({
        name: anon ? '' : `m${i}`,
        type: wrap(t),
        bitsOffset: (union ? 0 : off) * 8,
        bitfieldSize: 0,
      });
      size = Math.max(size, (union ? 0 : off) + s);
      if (!union) off += s;
    }
    size = Math.ceil(size / 8) * 8 + (pick(3) === 0 ? 8 : 0);
    const id = add({ kind: union ? 'UNION' : 'STRUCT', name: '', size, kindFlag: true, members });
    sizeOf.set(id, size);
    return id;
  };
  const pool = [...leaves];
  for (let i = 0; i < 3; i++) {
    const n = 1 + pick(8);
    const elem = pool[pick(pool.length)]!;
    const arr = add({ kind: 'ARRAY', name: '', type: elem, indexType: index, nelems: n });
    sizeOf.set(arr, n * sizeOf.get(elem)!);
    pool.push(arr);
    const str = add({ kind: 'ARRAY', name: '', type: char, indexType: index, nelems: 1 + pick(16) });
    sizeOf.set(str, (types[str - 1] as { nelems: number }).nelems);
    pool.push(str);
    pool.push(aggregate(pool, 1 + pick(5), pick(4) === 0, pick(2) === 0));
  }
  return { types, root: aggregate(pool, 2 + pick(8), false, false) };
}

/** Replaces one leaf of a decoded value with something a codec may refuse. */
function mutate(v: unknown, pick: (n: number) => number): unknown {
  const bad = [undefined, 'x', -1, 2 ** 40, 1.5, 256, 1n << 70n, null, [], {}, true];
  if (typeof v !== 'object' || v === null || pick(3) === 0) return bad[pick(bad.length)];
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    const a = Array.from(v as ArrayLike<unknown>);
    if (a.length === 0) return a;
    const i = pick(a.length);
    a[i] = mutate(a[i], pick);
    return a;
  }
  const o = { ...(v as Record<string, unknown>) };
  const keys = Object.keys(o);
  if (keys.length === 0 || pick(6) === 0) return { ...o, extra: 1 };
  const k = keys[pick(keys.length)]!;
  if (pick(5) === 0) delete o[k];
  else o[k] = mutate(o[k], pick);
  return o;
}

function outcome(f: () => Uint8Array): { bytes?: number[]; error?: string } {
  try {
    return { bytes: [...f()] };
  } catch (e) {
    return { error: e instanceof CodecError ? `${e.path}: ${e.reason}` : String(e) };
  }
}

test('specialised codecs decode and encode as the walk does, on random types', () => {
  for (let seed = 1; seed <= 150; seed++) {
    const pick = rng(seed * 2654435761);
    const { types, root } = randomTypes(pick);
    for (const le of [true, false]) {
      const src = source(types, le);
      const walk = compileCodec(src, root, 'value', false);
      const fast = compileCodec(src, root, 'value', true);
      const msg = `seed ${seed}, ${le ? 'little' : 'big'} endian`;
      assert.equal(fast.size, walk.size, msg);
      for (let round = 0; round < 4; round++) {
        const bytes = new Uint8Array(walk.size + 3);
        for (let i = 0; i < bytes.length; i++) bytes[i] = pick(256);
        const v = walk.decode(bytes, 3);
        assert.deepEqual(fast.decode(bytes, 3), v, msg);
        assert.deepEqual(
          outcome(() => fast.encode(v)),
          outcome(() => walk.encode(v)),
          msg,
        );
        const bad = mutate(v, pick);
        const out = new Uint8Array(walk.size + 2).fill(0xaa);
        assert.deepEqual(
          outcome(() => fast.encode(bad, out.slice(), 1)),
          outcome(() => walk.encode(bad, out.slice(), 1)),
          `${msg}: ${String(bad)}`,
        );
      }
    }
  }
});
