// CO-RE on hand-built BTF: every relocation kind, accessors through structs, unions, arrays
// (flexible too), anonymous members and typedefs, flavours, agreeing and ambiguous candidates,
// bitfields in both byte orders, load/store width changes, poisoning, checks of the compiled-in
// value, the verifier-log rewrite, and `ebpf core explain`. The libbpf comparisons on real objects
// are in core-oracle.test.ts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { asm, BPF_DW, BPF_W, encode, BPF_ALU64, BPF_LSH, type Instruction } from '../src/asm/index.js';
import { Btf, BtfBuilder, BTF_INT_SIGNED, type Member } from '../src/btf/index.js';
import {
  applyCoreRelocations,
  btfTarget,
  CoreError,
  CoreReloKind as K,
  essentialName,
  explainPoisonedLog,
  fileTarget,
  type AppliedCoreRelocation,
  formatCoreRelocation,
  isPoisoned,
  POISON_IMM,
  resolveRelocation,
  type CoreTarget,
} from '../src/core/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { cli, TESTDATA } from './helpers.js';

/** A bitfield relocation's place in the target: its bits and the load libbpf picks for it. */
function fieldBits(a: AppliedCoreRelocation) {
  const spec = a.resolution!.target!.spec;
  const acc = spec.accessors[spec.accessors.length - 1];
  if (acc === undefined) return undefined;
  const parent = spec.btf.type(acc.typeId);
  if (parent.kind !== 'STRUCT' && parent.kind !== 'UNION') return undefined;
  const m = parent.members[acc.idx]!;
  if (m.bitfieldSize === 0) return undefined;
  let loadSize = spec.btf.sizeof(m.type);
  let loadOffset = Math.floor(spec.bitOffset / 8 / loadSize) * loadSize;
  while (spec.bitOffset + m.bitfieldSize - loadOffset * 8 > loadSize * 8) {
    loadSize *= 2;
    loadOffset = Math.floor(spec.bitOffset / 8 / loadSize) * loadSize;
  }
  return { bitOffset: spec.bitOffset, bitSize: m.bitfieldSize, loadOffset, loadSize };
}

/** A little BTF language: named ids so tests read like C declarations. */
class Types {
  readonly b: BtfBuilder;
  readonly ids = new Map<string, number>();
  constructor(littleEndian = true) {
    this.b = new BtfBuilder({ littleEndian });
  }
  int(name: string, size: number, signed = false): number {
    return this.set(
      name,
      this.b.add({
        kind: 'INT',
        name,
        size,
        encoding: signed ? BTF_INT_SIGNED : 0,
        bitsOffset: 0,
        bits: size * 8,
      }),
    );
  }
  struct(name: string, size: number, members: [string, number, number, number?][], union = false): number {
    const ms: Member[] = members.map(([n, type, bitsOffset, bitfieldSize]) => ({
      name: n,
      type,
      bitsOffset,
      bitfieldSize: bitfieldSize ?? 0,
    }));
    return this.set(
      name,
      this.b.add({
        kind: union ? 'UNION' : 'STRUCT',
        name,
        size,
        kindFlag: ms.some((m) => m.bitfieldSize > 0),
        members: ms,
      }),
    );
  }
  array(elem: number, nelems: number, index: number): number {
    return this.b.add({ kind: 'ARRAY', name: '', type: elem, indexType: index, nelems });
  }
  ptr(type: number): number {
    return this.b.add({ kind: 'PTR', name: '', type });
  }
  typedef(name: string, type: number): number {
    return this.set(name, this.b.add({ kind: 'TYPEDEF', name, type }));
  }
  const(type: number): number {
    return this.b.add({ kind: 'CONST', name: '', type });
  }
  enum(name: string, values: [string, bigint][], size = 4, kind: 'ENUM' | 'ENUM64' = 'ENUM'): number {
    return this.set(
      name,
      this.b.add({
        kind,
        name,
        size,
        signed: false,
        values: values.map(([n, value]) => ({ name: n, value })),
      }),
    );
  }
  id(name: string): number {
    const id = this.ids.get(name);
    assert.ok(id !== undefined, `no type ${name}`);
    return id;
  }
  btf(): Btf {
    return Btf.parse(this.b.build());
  }
  private set(name: string, id: number): number {
    if (name !== '') this.ids.set(name, id);
    return id;
  }
}

const target = (btf: Btf): CoreTarget => btfTarget(btf, 'target');

function resolve(
  local: Btf,
  typeId: number,
  accessStr: string,
  kind: number,
  targ: Btf,
  littleEndian = true,
) {
  return resolveRelocation(local, { typeId, accessStr, kind }, target(targ), { littleEndian });
}

/** Local: struct task { int pid; struct { u32 flags; }; const int ids[4]; union { u64 u; } un; int data[]; } */
function localTask() {
  const t = new Types();
  const int = t.int('int', 4, true);
  const u32 = t.int('unsigned int', 4);
  const u64 = t.int('unsigned long long', 8);
  const idx = t.int('__ARRAY_SIZE_TYPE__', 4);
  const anon = t.struct('', 4, [['flags', u32, 0]]);
  const ids = t.array(t.const(int), 4, idx);
  const un = t.struct('', 8, [['u', u64, 0]], true);
  const flex = t.array(int, 0, idx);
  t.struct('task', 32, [
    ['pid', int, 0],
    ['', anon, 32],
    ['ids', ids, 64],
    ['un', un, 192],
    ['data', flex, 256],
  ]);
  t.typedef('task_t', t.id('task'));
  return t;
}

/** Target: the same names, another order, wider ints, a typedef'd member, and 64-bit `data` elements. */
function targetTask(extra?: (t: Types) => void) {
  const t = new Types();
  const int = t.int('int', 4, true);
  const u32 = t.int('unsigned int', 4);
  const u64 = t.int('unsigned long long', 8);
  const idx = t.int('__ARRAY_SIZE_TYPE__', 4);
  const pidT = t.typedef('pid_t', int);
  const anon = t.struct('', 8, [
    ['pad', u32, 0],
    ['flags', u32, 32],
  ]);
  const ids = t.array(int, 8, idx);
  const un = t.struct('', 8, [['u', u64, 0]], true);
  const flex = t.array(u64, 0, idx);
  t.struct('task', 96, [
    ['un', un, 0],
    ['ids', ids, 64],
    ['pid', pidT, 320],
    ['', anon, 384],
    ['data', flex, 448],
  ]);
  extra?.(t);
  return t;
}

test('essential names cut at the last ___ between two non-underscores', () => {
  assert.equal(essentialName('task_struct___old'), 'task_struct');
  assert.equal(essentialName('a___b___c'), 'a___b');
  assert.equal(essentialName('foo___'), 'foo___');
  assert.equal(essentialName('___foo'), '___foo');
  assert.equal(essentialName('foo____bar'), 'foo____bar');
  assert.equal(essentialName('plain'), 'plain');
});

test('field offsets and sizes through members, anonymous structs, unions, arrays, flexible arrays and typedefs', () => {
  const l = localTask();
  const local = l.btf();
  const targ = targetTask().btf();
  const task = l.id('task');
  const at = (access: string, kind: number = K.FIELD_BYTE_OFFSET) =>
    resolve(local, task, access, kind, targ).values;
  assert.deepEqual([at('0:0').orig, at('0:0').new], [0n, 40n]); // pid
  assert.equal(at('0:1:0').new, 52n); // flags, through the anonymous struct in both
  assert.equal(at('0:2:3').new, 8n + 12n); // ids[3]
  assert.equal(at('0:2').new, 8n); // ids
  assert.equal(at('0:2', K.FIELD_BYTE_SIZE).new, 32n);
  assert.equal(at('0:3:0').new, 0n); // un.u
  assert.equal(at('0:4:5').new, 56n + 5n * 8n); // data[5], a flexible array of u64 in the target
  assert.equal(at('1:0').new, 96n + 40n); // task[1].pid
  assert.equal(at('0:0', K.FIELD_BYTE_SIZE).new, 4n);
  assert.equal(at('0:0', K.FIELD_EXISTS).new, 1n);
  assert.equal(at('0:0', K.FIELD_SIGNED).new, 1n);
  assert.equal(at('0:1:0', K.FIELD_SIGNED).new, 0n);
  // A typedef'd root resolves the same way (candidates are typedefs named task_t).
  const local2 = localTask();
  const r = resolveRelocation(
    local2.btf(),
    { typeId: local2.id('task_t'), accessStr: '0:0', kind: K.FIELD_BYTE_OFFSET },
    target(targetTask((t) => t.typedef('task_t', t.id('task'))).btf()),
  );
  assert.equal(r.values.new, 40n);
  // An index past a fixed-size array's end does not parse.
  assert.throws(() => at('0:2:4'), CoreError);
  assert.throws(() => at('0:9'), CoreError);
});

test('a missing field: exists is 0, every other field kind poisons, and the reason names it', () => {
  const l = new Types();
  const int = l.int('int', 4, true);
  l.struct('task', 8, [
    ['pid', int, 0],
    ['state', int, 32],
  ]);
  const targ = targetTask().btf();
  const local = l.btf();
  const r = resolve(local, l.id('task'), '0:1', K.FIELD_BYTE_OFFSET, targ);
  assert.equal(r.values.poison, true);
  assert.match(r.reason ?? '', /no member 'state' in struct task \[\d+\]/);
  assert.equal(resolve(local, l.id('task'), '0:1', K.FIELD_EXISTS, targ).values.new, 0n);
  for (const k of [K.FIELD_BYTE_SIZE, K.FIELD_SIGNED, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64]) {
    assert.equal(resolve(local, l.id('task'), '0:1', k, targ).values.poison, true);
  }
  // A same-named member of an incompatible kind is missing too.
  const t2 = new Types();
  const i2 = t2.int('int', 4, true);
  t2.struct('task', 16, [
    ['pid', i2, 0],
    ['state', t2.ptr(i2), 64],
  ]);
  assert.match(
    resolve(local, l.id('task'), '0:1', K.FIELD_BYTE_OFFSET, t2.btf()).reason ?? '',
    /incompatible/,
  );
});

test('flavours: task___old finds task; several candidates must agree, else the relocation is ambiguous', () => {
  const l = new Types();
  const int = l.int('int', 4, true);
  l.struct('task___old', 4, [['pid', int, 0]]);
  const local = l.btf();
  const agree = targetTask((t) => t.struct('task___v2', 48, [['pid', t.id('int'), 320]])).btf();
  const r = resolve(local, l.id('task___old'), '0:0', K.FIELD_BYTE_OFFSET, agree);
  assert.equal(r.values.new, 40n);
  assert.equal(r.matched, 2);
  const differ = targetTask((t) => t.struct('task___v2', 48, [['pid', t.id('int'), 64]])).btf();
  assert.throws(() => resolve(local, l.id('task___old'), '0:0', K.FIELD_BYTE_OFFSET, differ), /ambiguous/);
  // A candidate where the field is missing does not count against the others.
  const partial = targetTask((t) => t.struct('task___v3', 4, [['other', t.id('int'), 0]])).btf();
  const p = resolve(local, l.id('task___old'), '0:0', K.FIELD_BYTE_OFFSET, partial);
  assert.equal(p.matched, 1);
  assert.equal(p.misses.length, 1);
  // Type ids differ between agreeing candidates: TYPE_ID_TARGET is ambiguous.
  assert.throws(() => resolve(local, l.id('task___old'), '0', K.TYPE_ID_TARGET, agree), /ambiguous/);
});

test('bitfields: offset, size, shifts in both byte orders, as libbpf computes them', () => {
  for (const le of [true, false]) {
    const l = new Types(le);
    const u8 = l.int('unsigned char', 1);
    const u32 = l.int('unsigned int', 4);
    const s32 = l.int('int', 4, true);
    l.struct('sk', 8, [
      ['flag', u8, 0, 1],
      ['wide', u32, 8, 10],
      ['sgn', s32, 20, 3],
    ]);
    const t = new Types(le);
    const tu8 = t.int('unsigned char', 1);
    const tu32 = t.int('unsigned int', 4);
    const ts32 = t.int('int', 4, true);
    t.struct('sk', 16, [
      ['flag', tu8, 27, 1],
      ['wide', tu32, 28, 10],
      ['sgn', ts32, 72, 3],
    ]);
    const local = l.btf();
    const targ = t.btf();
    const v = (access: string, kind: number) => resolve(local, l.id('sk'), access, kind, targ, le).values;
    // flag: 1 bit at 27 in a 1-byte unit at byte 3.
    assert.equal(v('0:0', K.FIELD_BYTE_OFFSET).new, 3n);
    assert.equal(v('0:0', K.FIELD_BYTE_SIZE).new, 1n);
    assert.equal(v('0:0', K.FIELD_LSHIFT_U64).new, le ? 64n - 4n : 56n + 3n);
    assert.equal(v('0:0', K.FIELD_RSHIFT_U64).new, 63n);
    assert.equal(v('0:0', K.FIELD_SIGNED).new, 0n);
    // wide: 10 bits at 28 straddle a 4-byte unit, so an 8-byte load at byte 0.
    assert.equal(v('0:1', K.FIELD_BYTE_OFFSET).new, 0n);
    assert.equal(v('0:1', K.FIELD_BYTE_SIZE).new, 8n);
    assert.equal(v('0:1', K.FIELD_LSHIFT_U64).new, le ? 64n - 38n : 28n);
    assert.equal(v('0:1', K.FIELD_RSHIFT_U64).new, 54n);
    assert.equal(v('0:2', K.FIELD_SIGNED).new, 1n);
    // Bitfield values are never checked against the instruction, except signedness and rshift.
    assert.equal(v('0:0', K.FIELD_LSHIFT_U64).validate, false);
    assert.equal(v('0:0', K.FIELD_RSHIFT_U64).validate, true);
  }
});

test('enum values: exists and value, ENUM against ENUM64, 32-bit values sign-extended as libbpf', () => {
  const l = new Types();
  l.enum('color', [
    ['RED', 0n],
    ['GREEN', 1n],
    ['NEG', 0xffffff80n],
  ]);
  l.enum('ctx', [['K', 0xffffffffffffff80n]], 8, 'ENUM64');
  const t = new Types();
  t.enum('color', [
    ['GREEN___x', 7n],
    ['RED', 9n],
    ['NEG', 0xfffffff0n],
  ]);
  t.enum('ctx', [['K', 0x1234n]], 4, 'ENUM');
  const local = l.btf();
  const targ = t.btf();
  const v = (type: string, access: string, kind: number) =>
    resolve(local, l.id(type), access, kind, targ).values;
  assert.equal(v('color', '0', K.ENUMVAL_VALUE).new, 9n);
  assert.equal(v('color', '1', K.ENUMVAL_VALUE).new, 7n); // GREEN___x matches GREEN
  assert.equal(v('color', '2', K.ENUMVAL_VALUE).new, 0xfffffffffffffff0n);
  assert.equal(v('color', '2', K.ENUMVAL_VALUE).orig, 0xffffffffffffff80n);
  assert.equal(v('ctx', '0', K.ENUMVAL_VALUE).new, 0x1234n);
  assert.equal(v('color', '0', K.ENUMVAL_EXISTS).new, 1n);
  const t2 = new Types();
  t2.enum('color', [['BLUE', 3n]]);
  const missing = resolve(local, l.id('color'), '0', K.ENUMVAL_VALUE, t2.btf());
  assert.equal(missing.values.poison, true);
  assert.match(missing.reason ?? '', /no enumerator RED/);
  assert.equal(resolve(local, l.id('color'), '0', K.ENUMVAL_EXISTS, t2.btf()).values.new, 0n);
});

test('type relocations: exists, size, local and target id, and type matches', () => {
  const l = localTask();
  const local = l.btf();
  const t = targetTask();
  const targ = t.btf();
  const task = l.id('task');
  const v = (kind: number, tb = targ) => resolve(local, task, '0', kind, tb).values;
  assert.deepEqual([v(K.TYPE_EXISTS).orig, v(K.TYPE_EXISTS).new], [1n, 1n]);
  assert.deepEqual([v(K.TYPE_SIZE).orig, v(K.TYPE_SIZE).new], [32n, 96n]);
  assert.deepEqual([v(K.TYPE_ID_LOCAL).new, v(K.TYPE_ID_LOCAL).validate], [BigInt(task), false]);
  assert.equal(v(K.TYPE_ID_TARGET).new, BigInt(t.id('task')));
  // ids[] has 4 elements locally and 8 in the target: the types do not match.
  assert.equal(v(K.TYPE_MATCHES).new, 0n);
  const empty = new Types();
  empty.int('int', 4, true);
  assert.equal(v(K.TYPE_EXISTS, empty.btf()).new, 0n);
  assert.equal(v(K.TYPE_SIZE, empty.btf()).new, 0n);
  assert.equal(v(K.TYPE_ID_TARGET, empty.btf()).new, 0n);

  // Matching: members by name with matching types; ints by size and signedness; behind a
  // pointer a struct matches a forward declaration. Local: struct node { int v; struct node *next; }.
  const mlBtf = (() => {
    const b = new BtfBuilder();
    const i = b.add({ kind: 'INT', name: 'int', size: 4, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: 32 });
    const n = b.nextTypeId;
    b.add({
      kind: 'STRUCT',
      name: 'node',
      size: 16,
      kindFlag: false,
      members: [
        { name: 'v', type: i, bitsOffset: 0, bitfieldSize: 0 },
        { name: 'next', type: n + 1, bitsOffset: 64, bitfieldSize: 0 },
      ],
    });
    b.add({ kind: 'PTR', name: '', type: n });
    return { btf: Btf.parse(b.build()), node: n };
  })();
  const mt = (members: (b: BtfBuilder, int: number, uint: number) => Member[]) => {
    const b = new BtfBuilder();
    const i = b.add({ kind: 'INT', name: 'int', size: 4, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: 32 });
    const u = b.add({ kind: 'INT', name: 'unsigned int', size: 4, encoding: 0, bitsOffset: 0, bits: 32 });
    const ms = members(b, i, u);
    b.add({ kind: 'STRUCT', name: 'node', size: 24, kindFlag: false, members: ms });
    return Btf.parse(b.build());
  };
  const m = (n: string, type: number, off: number): Member => ({
    name: n,
    type,
    bitsOffset: off,
    bitfieldSize: 0,
  });
  const matches = (tb: Btf) => resolve(mlBtf.btf, mlBtf.node, '0', K.TYPE_MATCHES, tb).values.new;
  const fwd = (b: BtfBuilder) =>
    b.add({ kind: 'PTR', name: '', type: b.add({ kind: 'FWD', name: 'node', union: false }) });
  assert.equal(matches(mt((b, i) => [m('extra', i, 0), m('v', i, 32), m('next', fwd(b), 64)])), 1n);
  assert.equal(matches(mt((b, _i, u) => [m('v', u, 0), m('next', fwd(b), 64)])), 0n); // signedness differs
  assert.equal(matches(mt((_b, i) => [m('v', i, 0)])), 0n); // next is missing
});

test('patching: ALU, load/store offsets and widths, ld_imm64; the compiled value is checked; poison', () => {
  const l = new Types();
  const u32 = l.int('unsigned int', 4);
  const s32 = l.int('int', 4, true);
  l.struct('task', 8, [
    ['a', u32, 0],
    ['b', s32, 32],
  ]);
  l.enum('color', [['RED', 0n]]);
  const t = new Types();
  const tu64 = t.int('unsigned long long', 8);
  const ts64 = t.int('long long', 8, true);
  t.struct('task', 32, [
    ['b', ts64, 64],
    ['a', tu64, 128],
  ]);
  const local = l.btf();
  const targ = t.btf();
  const task = l.id('task');
  const color = l.id('color');
  const insns: Instruction[] = [
    asm.ldx(BPF_W, 1, 2, 0), // a: u32 → u64, the load widens
    asm.ldx(BPF_W, 1, 2, 4), // b: s32 → s64, cannot widen: poisoned
    asm.mov64Imm(3, 4), // b's offset as an immediate
    asm.ldImm64(4, 0n), // RED's value: the enum is missing, poisoned as two calls
    asm.alu64Imm(BPF_LSH, 5, 0), // placeholder
    asm.exit(),
  ];
  const slots = encode(insns, true).length / 8;
  const program = {
    name: 'p',
    instructions: insns,
    coreRelos: [
      { insn: 0, typeId: task, accessStr: '0:0', kind: K.FIELD_BYTE_OFFSET },
      { insn: 1, typeId: task, accessStr: '0:1', kind: K.FIELD_BYTE_OFFSET },
      { insn: 2, typeId: task, accessStr: '0:1', kind: K.FIELD_BYTE_OFFSET },
      { insn: 3, typeId: color, accessStr: '0', kind: K.ENUMVAL_VALUE },
    ],
  };
  const applied = applyCoreRelocations(program, local, { target: target(targ) });
  const out = program.instructions;
  assert.equal(out[0]!.off, 16);
  assert.equal(out[0]!.opcode & 0x18, BPF_DW);
  assert.ok(isPoisoned(out[1]!));
  assert.equal(out[2]!.imm, 8);
  assert.ok(isPoisoned(out[3]!) && isPoisoned(out[4]!));
  assert.equal(out[3]!.next, undefined);
  assert.equal(out.length, 7, 'the poisoned ld_imm64 became two instructions');
  assert.equal(encode(out, true).length / 8, slots, 'the slot count is unchanged');
  assert.deepEqual(
    applied.map((a) => a.poisoned),
    [false, true, false, true],
  );
  assert.equal(out[5]!.opcode, BPF_ALU64 | BPF_LSH);
  assert.equal(POISON_IMM, 195896080);

  // The compiled-in value must be what the local BTF says.
  const bad = {
    name: 'q',
    instructions: [asm.mov64Imm(3, 99)],
    coreRelos: [{ insn: 0, typeId: task, accessStr: '0:1', kind: K.FIELD_BYTE_OFFSET }],
  };
  assert.throws(
    () => applyCoreRelocations(bad, local, { target: target(targ) }),
    (e: unknown) => e instanceof CoreError && /expected 4/.test(e.message) && e.location.program === 'q',
  );
  const collected = applyCoreRelocations(bad, local, { target: target(targ), collectErrors: true });
  assert.match(collected[0]!.error?.detail ?? '', /unexpected immediate 99/);
  assert.match(formatCoreRelocation(collected[0]!), /error: +unexpected immediate/);
  // A relocation that points inside an ld_imm64 is refused.
  const mid = {
    name: 'r',
    instructions: [asm.ldImm64(1, 0n)],
    coreRelos: [{ insn: 1, typeId: task, accessStr: '0:0', kind: K.FIELD_BYTE_OFFSET }],
  };
  assert.throws(() => applyCoreRelocations(mid, local, { target: target(targ) }), /not an instruction start/);
});

test('a verifier log that reaches a poisoned instruction names the relocation in C', () => {
  const l = new Types();
  const int = l.int('int', 4, true);
  l.struct('task___old', 8, [['state', int, 0]]);
  const t = new Types();
  const tint = t.int('int', 4, true);
  t.struct('task', 8, [['pid', tint, 0]]);
  const program = {
    name: 'p',
    instructions: [asm.mov64Imm(1, 0), asm.exit()],
    coreRelos: [{ insn: 0, typeId: l.id('task___old'), accessStr: '0:0', kind: K.FIELD_BYTE_OFFSET }],
  };
  const applied = applyCoreRelocations(program, l.btf(), { target: target(t.btf()) });
  const log = `0: R1=ctx() R10=fp0\n0: (85) call unknown#${POISON_IMM}\ninvalid func unknown#${POISON_IMM}\nprocessed 1 insns\n`;
  const out = explainPoisonedLog(log, applied, 'p');
  assert.match(out, /^0: <invalid CO-RE relocation>$/m);
  assert.match(
    out,
    /failed to resolve CO-RE relocation #0 at insn 0: FIELD_BYTE_OFFSET t->state .*no member 'state' in struct task/,
  );
  assert.equal(explainPoisonedLog('0: (b7) r0 = 0\n', applied), '0: (b7) r0 = 0\n');
});

test('ebpf core explain: every relocation of core.o, in C terms, against the hand-built target', () => {
  const r = cli([
    'core',
    'explain',
    join(TESTDATA, 'core-el.o'),
    '--target',
    join(TESTDATA, 'core-target', 'target.btf'),
    '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  const all = JSON.parse(r.stdout) as {
    access: string;
    kind: string;
    poisoned: boolean;
    reason: string | null;
    target: { offset?: number; typeId: number } | null;
    before: string;
    after: string[];
  }[];
  assert.equal(all.length, 36);
  const cookie = all.find(
    (x) => x.kind === 'FIELD_BYTE_OFFSET' && x.access === 's->__sk_common.skc_cookie.counter',
  );
  assert.equal(cookie?.target?.offset, 16);
  const state = all.filter((x) => x.poisoned);
  assert.equal(state.length, 1);
  assert.match(state[0]!.reason ?? '', /no member 'state'/);
  assert.deepEqual(state[0]!.after, ['call 0xbad2310']);
  const text = cli([
    'core',
    'explain',
    join(TESTDATA, 'core-el.o'),
    '--target',
    join(TESTDATA, 'core-target', 'target.btf'),
    '--program',
    'core_sock',
  ]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /core_sock insn 18: FIELD_BYTE_OFFSET s->sk_no_check_tx/);
  assert.match(text.stdout, /bits 27\.\.27 \(byte 3\)/);
  assert.equal(cli(['core', 'explain']).status, 2);
});

test('module BTF: searched only when vmlinux has no candidate, and only its own types', () => {
  const base = new Types();
  const int = base.int('int', 4, true);
  base.struct('shared', 8, [['x', int, 32]]);
  const baseBtf = base.btf();
  const mb = new BtfBuilder({ base: baseBtf });
  mb.add({
    kind: 'STRUCT',
    name: 'shared',
    size: 16,
    kindFlag: false,
    members: [{ name: 'x', type: int, bitsOffset: 96, bitfieldSize: 0 }],
  });
  const modOnly = mb.add({
    kind: 'STRUCT',
    name: 'mod_only',
    size: 8,
    kindFlag: false,
    members: [{ name: 'y', type: int, bitsOffset: 32, bitfieldSize: 0 }],
  });
  const mod = Btf.parse(mb.build(), { base: baseBtf });
  const tgt: CoreTarget = {
    main: { name: 'vmlinux', btf: baseBtf },
    modules: () => [{ name: 'mod', btf: mod }],
  };
  const l = new Types();
  const lint = l.int('int', 4, true);
  l.struct('shared', 4, [['x', lint, 0]]);
  l.struct('mod_only', 4, [['y', lint, 0]]);
  const local = l.btf();
  const shared = resolveRelocation(
    local,
    { typeId: l.id('shared'), accessStr: '0:0', kind: K.FIELD_BYTE_OFFSET },
    tgt,
  );
  assert.equal(shared.values.new, 4n);
  assert.equal(shared.target?.candidate.source, 'vmlinux');
  const only = resolveRelocation(
    local,
    { typeId: l.id('mod_only'), accessStr: '0:0', kind: K.FIELD_BYTE_OFFSET },
    tgt,
  );
  assert.equal(only.values.new, 4n);
  assert.equal(only.target?.candidate.source, 'mod');
  assert.equal(only.target?.candidate.id, modOnly);
});

test('big-endian core-eb.o relocates to the same values as core-el.o, but for the left shifts of bitfields', () => {
  const target = fileTarget(join(TESTDATA, 'core-target', 'target.btf'));
  // Keyed by program, kind and access: clang may emit a relocation more than once per byte order.
  const values = (file: string) => {
    const spec = loadObjectSpec(join(TESTDATA, file));
    const out = new Map<
      string,
      { value: bigint | 'poison' | undefined; bits: ReturnType<typeof fieldBits> }
    >();
    for (const p of spec.programs) {
      const insns = p.instructions.map((i) => i.clone());
      for (const a of applyCoreRelocations(
        { name: p.name, instructions: insns, coreRelos: p.coreRelos },
        spec.btf!,
        { target },
      )) {
        const v = a.resolution?.values;
        out.set(`${p.name} ${a.kind} ${a.relo.typeId} ${a.relo.accessStr}`, {
          value: v?.poison ? 'poison' : v?.new,
          bits: a.resolution?.target ? fieldBits(a) : undefined,
        });
      }
    }
    return out;
  };
  const el = values('core-el.o');
  const eb = values('core-eb.o');
  assert.deepEqual([...eb.keys()].sort(), [...el.keys()].sort());
  let shifts = 0;
  for (const [key, e] of el) {
    const b = eb.get(key)!;
    if (!key.includes('FIELD_LSHIFT_U64')) {
      assert.equal(b.value, e.value, key);
      continue;
    }
    shifts++;
    // Little endian: 64 - (end bit - load start); big endian: (8 - load size) * 8 + (start bit - load start).
    assert.ok(e.bits);
    const { bitOffset, bitSize, loadOffset, loadSize } = e.bits;
    assert.equal(e.value, BigInt(64 - (bitOffset + bitSize - loadOffset * 8)));
    assert.equal(b.value, BigInt((8 - loadSize) * 8 + (bitOffset - loadOffset * 8)));
  }
  assert.equal(shifts, 2);
});
