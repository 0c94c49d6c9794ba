// The fuzz targets: each is a generator of structure-aware inputs, seeds from testdata, and a run
// that feeds one input to one part of the library and checks its properties. A run may throw the
// project's typed errors (EbpfError and its subclasses) and nothing else: anything else, a failed
// property (FuzzPropertyError), a hang or memory without bound is a finding.
import { isUtf8 } from 'node:buffer';
import { isDeepStrictEqual } from 'node:util';
import { mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { decode, disassemble, disassembleBytes, encode, formatInstruction } from '../../src/asm/index.js';
import { Btf, KIND_NAMES, recordSize } from '../../src/btf/btf.js';
import { BTF_INT_BOOL, BTF_INT_CHAR } from '../../src/btf/types.js';
import { codecFor } from '../../src/btf/codec.js';
import { parseBtfExt } from '../../src/btf/ext.js';
import { formatC } from '../../src/btf/format-c.js';
import { formatRaw, rawJson } from '../../src/btf/format-raw.js';
import { formatTree } from '../../src/btf/format-tree.js';
import { parseKernelBtf } from '../../src/btf/kernel.js';
import { btfTarget, type CoreTarget } from '../../src/core/target.js';
import { resolveRelocation } from '../../src/core/resolve.js';
import { parseElf } from '../../src/elf/index.js';
import { EbpfError } from '../../src/errors.js';
import {
  type Feature,
  resetFeatureCache,
  restoreFeatureCache,
  saveFeatureCache,
} from '../../src/features/feature.js';
import { loadObject, loadObjectAsync, type TraceEvent } from '../../src/loader/index.js';
import { type ObjectSpec, objectSpecFromElf } from '../../src/object/index.js';
import {
  btfGetInfo,
  btfGetNextId,
  mapGetInfo,
  mapGetNextId,
  progGetInfo,
  progGetNextId,
} from '../../src/sys/bpf.js';
import { setSyscallFault } from '../../src/sys/native.js';
import { btfBlob, btfWithExt, elfObject, insnStream, valueType } from './arbitraries.js';
import { K, type RawType, Strings, pack, unpack, writeBtf } from './raw.js';

export const REPO = join(import.meta.dirname, '..', '..');
const TESTDATA = join(REPO, 'testdata');

/** A property the target checks did not hold: always a finding. */
export class FuzzPropertyError extends Error {
  override name = 'FuzzPropertyError';
  /** The input that failed, when the property was checked after later inputs ran (see settle). */
  input?: Uint8Array;
}

export interface Target {
  name: string;
  what: string;
  /** Source directories or files (relative to the repo) whose coverage is this target's. */
  files: string[];
  /** How many container parts an input has (mutations stay inside one); 0: plain bytes. */
  parts: number;
  /** Milliseconds after which one run is a hang. */
  hangMs: number;
  /** Called once in the fuzzing thread before any run. */
  setup?(): void;
  teardown?(): void;
  generate(): fc.Arbitrary<Uint8Array>;
  seeds(): Uint8Array[];
  run(input: Uint8Array): void | Promise<void>;
  /**
   * Finishes the checks a target defers past later runs (the load target's look for kernel
   * objects left); called after the last run. A FuzzPropertyError from here or from a run may
   * carry the input it is about (`input`), which is not the one that ran last.
   */
  settle?(): void;
}

// ---- seeds from testdata --------------------------------------------------------------------------

let objectCache: { name: string; bytes: Uint8Array }[] | undefined;
/** Every object in testdata (both byte orders), read once. */
function objects(): { name: string; bytes: Uint8Array }[] {
  objectCache ??= readdirSync(TESTDATA)
    .filter((f) => f.endsWith('.o'))
    .sort()
    .map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(TESTDATA, f))) }));
  return objectCache;
}

function sectionsOf(name: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const o of objects()) {
    try {
      const s = parseElf(o.bytes, o.name).section(name);
      if (s !== undefined) out.push(s.data().slice());
    } catch {
      // a testdata object the reader refuses is no seed
    }
  }
  return out;
}

// ---- checks shared by targets ----------------------------------------------------------------------

function expect(ok: boolean, what: string): void {
  if (!ok) throw new FuzzPropertyError(what);
}

/** Run f; a typed error is an accepted outcome (returns undefined). */
function typed<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (e instanceof EbpfError) return undefined;
    throw e;
  }
}

/** What a consumer touches of a parsed BTF: every type, sizes, alignments, lookups, resolution. */
function exerciseBtf(btf: Btf): void {
  for (let id = 0; id < btf.endTypeId; id++) {
    const t = btf.type(id);
    typed(() => btf.sizeof(id));
    typed(() => btf.alignof(id));
    typed(() => btf.resolve(id));
    if (t.name !== '') typed(() => btf.findByName(t.name));
  }
}

/** Types of a Btf without its id-independent caches: what a round trip must keep. */
function typesOf(btf: Btf): unknown[] {
  const out: unknown[] = [];
  for (let id = 1; id < btf.endTypeId; id++) out.push(btf.type(id));
  return out;
}

// ---- targets ----------------------------------------------------------------------------------------

const elf: Target = {
  name: 'elf',
  what: 'the ELF reader: header, section headers, names, symbols, relocations, segments',
  files: ['src/elf/', 'src/internal/reader.ts', 'src/internal/cstring.ts'],
  parts: 0,
  hangMs: 5000,
  generate: () => elfObject,
  seeds: () => objects().map((o) => o.bytes),
  run(b) {
    const f = parseElf(b, 'fuzz.o');
    for (const s of f.sections) {
      s.data();
      typed(() => f.symbolsIn(s.index));
      typed(() => f.relocationsFor(s.index));
    }
    for (const sym of f.symbols) typed(() => f.symbolSection(sym));
    typed(() => f.dynamicSymbols);
    typed(() => f.segments);
    typed(() => f.relocationSections);
    typed(() => f.section('.BTF'));
  },
};

const insn: Target = {
  name: 'insn',
  what: 'instruction decode/encode (round trip: encode(decode(b)) == b) and the disassembler',
  files: ['src/asm/'],
  parts: 0,
  hangMs: 5000,
  generate: () => insnStream,
  seeds: () =>
    sectionsOf('xdp')
      .concat(sectionsOf('.text'), sectionsOf('tc'))
      .map((s) => Uint8Array.of(0, ...s)),
  run(input) {
    if (input.length === 0) return;
    const le = (input[0]! & 1) === 0;
    const bytes = input.subarray(1);
    const insns = typed(() => decode(bytes, le));
    if (insns !== undefined) {
      const back = encode(insns, le);
      expect(
        isDeepStrictEqual(back, bytes.slice()),
        `encode(decode(b)) differs from b (${bytes.length} bytes)`,
      );
      for (const i of insns) formatInstruction(i);
      disassemble(insns);
      // The other byte order: decoding is total on whole slots, encoding must invert it too.
      const other = decode(bytes.subarray(0, bytes.length & ~15), !le);
      expect(
        isDeepStrictEqual(encode(other, !le), bytes.slice(0, bytes.length & ~15)),
        'round trip in the other byte order',
      );
    }
    typed(() => disassembleBytes(bytes, le));
  },
};

/** Parse + exercise + marshal; the round trip keeps every type (and the bytes of a canonical blob). */
function btfRoundTrip(b: Uint8Array): Btf | undefined {
  const btf = typed(() => Btf.parse(b));
  if (btf === undefined) return undefined;
  exerciseBtf(btf);
  const m = btf.marshal();
  const again = Btf.parse(m);
  expect(
    isDeepStrictEqual(typesOf(again), typesOf(btf)),
    'parse(marshal(parse(b))) has other types than parse(b)',
  );
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = btf.littleEndian;
  const canonical =
    v.getUint32(4, le) === 24 &&
    v.getUint32(8, le) === 0 &&
    v.getUint32(16, le) === v.getUint32(12, le) &&
    24 + v.getUint32(16, le) + v.getUint32(20, le) === b.length;
  // A canonical b comes back byte for byte, unless its string table leaves the choice of name
  // offsets open (see exact()); either way marshal's own output is a fixed point.
  if (canonical && !isDeepStrictEqual(m, b.slice()) && exact(b.subarray(24 + v.getUint32(16, le))))
    throw new FuzzPropertyError(`marshal(parse(b)) differs from a canonical b${whereDiffers(b, m, le)}`);
  expect(isDeepStrictEqual(again.marshal(), m), 'marshal(parse(m)) differs from m = marshal(parse(b))');
  return btf;
}

/**
 * Whether a string table pins every name's offset down, so that a round trip must give back the
 * same offsets: the model keeps names, not offsets, and marshal writes each name at the first
 * place the table holds it (as a whole string or the tail of one). Where a name is stored twice,
 * or a name is not UTF-8 (read with U+FFFD: the kernel takes neither name, identifiers are
 * ASCII), the bytes may differ while every type is the same (checked before). Run only on a
 * mismatch: it is quadratic in the table's size.
 */
function exact(strs: Uint8Array): boolean {
  const t = Buffer.from(strs.buffer, strs.byteOffset, strs.byteLength);
  for (let k = 0; k < t.length; k++) {
    if (t[k] === 0) continue;
    let nul = t.indexOf(0, k);
    if (nul < 0) nul = t.length;
    if (!isUtf8(t.subarray(k, nul)) || t.indexOf(t.subarray(k, nul + 1)) < k) return false;
  }
  return true;
}

/** Which type record (id and kind) of canonical BTF `a` first differs in `b`; '' when none does. */
function whereDiffers(a: Uint8Array, b: Uint8Array, le: boolean): string {
  const v = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const end = 24 + v.getUint32(16, le);
  let at = 0;
  while (at < a.length && a[at] === b[at]) at++;
  if (at < 24) return ` in the header, byte ${at}`;
  if (at >= end) return ' in the string section';
  for (let off = 24, id = 1; off + 12 <= end; id++) {
    const info = v.getUint32(off + 4, le);
    const kind = (info >>> 24) & 0x1f;
    const next = off + Math.max(12, recordSize(kind, info & 0xffff));
    if (at < next) return ` in type ${id} (${KIND_NAMES[kind] ?? kind}), record byte ${at - off}`;
    off = next;
  }
  return '';
}

const btf: Target = {
  name: 'btf',
  what: 'BTF parse, every type, sizeof/alignof/resolve/lookups, marshal (round trip as a property)',
  files: ['src/btf/btf.ts', 'src/btf/builder.ts', 'src/btf/strings.ts', 'src/btf/types.ts'],
  parts: 0,
  hangMs: 5000,
  generate: () => btfBlob,
  seeds: () => sectionsOf('.BTF'),
  run(b) {
    btfRoundTrip(b);
  },
};

const btfExt: Target = {
  name: 'btf-ext',
  what: '.BTF.ext: func_info, line_info and CO-RE relocation records against their BTF',
  files: ['src/btf/ext.ts'],
  parts: 2,
  hangMs: 5000,
  generate: () => btfWithExt.map((p) => pack(p)),
  seeds() {
    const out: Uint8Array[] = [];
    for (const o of objects()) {
      const f = typed(() => parseElf(o.bytes));
      const b = f?.section('.BTF');
      const e = f?.section('.BTF.ext');
      if (b && e) out.push(pack([b.data(), e.data()]));
    }
    return out;
  },
  run(input) {
    const [b, e] = unpack(input, 2) as [Uint8Array, Uint8Array];
    const parsed = typed(() => Btf.parse(b));
    if (parsed === undefined) return;
    const ext = parseBtfExt(e, parsed, { file: 'fuzz.o' });
    for (const recs of ext.funcInfo.values())
      for (const r of recs) expect(r.insnOff % 8 === 0, 'func_info insnOff not on a slot');
    for (const recs of ext.lineInfo.values())
      for (const r of recs) expect(r.insnOff % 8 === 0, 'line_info insnOff not on a slot');
  },
};

const btfFormat: Target = {
  name: 'btf-format',
  what: 'the BTF formatters: raw (bpftool-style text and JSON), C (vmlinux.h-style), tree',
  files: [
    'src/btf/format-raw.ts',
    'src/btf/format-c.ts',
    'src/btf/format-c-layout.ts',
    'src/btf/format-tree.ts',
    'src/btf/c-name.ts',
    'src/btf/walk.ts',
  ],
  parts: 0,
  hangMs: 5000,
  generate: () => btfBlob,
  seeds: () => sectionsOf('.BTF'),
  run(b) {
    const parsed = typed(() => Btf.parse(b));
    if (parsed === undefined) return;
    typed(() => formatRaw(parsed));
    typed(() => JSON.stringify(rawJson(parsed)));
    typed(() => formatTree(parsed));
    typed(() => formatC(parsed));
  },
};

const object: Target = {
  name: 'object',
  what: 'the object spec: programs, maps (BTF and legacy), globals, externs, relocations, subprograms, struct_ops',
  files: ['src/object/', 'src/btf/from-elf.ts'],
  parts: 0,
  hangMs: 10000,
  generate: () =>
    fc.oneof(
      { weight: 1, arbitrary: elfObject },
      // A testdata object with a few of its words damaged where the object reader looks.
      {
        weight: 2,
        arbitrary: fc
          .tuple(
            fc.nat(),
            fc.array(
              fc.tuple(
                fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
                fc.nat(),
                fc.constantFrom(0, 1, 2, 3, 8, 0xff, 0xffff, 0x7fffffff, 0xffffffff, -1, -8, 8),
              ),
              { minLength: 1, maxLength: 3 },
            ),
          )
          .map(([which, ds]) => {
            const o = objects()[which % objects().length]!;
            const b = o.bytes.slice();
            const f = parseElf(o.bytes);
            const v = new DataView(b.buffer);
            for (const [frac, sec, value] of ds) {
              const s = f.sections[1 + (sec % (f.sections.length - 1))]!;
              if (s.size < 4 || s.type === 8) continue;
              const at = s.offset + (Math.floor(frac * s.size) & ~3);
              if (at + 4 > b.length) continue;
              const old = v.getUint32(at, f.littleEndian);
              v.setUint32(at, Math.abs(value) <= 8 ? old + value : value, f.littleEndian);
            }
            return b;
          }),
      },
    ),
  seeds: () => objects().map((o) => o.bytes),
  run(b) {
    const spec = objectSpecFromElf(parseElf(b, 'fuzz.o'));
    for (const p of spec.programs.values()) void p.instructions.length;
  },
};

// ---- CO-RE against vmlinux --------------------------------------------------------------------------

let vmlinux: { btf: Btf; target: CoreTarget; structs: number[]; enums: number[] } | undefined;
function kernel(): NonNullable<typeof vmlinux> {
  if (vmlinux === undefined) {
    const btf = parseKernelBtf();
    const structs: number[] = [];
    const enums: number[] = [];
    for (let id = 1; id < btf.endTypeId; id++) {
      const t = btf.type(id);
      if ((t.kind === 'STRUCT' || t.kind === 'UNION') && t.name !== '' && t.members.length > 0)
        structs.push(id);
      if ((t.kind === 'ENUM' || t.kind === 'ENUM64') && t.name !== '') enums.push(id);
    }
    vmlinux = { btf, target: btfTarget(btf, 'vmlinux'), structs, enums };
  }
  return vmlinux;
}

/**
 * A local BTF shaped after real kernel types (a struct with some of its members, their types
 * copied roughly: ints of the same size, pointers, nested structs by name, arrays), possibly with
 * renamed members and changed types, and relocations through it: [btf, relocations], each
 * relocation a u32 type id, u32 kind and a NUL-terminated access string.
 */
function coreInput(): fc.Arbitrary<Uint8Array> {
  const k = kernel();
  const rename = fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('nope', 'x', '') },
  );
  return fc
    .tuple(
      fc.nat(k.structs.length - 1),
      fc.nat(k.enums.length - 1),
      fc.array(fc.tuple(fc.nat(), rename, fc.constantFrom('same', 'same', 'same', 'int1', 'ptr', 'int8')), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.constantFrom('', '___flavor', '___v2'),
      fc.array(
        fc.tuple(
          fc.constantFrom(1, 2, 3),
          fc.integer({ min: 0, max: 12 }),
          fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 3 }),
          fc.nat(3),
        ),
        { minLength: 1, maxLength: 6 },
      ),
      fc.boolean(),
    )
    .map(([si, ei, picks, flavor, relos, le]) => {
      const st = k.btf.type(k.structs[si]!);
      const en = k.btf.type(k.enums[ei]!);
      if ((st.kind !== 'STRUCT' && st.kind !== 'UNION') || (en.kind !== 'ENUM' && en.kind !== 'ENUM64'))
        throw new Error('vmlinux index');
      const types: RawType[] = [];
      const add = (t: RawType): number => types.push(t);
      const int = (size: number): number =>
        add({ name: `int${size}`, kind: K.INT, vlen: 0, kflag: false, sizeType: size, extra: [size * 8] });
      const memberType = (id: number, how: string): number => {
        if (how === 'int1') return int(1);
        if (how === 'int8') return int(8);
        if (how === 'ptr')
          return add({ name: '', kind: K.PTR, vlen: 0, kflag: false, sizeType: 0, extra: [] });
        const t = k.btf.resolve(id);
        switch (t.kind) {
          case 'INT':
          case 'ENUM':
          case 'ENUM64':
          case 'FLOAT':
            return int(Math.max(1, Math.min(16, t.size)));
          case 'PTR':
            return add({ name: '', kind: K.PTR, vlen: 0, kflag: false, sizeType: 0, extra: [] });
          case 'ARRAY':
            return add({
              name: '',
              kind: K.ARRAY,
              vlen: 0,
              kflag: false,
              sizeType: 0,
              extra: [int(1), int(4), t.nelems],
            });
          case 'STRUCT':
          case 'UNION':
            return add({
              name: t.name,
              kind: t.kind === 'STRUCT' ? K.STRUCT : K.UNION,
              vlen: 0,
              kflag: false,
              sizeType: t.size,
              extra: [],
            });
          default:
            return int(4);
        }
      };
      const chosen = picks.map(([i, name, how]) => {
        const m = st.members[i % st.members.length]!;
        return {
          name: name ?? m.name,
          type: memberType(m.type, how),
          bits: m.bitsOffset,
          size: m.bitfieldSize,
        };
      });
      const root = add({
        name: `${st.name}${flavor}`,
        kind: st.kind === 'STRUCT' ? K.STRUCT : K.UNION,
        vlen: chosen.length,
        kflag: chosen.some((m) => m.size > 0),
        sizeType: st.size,
        extra: chosen.flatMap((m) => [
          { str: m.name },
          m.type,
          chosen.some((c) => c.size > 0) ? (m.size << 24) | m.bits : m.bits,
        ]),
      });
      const enumId = add({
        name: en.name,
        kind: en.kind === 'ENUM' ? K.ENUM : K.ENUM64,
        vlen: Math.min(3, en.values.length),
        kflag: false,
        sizeType: en.size,
        extra: en.values
          .slice(0, 3)
          .flatMap((v) =>
            en.kind === 'ENUM'
              ? [{ str: v.name }, Number(BigInt.asUintN(32, BigInt(v.value)))]
              : [
                  { str: v.name },
                  Number(BigInt.asUintN(32, BigInt(v.value))),
                  Number(BigInt.asUintN(32, BigInt(v.value) >> 32n)),
                ],
          ),
      });
      const strings = new Strings();
      const blob = writeBtf({ le, types }, strings).bytes;
      const rel: number[] = [];
      for (const [which, kind, path, extra] of relos) {
        const typeId = which === 1 ? root : which === 2 ? enumId : 1 + (extra % types.length);
        const access = which === 2 ? String(extra % 3) : ['0', ...path.map(String)].join(':');
        const s = new TextEncoder().encode(`${access}\0`);
        const w = new DataView(new ArrayBuffer(8));
        w.setUint32(0, typeId, true);
        w.setUint32(4, kind, true);
        rel.push(...new Uint8Array(w.buffer), ...s);
      }
      return pack([blob, Uint8Array.from(rel)]);
    });
}

const core: Target = {
  name: 'core',
  what: 'CO-RE relocation resolution (spec parsing, candidates, matching, values) against this kernel’s vmlinux BTF',
  files: ['src/core/'],
  parts: 2,
  hangMs: 10000,
  setup: () => void kernel(),
  generate: coreInput,
  seeds() {
    // The testdata objects' own BTF and CO-RE relocations.
    const out: Uint8Array[] = [];
    for (const o of objects()) {
      const f = typed(() => parseElf(o.bytes));
      const b = f?.section('.BTF');
      const e = f?.section('.BTF.ext');
      if (!b || !e || !f?.littleEndian) continue;
      const btf = typed(() => Btf.parse(b.data()));
      const ext = btf && typed(() => parseBtfExt(e.data(), btf));
      if (!ext) continue;
      const rel: number[] = [];
      for (const recs of ext.coreRelos.values())
        for (const r of recs) {
          const w = new DataView(new ArrayBuffer(8));
          w.setUint32(0, r.typeId, true);
          w.setUint32(4, r.kind, true);
          rel.push(...new Uint8Array(w.buffer), ...new TextEncoder().encode(`${r.accessStr}\0`));
        }
      if (rel.length > 0) out.push(pack([b.data(), Uint8Array.from(rel)]));
    }
    return out;
  },
  run(input) {
    const [b, r] = unpack(input, 2) as [Uint8Array, Uint8Array];
    const local = typed(() => Btf.parse(b));
    if (local === undefined) return;
    const { target } = kernel();
    const cache = new Map();
    for (const relo of coreRecords(r)) typed(() => resolveRelocation(local, relo, target, { cache }));
  },
};

/** The core target's relocation records: (type id u32, kind u32, access string NUL-ended), the first 4 KiB. */
export function coreRecords(r: Uint8Array): { typeId: number; kind: number; accessStr: string }[] {
  const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
  const out = [];
  for (let at = 0; at + 8 < r.length && at < 4096;) {
    const typeId = v.getUint32(at, true);
    const kind = v.getUint32(at + 4, true);
    let end = at + 8;
    while (end < r.length && r[end] !== 0) end++;
    out.push({ typeId, kind, accessStr: new TextDecoder().decode(r.subarray(at + 8, end)) });
    at = end + 1;
  }
  return out;
}

/** Whether a value of type `id` holds a union none of whose full-size members keeps every byte. */
function hasLossyUnion(btf: Btf, id: number, depth = 0): boolean {
  if (depth > 32) return false;
  const t = btf.type(id);
  switch (t.kind) {
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
    case 'RESTRICT':
    case 'TYPE_TAG':
      return hasLossyUnion(btf, t.type, depth + 1);
    case 'ARRAY':
      return hasLossyUnion(btf, t.type, depth + 1);
    case 'STRUCT':
      return t.members.some((m) => hasLossyUnion(btf, m.type, depth + 1));
    case 'UNION':
      return !t.members.some(
        (m) => m.bitsOffset === 0 && m.bitfieldSize === 0 && exactType(btf, m.type, t.size),
      );
    default:
      return false;
  }
}

/** Whether decode then encode keeps every byte of a `size`-byte value of type `id` (ints and arrays of them). */
function exactType(btf: Btf, id: number, size: number): boolean {
  const t = btf.type(id);
  if (t.kind === 'TYPEDEF' || t.kind === 'CONST' || t.kind === 'VOLATILE')
    return exactType(btf, t.type, size);
  if (t.kind === 'INT')
    return (
      (t.encoding & BTF_INT_BOOL) === 0 && t.bitsOffset === 0 && t.bits === t.size * 8 && t.size === size
    );
  if (t.kind === 'ARRAY') {
    const e = btf.type(t.type);
    return (
      e.kind === 'INT' &&
      (e.encoding & (BTF_INT_BOOL | BTF_INT_CHAR)) === 0 &&
      e.bitsOffset === 0 &&
      e.bits === e.size * 8 &&
      e.size * t.nelems === size
    );
  }
  return false;
}

// ---- map value codecs ----------------------------------------------------------------------------------

const codec: Target = {
  name: 'codec',
  what: 'map value codecs from BTF: decode then encode gives the bytes back (bits the type covers), wrong values are CodecErrors',
  files: ['src/btf/codec.ts', 'src/btf/value-rules.ts', 'src/btf/format-value.ts'],
  parts: 3,
  hangMs: 5000,
  generate: () =>
    fc
      .tuple(valueType, fc.uint8Array({ minLength: 0, maxLength: 512 }), fc.boolean())
      .map(([t, fill, any]) => {
        const id = new Uint8Array(4);
        new DataView(id.buffer).setUint32(0, any ? (fill[0] ?? 0) % 40 : t.id, true);
        const value = new Uint8Array(t.size);
        value.set(fill.subarray(0, t.size));
        return pack([t.btf, id, value]);
      }),
  seeds() {
    // Each testdata BTF with its map value types: every STRUCT, zero and 0xff bytes.
    const out: Uint8Array[] = [];
    for (const b of sectionsOf('.BTF').slice(0, 12)) {
      const parsed = typed(() => Btf.parse(b));
      if (!parsed) continue;
      for (let id = 1; id < parsed.endTypeId; id++) {
        if (parsed.type(id).kind !== 'STRUCT') continue;
        const size = typed(() => parsed.sizeof(id)) ?? 0;
        if (size > 4096) continue;
        const idb = new Uint8Array(4);
        new DataView(idb.buffer).setUint32(0, id, true);
        out.push(pack([b, idb, new Uint8Array(size).fill(id % 2 === 0 ? 0 : 0xff)]));
      }
    }
    return out;
  },
  run(input) {
    const [b, idb, value] = unpack(input, 3) as [Uint8Array, Uint8Array, Uint8Array];
    const btf = typed(() => Btf.parse(b));
    if (btf === undefined || idb.length < 4) return;
    const id = new DataView(idb.buffer, idb.byteOffset).getUint32(0, true);
    const c = typed(() => codecFor(btf, id));
    if (c === undefined || c.size !== value.length) {
      if (c !== undefined) typed(() => c.decode(value));
      return;
    }
    const decoded = c.decode(value);
    const bytes = c.encode(decoded);
    const again = c.decode(bytes);
    // A union writes one member; when every member covering it loses bytes on the way (bools,
    // floats' NaN payloads, strings), its siblings may read back changed: then only a fixed point.
    if (!isDeepStrictEqual(again, decoded) && hasLossyUnion(btf, id))
      expect(isDeepStrictEqual(c.decode(c.encode(again)), again), 'decode(encode(x)) is not a fixed point');
    else expect(isDeepStrictEqual(again, decoded), 'decode(encode(decode(v))) differs from decode(v)');
    expect(isDeepStrictEqual(c.encode(again), bytes), 'encode is not stable');
    // Wrong values: typed errors only.
    for (const wrong of [
      null,
      42,
      'x',
      [],
      {},
      -1n,
      1.5,
      new Uint8Array(c.size + 1),
      { ...(decoded as object), zz: 1 },
    ])
      typed(() => c.encode(wrong));
  },
};

// ---- the whole load, each syscall failing in turn -------------------------------------------------------

/** errnos the kernel gives a load: permission, memory, limits, bad arguments, busy, retry. */
const ERRNOS = [1, 2, 4, 7, 11, 12, 14, 16, 17, 22, 28, 95, 524];

interface Loadable {
  name: string;
  bytes: Uint8Array;
  /**
   * Read once: a run loads this (the load is under test; the reading is the object target's),
   * or the bytes when its flags ask (16), as loadObject reads them.
   */
  spec: ObjectSpec;
  /** bpf() calls of a clean load (the fault may land on any). */
  calls: number;
}
let loadables: Loadable[] = [];
let pinRoot = '';

/** The bpf descriptors this process holds (a readlink each: the full look). */
function descriptors(): string[] {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith('anon_inode:bpf');
    } catch {
      return false;
    }
  });
}

/** How many bpf descriptors the process holds between runs (after setup). */
let bpfDescriptors = 0;

/**
 * The process's descriptor numbers (one readdir, no readlink): a run after which they are the
 * same set made or closed none, so the full look is needed only when they differ.
 */
const fdNumbers = (): string => readdirSync('/proc/self/fd').join(',');

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** A struct_ops map lets go of its BTF after an RCU tasks grace period, which on a busy machine took over 2.5 s. */
const SETTLE_MS = 10_000;

type Made = { prog: Set<number>; map: Set<number>; btf: Set<number> };
/** Loads whose kernel objects were not all gone yet when last looked (the kernel frees them after RCU). */
let pending: { what: string; input: Uint8Array; made: Made; at: number }[] = [];
let lastLook = 0;

/** Ids from `from` on (ids are allocated cyclically upwards: a load's are never below its first). */
function idsFrom(next: (id: number) => number | undefined, from: number): Set<number> {
  const out = new Set<number>();
  for (let id = next(from - 1); id !== undefined; id = next(id)) out.add(id);
  return out;
}

const smallest = (s: Set<number>, than: number): number => {
  for (const id of s) if (id < than) than = id;
  return than;
};

/**
 * Looks for the kernel objects of the pending loads, with one walk of the ids from the smallest
 * pending one up; drops the loads whose objects are all gone, and throws for the first one whose
 * objects are still there SETTLE_MS after it closed them (naming that load and carrying its input).
 * `until`: look again (waiting longer each time) until no more than that many loads are pending.
 */
function lookPending(until?: number): void {
  lastLook = performance.now();
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0) Atomics.wait(sleeper, 0, 0, Math.min(10 << attempt, 1000));
    let lo = { prog: Infinity, map: Infinity, btf: Infinity };
    for (const p of pending)
      lo = {
        prog: smallest(p.made.prog, lo.prog),
        map: smallest(p.made.map, lo.map),
        btf: smallest(p.made.btf, lo.btf),
      };
    const live = {
      prog: lo.prog === Infinity ? new Set() : idsFrom(progGetNextId, lo.prog),
      map: lo.map === Infinity ? new Set() : idsFrom(mapGetNextId, lo.map),
      btf: lo.btf === Infinity ? new Set() : idsFrom(btfGetNextId, lo.btf),
    };
    const now = performance.now();
    const still: typeof pending = [];
    for (const p of pending) {
      const left = (['prog', 'map', 'btf'] as const).flatMap((k) =>
        [...p.made[k]].filter((id) => live[k].has(id)).map((id) => `${k} ${id}`),
      );
      if (left.length === 0) continue;
      if (now - p.at > SETTLE_MS) {
        pending = [];
        const e = new FuzzPropertyError(`${p.what}: left in the kernel: ${left.join(', ')}`);
        e.input = p.input;
        throw e;
      }
      still.push(p);
    }
    pending = still;
    if (until === undefined || pending.length <= until) return;
  }
}

/**
 * The kernel objects a load made (from its trace) must all go once it is closed. The kernel frees
 * them after an RCU grace period (tens of ms), so rather than wait after every load, the loads are
 * looked for together: about every 100 ms, or until half are gone when 256 wait (memory stays bounded).
 */
function checkKernel(what: string, input: Uint8Array, made: Made): void {
  if (made.prog.size + made.map.size + made.btf.size > 0)
    pending.push({ what, input, made, at: performance.now() });
  if (pending.length >= 256) lookPending(128);
  else if (performance.now() - lastLook > 100) {
    lookPending();
    // And the full look at descriptors, now and then (runs look only at their numbers).
    const held = descriptors().length;
    expect(held === bpfDescriptors, `${what}: ${bpfDescriptors} bpf descriptors before, ${held} after`);
  }
}

/** Load cleanly once (probing the kernel's features it needs), leaving nothing. */
function warm(bytes: Uint8Array): void {
  const o = loadObject(bytes, { pinRoot });
  o.unpin();
  o.close();
}

/** What every loadable object's probes answered, cleanly: each run starts from it. */
let probed: ReadonlyMap<Feature, boolean> = new Map();

/** Load input: object index, which bpf() call fails (u16), errno index, flags (1 pin, 2 async, 4 probe, 8 sticky, 16 from bytes). */
async function loadRun(input: Uint8Array): Promise<void> {
  if (loadables.length === 0 || input.length < 5) return;
  const o = loadables[input[0]! % loadables.length]!;
  const failAt = (input[1]! | (input[2]! << 8)) % (o.calls + 1);
  const errno = ERRNOS[input[3]! % ERRNOS.length]!;
  const pin = (input[4]! & 1) === 1;
  const async = (input[4]! & 2) === 2;
  // Probe the kernel afresh (the probes' bpf() calls come first, and may be the failing one).
  const probes = (input[4]! & 4) === 4;
  if (probes) resetFeatureCache();
  const before = fdNumbers();
  const made: Made = { prog: new Set(), map: new Set(), btf: new Set() };
  let n = 0;
  let fired = false;
  let quiet = false;
  // Sticky: that call and every one after fail (a retry cannot get past it).
  const sticky = (input[4]! & 8) === 8;
  setSyscallFault((call) => {
    if (quiet || (call !== 'bpf' && call !== 'bpfAsync')) return undefined;
    const i = n++;
    if (i !== failAt && !(sticky && i > failAt)) return undefined;
    fired = true;
    return errno;
  });
  const trace = (e: TraceEvent): void => {
    quiet = true;
    try {
      if (e.kind === 'program') made.prog.add(progGetInfo(e.fd).info.id);
      else if (e.kind === 'map' && e.how !== 'reused') made.map.add(mapGetInfo(e.fd).info.id);
      else if (e.kind === 'btf') made.btf.add(btfGetInfo(e.fd).info.id);
    } finally {
      quiet = false;
    }
  };
  const opts = {
    pinRoot,
    trace,
    ...(pin ? { pinMaps: join(pinRoot, 'maps'), pinDir: join(pinRoot, 'progs') } : {}),
  };
  let failure: unknown;
  try {
    const from = (input[4]! & 16) === 16 ? o.bytes : o.spec;
    const obj = async ? await loadObjectAsync(from, opts) : loadObject(from, opts);
    quiet = true;
    obj.unpin();
    obj.close();
  } catch (e) {
    failure = e;
  } finally {
    setSyscallFault(undefined);
    // A probe that failed is remembered: put back the clean answers, so that the next run starts
    // from the truth with its calls counted as in setup.
    if (probes) restoreFeatureCache(probed);
  }
  // failAt counts from 0 and may be past the last call: then no call failed.
  const fault = fired
    ? `bpf() call ${failAt + 1} of the ${n} made${probes ? ' (probing afresh)' : ''} failing${sticky ? ' (and every one after)' : ''} with errno ${errno}`
    : `no bpf() call failing (${n} made${probes ? ', probing afresh' : ''})`;
  const what = `${o.name}, ${fault}${pin ? ', pinning' : ''}${async ? ', async' : ''}${(input[4]! & 16) === 16 ? ', from its bytes' : ''}`;
  if (failure !== undefined) {
    if (!(failure instanceof EbpfError)) throw failure;
    expect(
      Object.keys(failure.location).length > 0 || failure.name === 'SyscallError',
      `${what}: ${failure.name} says nowhere: ${failure.message}`,
    );
  }
  if (fdNumbers() !== before) {
    const after = descriptors().length;
    expect(after === bpfDescriptors, `${what}: ${bpfDescriptors} bpf descriptors before, ${after} after`);
  }
  const pins = ['maps', 'progs', '']
    .flatMap((d) => readdirSync(join(pinRoot, d)).map((e) => join(d, e)))
    .filter((p) => p !== 'maps' && p !== 'progs');
  if (pins.length > 0) {
    for (const p of pins) rmSync(join(pinRoot, p), { recursive: true, force: true });
    throw new FuzzPropertyError(`${what}: left pins ${pins.join(', ')}`);
  }
  checkKernel(what, input.slice(), made);
  // Nothing left behind: the typed error is the outcome.
  if (failure !== undefined) throw failure;
}

const load: Target = {
  name: 'load',
  what: 'the whole load (sync and async, with and without pins) with each bpf() call failing in turn with a chosen errno: typed error, no descriptor, pin or kernel object left',
  files: ['src/loader/', 'src/sys/bpf.ts', 'src/map/map.ts', 'src/program/program.ts', 'src/features/'],
  parts: 0,
  hangMs: 60000,
  setup() {
    pinRoot = join('/sys/fs/bpf', `ebpf_fuzz_${process.pid}`);
    mkdirSync(join(pinRoot, 'maps'), { recursive: true });
    mkdirSync(join(pinRoot, 'progs'), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(TESTDATA, 'manifest.json'), 'utf8')) as {
      objects: { name: string; loads: boolean }[];
    };
    loadables = [];
    resetFeatureCache();
    for (const { name, loads } of manifest.objects) {
      if (!loads) continue;
      const bytes = new Uint8Array(readFileSync(join(TESTDATA, `${name}-el.o`)));
      let calls = 0;
      try {
        warm(bytes);
      } catch {
        continue; // an object this kernel does not load is no base for fault injection
      }
      setSyscallFault((call) => {
        if (call === 'bpf') calls++;
        return undefined;
      });
      try {
        const o = loadObject(bytes, { pinRoot });
        o.unpin();
        o.close();
        loadables.push({ name, bytes, calls, spec: objectSpecFromElf(parseElf(bytes)) });
      } catch {
        // an object this kernel does not load is no base for fault injection
      } finally {
        setSyscallFault(undefined);
      }
    }
    probed = saveFeatureCache();
    bpfDescriptors = descriptors().length;
  },
  settle: () => lookPending(0),
  teardown() {
    pending = [];
    rmSync(pinRoot, { recursive: true, force: true });
  },
  generate: () =>
    fc
      .tuple(fc.nat(255), fc.nat(0xffff), fc.nat(ERRNOS.length - 1), fc.nat(15), fc.nat(7))
      .map(([o, at, e, flags, bytes]) =>
        Uint8Array.of(o, at & 0xff, at >> 8, e, flags | (bytes === 0 ? 16 : 0)),
      ),
  // Each object with each of its calls failing once, and failing for good, each errno in turn.
  seeds: () =>
    loadables.flatMap((o, i) =>
      Array.from({ length: o.calls + 1 }, (_, at) => [
        Uint8Array.of(i, at & 0xff, at >> 8, at % ERRNOS.length, 0),
        Uint8Array.of(i, at & 0xff, at >> 8, (at + 5) % ERRNOS.length, 8 | (at & 3) | (at & 16)),
      ]).flat(),
    ),
  run: loadRun,
};

export const TARGETS: readonly Target[] = [elf, insn, btf, btfExt, btfFormat, object, core, codec, load];

export function targetNamed(name: string): Target {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined)
    throw new Error(`no fuzz target ${name}: one of ${TARGETS.map((x) => x.name).join(', ')}`);
  return t;
}
