// fast-check arbitraries that build valid structures first (BTF type graphs, .BTF.ext records,
// instruction streams, ELF objects with BPF sections), then damage some of them at the places that
// carry lengths, counts, offsets and ids. The undamaged ones reach the deep code and the round-trip
// properties; the damaged ones probe every check on the way.
import fc from 'fast-check';
import {
  type ElfBlob,
  K,
  type RawBtf,
  type RawElf,
  type RawExt,
  type RawType,
  SHF,
  SHT,
  Strings,
  type Word,
  writeBtf,
  writeElf,
  writeExt,
} from './raw.js';

/** Values that sit on the edges of the checks: zero, one, powers of two, sign bits, all ones. */
export const INTERESTING32 = [
  0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 31, 32, 63, 64, 127, 128, 255, 256, 0x7fff, 0x8000, 0xffff, 0x10000,
  0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
];

const u32 = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...INTERESTING32) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);

// ---- damage -----------------------------------------------------------------------------------

export type Damage =
  | { op: 'word'; at: number; value: number; le: boolean }
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'byte'; at: number; value: number };

/** Up to `max` damages; `at` is a fraction of the length (or of `hot`'s offsets when given). */
export function damages(max: number): fc.Arbitrary<{ frac: number; d: Damage }[]> {
  const frac = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
  const one = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        frac,
        d: fc.record({ op: fc.constant('word' as const), at: fc.constant(0), value: u32, le: fc.boolean() }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        frac,
        d: fc.record({
          op: fc.constant('flip' as const),
          at: fc.constant(0),
          bit: fc.integer({ min: 0, max: 7 }),
        }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        frac,
        d: fc.record({
          op: fc.constant('byte' as const),
          at: fc.constant(0),
          value: fc.integer({ min: 0, max: 255 }),
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        frac,
        d: fc.record({ op: fc.constant('truncate' as const), at: fc.constant(0) }),
      }),
    },
  );
  return fc.array(one, { maxLength: max });
}

/**
 * Apply damages to a copy of `b`. `hot` (sorted byte offsets of words that matter: headers, counts,
 * ids, lengths) takes most of the word writes; the rest land anywhere.
 */
export function applyDamage(
  src: Uint8Array,
  ds: readonly { frac: number; d: Damage }[],
  hot: readonly number[] = [],
): Uint8Array {
  let b = src.slice();
  for (const { frac, d } of ds) {
    if (b.length === 0) break;
    const anywhere = Math.floor(frac * b.length);
    switch (d.op) {
      case 'word': {
        const useHot = hot.length > 0 && Math.floor(frac * 1000) % 4 !== 0;
        const at = useHot ? hot[Math.floor(frac * hot.length)]! : anywhere & ~3;
        if (at + 4 <= b.length) new DataView(b.buffer).setUint32(at, d.value, d.le);
        break;
      }
      case 'flip':
        b[anywhere] = b[anywhere]! ^ (1 << d.bit);
        break;
      case 'byte':
        b[anywhere] = d.value;
        break;
      case 'truncate':
        b = b.slice(0, anywhere);
        break;
    }
  }
  return b;
}

// ---- names --------------------------------------------------------------------------------------

const ident = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'a',
      'b',
      'x',
      'val',
      'next',
      'data',
      'pid',
      'comm',
      'flags',
      'len',
      'task_struct',
      'sk_buff',
      'int',
      'u32',
      '__u64',
      'long',
      'char',
      'bool',
      'e',
      'ops',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(fc.constantFrom(...'abcxyzABZ_019'), { minLength: 1, maxLength: 12 })
      .map((cs) => (/[0-9]/.test(cs[0]!) ? `_${cs.join('')}` : cs.join(''))),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('', '.maps', '.data', 'x y', '../up', 'a\u00e9', '___flavor', 'x___v2'),
  },
);

// ---- BTF type graphs ---------------------------------------------------------------------------

const INT_SIZES = [1, 2, 4, 8, 16];

/** One record for id `id` of `n`, referring to ids in [0, n] (and now and then past it). */
function typeRecord(n: number): fc.Arbitrary<RawType> {
  const ref = fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0, max: n }) },
    { weight: 1, arbitrary: fc.integer({ min: n + 1, max: n + 3 }) },
  );
  const rec = (
    kind: number,
    name: fc.Arbitrary<string>,
    rest: fc.Arbitrary<Omit<RawType, 'name' | 'kind'>>,
  ): fc.Arbitrary<RawType> => fc.tuple(name, rest).map(([nm, r]) => ({ name: nm, kind, ...r }));
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(ident, fc.constantFrom(...INT_SIZES), fc.constantFrom(0, 1, 2, 4), fc.boolean())
        .map(([name, size, enc, partial]): RawType => ({
          name,
          kind: K.INT,
          vlen: 0,
          kflag: false,
          sizeType: size,
          extra: [(enc << 24) | (partial && size > 1 ? size * 8 - 3 : size * 8)],
        })),
    },
    {
      weight: 3,
      arbitrary: rec(
        K.PTR,
        fc.constant(''),
        ref.map((t) => ({ vlen: 0, kflag: false, sizeType: t, extra: [] })),
      ),
    },
    {
      weight: 2,
      arbitrary: rec(
        K.ARRAY,
        fc.constant(''),
        fc
          .tuple(ref, ref, fc.oneof(fc.integer({ min: 0, max: 16 }), u32))
          .map(([e, i, nelems]) => ({ vlen: 0, kflag: false, sizeType: 0, extra: [e, i, nelems] })),
      ),
    },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          ident,
          fc.constantFrom(K.STRUCT, K.UNION),
          fc.array(fc.tuple(ident, ref, fc.integer({ min: 0, max: 8 })), { maxLength: 6 }),
          fc.boolean(),
          fc.integer({ min: 0, max: 64 }),
        )
        .map(([name, kind, members, kflag, size]): RawType => {
          // Members laid out one after another (8 bytes apart), bitfields when kflag is set.
          const extra: Word[] = [];
          members.forEach(([mn, mt, bits], i) => {
            const off = kind === K.UNION ? 0 : i * 64;
            extra.push({ str: mn }, mt, kflag && bits > 0 ? (bits << 24) | off : off);
          });
          return {
            name,
            kind,
            vlen: members.length,
            kflag,
            sizeType: Math.max(size, kind === K.UNION ? 8 : 8 * members.length),
            extra,
          };
        }),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          ident,
          fc.array(fc.tuple(ident, fc.integer({ min: -5, max: 100 })), { maxLength: 5 }),
          fc.boolean(),
          fc.constantFrom(1, 2, 4, 8),
        )
        .map(([name, vals, signed, size]): RawType => ({
          name,
          kind: K.ENUM,
          vlen: vals.length,
          kflag: signed,
          sizeType: size,
          extra: vals.flatMap(([n2, v]) => [{ str: n2 }, v >>> 0]),
        })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          ident,
          fc.array(fc.tuple(ident, fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n })), {
            maxLength: 4,
          }),
          fc.boolean(),
        )
        .map(([name, vals, signed]): RawType => ({
          name,
          kind: K.ENUM64,
          vlen: vals.length,
          kflag: signed,
          sizeType: 8,
          extra: vals.flatMap(([n2, v]) => {
            const u = BigInt.asUintN(64, v);
            return [{ str: n2 }, Number(u & 0xffffffffn), Number(u >> 32n)];
          }),
        })),
    },
    {
      weight: 1,
      arbitrary: rec(
        K.FWD,
        ident,
        fc.boolean().map((k) => ({ vlen: 0, kflag: k, sizeType: 0, extra: [] })),
      ),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.constantFrom(K.TYPEDEF, K.VOLATILE, K.CONST, K.RESTRICT, K.TYPE_TAG), ident, ref)
        .map(([kind, name, t]): RawType => ({
          name: kind === K.TYPEDEF || kind === K.TYPE_TAG ? name : '',
          kind,
          vlen: 0,
          kflag: false,
          sizeType: t,
          extra: [],
        })),
    },
    {
      weight: 2,
      arbitrary: rec(
        K.FUNC,
        ident,
        fc
          .tuple(ref, fc.integer({ min: 0, max: 3 }))
          .map(([t, linkage]) => ({ vlen: linkage, kflag: false, sizeType: t, extra: [] })),
      ),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(ref, fc.array(fc.tuple(ident, ref), { maxLength: 5 }))
        .map(([ret, params]): RawType => ({
          name: '',
          kind: K.FUNC_PROTO,
          vlen: params.length,
          kflag: false,
          sizeType: ret,
          extra: params.flatMap(([pn, pt]) => [{ str: pn }, pt]),
        })),
    },
    {
      weight: 1,
      arbitrary: rec(
        K.VAR,
        ident,
        fc
          .tuple(ref, fc.integer({ min: 0, max: 3 }))
          .map(([t, l]) => ({ vlen: 0, kflag: false, sizeType: t, extra: [l] })),
      ),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom('.data', '.bss', '.rodata', '.maps', 'license'),
          fc.array(fc.tuple(ref, fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 16 })), {
            maxLength: 4,
          }),
        )
        .map(([name, vars]): RawType => ({
          name,
          kind: K.DATASEC,
          vlen: vars.length,
          kflag: false,
          sizeType: vars.reduce((m, [, off, size]) => Math.max(m, off + size), 0),
          extra: vars.flatMap(([t, off, size]) => [t, off, size]),
        })),
    },
    {
      weight: 1,
      arbitrary: rec(
        K.FLOAT,
        ident,
        fc.constantFrom(2, 4, 8, 12, 16).map((s) => ({ vlen: 0, kflag: false, sizeType: s, extra: [] })),
      ),
    },
    {
      weight: 1,
      arbitrary: rec(
        K.DECL_TAG,
        ident,
        fc
          .tuple(ref, fc.integer({ min: -1, max: 4 }))
          .map(([t, c]) => ({ vlen: 0, kflag: false, sizeType: t, extra: [c >>> 0] })),
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(fc.integer({ min: 0, max: 31 }), u32, u32).map(([kind, a, b]): RawType => ({
        name: '',
        kind,
        vlen: a & 3,
        kflag: (b & 1) === 1,
        sizeType: b,
        extra: Array.from({ length: a & 3 }, () => a),
      })),
    },
  );
}

/** A BTF type graph of up to `max` types (valid ids, any shape, cycles included). */
export function btfTypes(max = 24): fc.Arbitrary<RawBtf> {
  return fc
    .integer({ min: 0, max })
    .chain((n) =>
      fc.tuple(
        fc.constant(n),
        fc.array(typeRecord(n), { minLength: n, maxLength: n }),
        fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      ),
    )
    .map(([, types, le]) => ({ le, types }));
}

/** Hot words of a BTF blob: the header and every type record's three common words. */
function btfHot(blob: { typeOffsets: number[] }): number[] {
  return [4, 8, 12, 16, 20, ...blob.typeOffsets.flatMap((o) => [o, o + 4, o + 8, o + 12, o + 16])];
}

/** Raw BTF bytes: a generated graph, damaged three times in four. */
export const btfBlob: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    btfTypes(),
    fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: damages(3) }),
  )
  .map(([raw, ds]) => {
    const blob = writeBtf(raw);
    return applyDamage(blob.bytes, ds, btfHot(blob));
  });

// ---- .BTF.ext ------------------------------------------------------------------------------------

/** A BTF with FUNCs and a .BTF.ext whose records point at them, damaged or not: [btf, ext]. */
export const btfWithExt: fc.Arbitrary<[Uint8Array, Uint8Array]> = fc
  .tuple(
    btfTypes(12),
    fc.constantFrom(
      'xdp',
      'tc',
      '.text',
      'tracepoint/syscalls/sys_enter_execve',
      'kprobe/do_sys_open',
      'socket',
    ),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 14 })), { maxLength: 6 }),
    fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 4000 }),
        fc.integer({ min: 0, max: 200 }),
      ),
      { maxLength: 6 },
    ),
    fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 14 }),
        fc.constantFrom('0', '0:0', '0:1', '0:1:2', '1', '0:2:0', 'x', '', '0:-1', '99999999999'),
        fc.integer({ min: 0, max: 13 }),
      ),
      { maxLength: 6 },
    ),
    fc.oneof(
      { weight: 6, arbitrary: fc.constant<[number, number, number]>([8, 16, 16]) },
      {
        weight: 1,
        arbitrary: fc.tuple(
          fc.constantFrom(0, 4, 8, 12, 16, 7),
          fc.constantFrom(0, 8, 16, 20),
          fc.constantFrom(0, 12, 16, 24),
        ),
      },
    ),
    fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: damages(3) }),
  )
  .map(([raw, section, funcs, lines, relos, recSizes, ds]): [Uint8Array, Uint8Array] => {
    const strings = new Strings();
    const ext: RawExt = {
      le: raw.le,
      funcInfo: [{ section, records: funcs.map(([insn, t]) => [insn * 8, t]) }],
      lineInfo: [
        {
          section,
          records: lines.map(([insn, line, col]) => [
            insn * 8,
            { str: 'prog.c' },
            { str: `  return ${line};` },
            (line << 10) | col,
          ]),
        },
      ],
      coreRelo: [
        { section, records: relos.map(([insn, t, access, kind]) => [insn * 8, t, { str: access }, kind]) },
      ],
      recSizes,
    };
    const extBytes = writeExt(ext, strings);
    // The ext's names live in the BTF's string table, so the BTF is written after them.
    const btf = writeBtf(raw, strings).bytes;
    const hot = [4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48];
    return [btf, applyDamage(extBytes, ds, hot)];
  });

// ---- instructions -------------------------------------------------------------------------------

const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0];
const JMP_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0];

/** Opcodes the ISA defines (with their usual off/imm), and now and then any byte. */
const opcode = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...ALU_OPS), fc.constantFrom(0x04, 0x07), fc.constantFrom(0, 8))
      .map(([op, cls, s]) => op | cls | s),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom(...JMP_OPS), fc.constantFrom(0x05, 0x06), fc.constantFrom(0, 8))
      .map(([op, cls, s]) => op | cls | s),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom(0x60, 0x20, 0x80),
        fc.constantFrom(0x00, 0x08, 0x10, 0x18),
        fc.constantFrom(0x01, 0x02, 0x03),
      )
      .map(([mode, size, cls]) => mode | size | cls),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      0xdb,
      0xc3,
      0x18,
      0x85,
      0x95,
      0x05,
      0x06,
      0xd4,
      0xdc,
      0xd7,
      0x20,
      0x28,
      0x30,
      0x40,
      0x48,
      0x50,
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);

const insn = fc
  .tuple(
    opcode,
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 10 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
    ),
    fc.oneof(
      { weight: 4, arbitrary: fc.integer({ min: 0, max: 10 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) },
    ),
    fc.oneof(
      fc.constantFrom(0, 1, -1, 8, 16, 32, 0x7fff, -0x8000),
      fc.integer({ min: -0x8000, max: 0x7fff }),
    ),
    fc.oneof(
      fc.constantFrom(0, 1, -1, 8, 16, 32, 64, 0xc3, 0xe1, 0xf1, 0x7fffffff, -0x80000000),
      fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    ),
    fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  )
  .map(([op, dst, src, off, imm, imm2]) => ({ op, dst, src, off, imm, imm2 }));

/** Instruction bytes; the first byte of the input says the byte order (bit 0: big-endian). */
export const insnStream: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.boolean(),
    fc.array(insn, { maxLength: 40 }),
    fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: damages(2) }),
  )
  .map(([be, insns, ds]) => {
    const out: number[] = [be ? 1 : 0];
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    for (const i of insns) {
      b.fill(0);
      b[0] = i.op;
      b[1] = be ? (i.dst << 4) | i.src : (i.src << 4) | i.dst;
      v.setInt16(2, i.off, !be);
      v.setInt32(4, i.imm, !be);
      if (i.op === 0x18) v.setInt32(12, i.imm2, !be);
      out.push(...b.subarray(0, i.op === 0x18 ? 16 : 8));
    }
    return applyDamage(Uint8Array.from(out), ds);
  });

// ---- ELF objects -----------------------------------------------------------------------------------

/** Section names the object reader sorts by (programs, maps, data, license, BTF). */
const PROG_SECTIONS = [
  'xdp',
  'tc',
  'socket',
  'kprobe/do_sys_open',
  'tracepoint/syscalls/sys_enter_execve',
  'classifier',
  'cgroup_skb/ingress',
  'tp_btf/sched_switch',
  'struct_ops/x',
  '.text',
  'uprobe//bin/true:main',
  'raw_tp/sys_enter',
  'fentry/f',
  'iter/task',
  'sk_lookup',
  'weird/section',
];

const symbol = (n: number) =>
  fc.record({
    name: ident,
    info: fc.constantFrom(0x12, 0x11, 0x10, 0x02, 0x01, 0x03, 0x00, 0x22, 0x13),
    shndx: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 1, max: Math.max(1, n) }) },
      { weight: 1, arbitrary: fc.constantFrom(0, 0xfff1, 0xfff2, 0xffff, n + 5) },
    ),
    value: fc.oneof(fc.constantFrom(0, 8, 16), fc.integer({ min: 0, max: 512 })),
    size: fc.oneof(fc.constantFrom(0, 8, 16, 4, 24), fc.integer({ min: 0, max: 512 })),
  });

/**
 * An ELF object with program sections (generated instructions), data, a license, a legacy maps
 * section and sometimes BTF, with symbols and relocations between them; damaged two times in three
 * (header fields, section headers, symbols, relocation records, data).
 */
export const elfObject: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.boolean(),
    fc.array(fc.tuple(fc.constantFrom(...PROG_SECTIONS), insnStream), { minLength: 1, maxLength: 3 }),
    fc.option(fc.uint8Array({ maxLength: 64 })),
    fc.option(
      fc.array(
        fc.tuple(
          fc.constantFrom(1, 2, 5, 6, 27),
          fc.constantFrom(4, 8, 1, 0),
          fc.constantFrom(4, 8, 16, 0),
          fc.integer({ min: 0, max: 4096 }),
        ),
        { maxLength: 3 },
      ),
    ),
    fc.option(btfTypes(8)),
    fc.constantFrom('GPL', 'Dual BSD/GPL', 'proprietary', ''),
    fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 64 }),
        fc.constantFrom(1, 2, 3, 10, 0, 99),
      ),
      { maxLength: 6 },
    ),
    fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 2, arbitrary: damages(3) }),
  )
  .chain(([be, progs, data, maps, btf, license, rels, ds]) =>
    fc.array(symbol(progs.length + 4), { maxLength: 8 }).map((syms) => {
      const le = !be;
      const sections: RawElf['sections'] = progs.map(([name, code], i) => ({
        name: progs.findIndex(([n]) => n === name) === i ? name : `${name}${i}`,
        type: SHT.PROGBITS,
        flags: SHF.ALLOC | SHF.EXECINSTR,
        data: code.subarray(1, 1 + ((code.length - 1) & ~7)),
      }));
      if (data) sections.push({ name: '.data', type: SHT.PROGBITS, flags: SHF.ALLOC | SHF.WRITE, data });
      if (maps) {
        const m = new DataView(new ArrayBuffer(20 * maps.length));
        maps.forEach(([type, key, value, max], i) => {
          m.setUint32(20 * i, type, le);
          m.setUint32(20 * i + 4, key, le);
          m.setUint32(20 * i + 8, value, le);
          m.setUint32(20 * i + 12, max, le);
        });
        sections.push({
          name: 'maps',
          type: SHT.PROGBITS,
          flags: SHF.ALLOC | SHF.WRITE,
          data: new Uint8Array(m.buffer),
        });
      }
      sections.push({
        name: 'license',
        type: SHT.PROGBITS,
        flags: SHF.ALLOC | SHF.WRITE,
        data: new TextEncoder().encode(`${license}\0`),
      });
      if (btf)
        sections.push({ name: '.BTF', type: SHT.PROGBITS, flags: 0, data: writeBtf({ ...btf, le }).bytes });
      const symbols: RawElf['symbols'] = [
        ...progs.map(([name], i) => ({
          name: `prog${i}`,
          info: 0x12,
          shndx: i + 1,
          value: 0,
          size: (progs[i]![1].length - 1) & ~7 || 8,
          section: name,
        })),
        ...syms.map((s) => ({ ...s })),
      ];
      if (maps)
        maps.forEach((_, i) =>
          symbols.push({ name: `map${i}`, info: 0x11, shndx: 'maps', value: 20 * i, size: 20 }),
        );
      const relocations = progs
        .map((_, pi) => ({
          section: sections[pi]!.name,
          rels: rels
            .filter(([p]) => p === pi)
            .map(([, insnIdx, symIdx]) => ({ offset: insnIdx * 8, symbol: symIdx, type: 1 })),
        }))
        .filter((r) => r.rels.length > 0);
      const blob: ElfBlob = writeElf({ le, sections, symbols, relocations });
      const hot = [0x10, 0x12, 0x14, 0x28, 0x3a, 0x3c, 0x3e];
      for (let i = 1; i < blob.shnum; i++)
        hot.push(...[4, 24, 32, 40, 44, 56].map((f) => blob.shoff + 64 * i + f));
      return applyDamage(blob.bytes, ds, hot);
    }),
  );

// ---- map values ----------------------------------------------------------------------------------

/**
 * A BTF whose last type is a value type with a sane layout (ints, enums, floats, arrays, nested
 * structs and unions, bitfields), and the id of it: what a map's value codec is built from.
 */
export const valueType: fc.Arbitrary<{ btf: Uint8Array; id: number; size: number }> = fc
  .tuple(
    fc.boolean(),
    fc.array(
      fc.oneof(
        fc.tuple(fc.constant('int' as const), fc.constantFrom(1, 2, 4, 8, 16), fc.constantFrom(0, 1, 2, 4)),
        fc.tuple(fc.constant('enum' as const), fc.constantFrom(1, 2, 4, 8), fc.boolean()),
        fc.tuple(fc.constant('float' as const), fc.constantFrom(4, 8), fc.constant(0)),
        fc.tuple(fc.constant('array' as const), fc.integer({ min: 0, max: 6 }), fc.constant(0)),
        fc.tuple(fc.constant('bitfield' as const), fc.integer({ min: 1, max: 31 }), fc.constant(0)),
        fc.tuple(fc.constant('ptr' as const), fc.constant(8), fc.constant(0)),
        fc.tuple(fc.constant('union' as const), fc.integer({ min: 1, max: 3 }), fc.constant(0)),
      ),
      { minLength: 1, maxLength: 8 },
    ),
    fc.constantFrom('STRUCT', 'TYPEDEF', 'ARRAY', 'CONST'),
  )
  .map(([be, fields, wrap]) => {
    const types: RawType[] = [];
    const add = (t: RawType): number => types.push(t);
    const intOf = (size: number, enc = 0): number =>
      add({
        name: `i${size}_${enc}`,
        kind: K.INT,
        vlen: 0,
        kflag: false,
        sizeType: size,
        extra: [(enc << 24) | (size * 8)],
      });
    const u32 = intOf(4);
    const members: { name: string; type: number; bitOff: number; bits: number; size: number }[] = [];
    let off = 0; // bits
    const place = (name: string, type: number, size: number, align: number, bits = 0): void => {
      const a = align * 8;
      if (bits === 0) off = Math.ceil(off / a) * a;
      members.push({ name, type, bitOff: off, bits, size });
      off += bits > 0 ? bits : size * 8;
    };
    fields.forEach(([kind, p, q], i) => {
      const name = `f${i}`;
      if (kind === 'int') place(name, intOf(p, q), p, Math.min(p, 8));
      else if (kind === 'enum') {
        const id = add({
          name: `e${i}`,
          kind: p === 8 ? K.ENUM64 : K.ENUM,
          vlen: 2,
          kflag: q as boolean,
          sizeType: p,
          extra:
            p === 8
              ? [{ str: `A${i}` }, 1, 0, { str: `B${i}` }, 0xffffffff, 0x7fffffff]
              : [{ str: `A${i}` }, 1, { str: `B${i}` }, 0xffffffff >>> (32 - 8 * p)],
        });
        place(name, id, p, p);
      } else if (kind === 'float')
        place(
          name,
          add({ name: `fl${p}`, kind: K.FLOAT, vlen: 0, kflag: false, sizeType: p, extra: [] }),
          p,
          p,
        );
      else if (kind === 'array')
        place(
          name,
          add({ name: '', kind: K.ARRAY, vlen: 0, kflag: false, sizeType: 0, extra: [intOf(2), u32, p] }),
          2 * p,
          2,
        );
      else if (kind === 'bitfield') place(name, u32, 4, 4, p);
      else if (kind === 'ptr')
        place(name, add({ name: '', kind: K.PTR, vlen: 0, kflag: false, sizeType: u32, extra: [] }), 8, 8);
      else {
        const uid = add({
          name: `u${i}`,
          kind: K.UNION,
          vlen: 2,
          kflag: false,
          sizeType: 4 * p,
          extra: [
            { str: 'a' },
            u32,
            0,
            { str: 'b' },
            add({
              name: '',
              kind: K.ARRAY,
              vlen: 0,
              kflag: false,
              sizeType: 0,
              extra: [intOf(1), u32, 4 * p],
            }),
            0,
          ],
        });
        place(name, uid, 4 * p, 4);
      }
    });
    const size = Math.ceil(off / 64) * 8 || 8;
    const kflag = members.some((m) => m.bits > 0);
    let id = add({
      name: 'value',
      kind: K.STRUCT,
      vlen: members.length,
      kflag,
      sizeType: size,
      extra: members.flatMap((m) => [{ str: m.name }, m.type, kflag ? (m.bits << 24) | m.bitOff : m.bitOff]),
    });
    let total = size;
    if (wrap === 'TYPEDEF')
      id = add({ name: 'value_t', kind: K.TYPEDEF, vlen: 0, kflag: false, sizeType: id, extra: [] });
    if (wrap === 'CONST')
      id = add({ name: '', kind: K.CONST, vlen: 0, kflag: false, sizeType: id, extra: [] });
    if (wrap === 'ARRAY') {
      id = add({ name: '', kind: K.ARRAY, vlen: 0, kflag: false, sizeType: 0, extra: [id, u32, 3] });
      total *= 3;
    }
    return { btf: writeBtf({ le: !be, types }).bytes, id, size: total };
  });
