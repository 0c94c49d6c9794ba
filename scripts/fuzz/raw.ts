// Byte writers for the fuzzer's generators: raw BTF, .BTF.ext and ELF64 relocatable objects, written
// straight from the uapi layouts (include/uapi/linux/btf.h, elf.h) rather than through the project's
// own builders, so that a generator never shares a bug with the code it feeds.

/** A little growable byte buffer with both byte orders. */
export class Bytes {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  constructor(readonly le: boolean) {}

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf);
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.length++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.view.setUint16(this.length, v & 0xffff, this.le);
    this.length += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.length, v >>> 0, this.le);
    this.length += 4;
    return this;
  }
  u64(v: bigint | number): this {
    this.room(8);
    this.view.setBigUint64(this.length, BigInt.asUintN(64, BigInt(v)), this.le);
    this.length += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
    return this;
  }
  align(n: number): this {
    while (this.length % n !== 0) this.u8(0);
    return this;
  }
  /** Overwrite a u32 already written. */
  patch32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, this.le);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A NUL-separated string table that hands out offsets; offset 0 is the empty string. */
export class Strings {
  private readonly at = new Map<string, number>([['', 0]]);
  private readonly parts: Uint8Array[] = [new Uint8Array(1)];
  size = 1;

  off(s: string): number {
    const known = this.at.get(s);
    if (known !== undefined) return known;
    const b = new TextEncoder().encode(`${s}\0`);
    const o = this.size;
    this.at.set(s, o);
    this.parts.push(b);
    this.size += b.length;
    return o;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

// ---- BTF -------------------------------------------------------------------------------------

/** BTF_KIND_* numbers. */
export const K = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** A word after the common 12 bytes of a record: a number, or a name put in the string table. */
export type Word = number | { str: string };

/** One BTF type record as it is on disk: btf_type's three words, then the kind's own words. */
export interface RawType {
  name: string;
  kind: number;
  vlen: number;
  kflag: boolean;
  /** size or type, by kind. */
  sizeType: number;
  extra: Word[];
}

export interface RawBtf {
  le: boolean;
  types: RawType[];
  /** Extra names to put in the string table (section names for .BTF.ext, access strings). */
  strings?: string[];
}

/** The encoded BTF and where its parts are (for damage aimed at them). */
export interface BtfBlob {
  bytes: Uint8Array;
  strings: Strings;
  /** Byte offset of each type record (index 0 is type id 1). */
  typeOffsets: number[];
  typeStart: number;
  strStart: number;
}

export function writeBtf(raw: RawBtf, strings = new Strings()): BtfBlob {
  const t = new Bytes(raw.le);
  const typeOffsets: number[] = [];
  const word = (w: Word): number => (typeof w === 'number' ? w : strings.off(w.str));
  for (const ty of raw.types) {
    typeOffsets.push(24 + t.length);
    t.u32(strings.off(ty.name));
    t.u32(((ty.kflag ? 1 : 0) << 31) | ((ty.kind & 0x1f) << 24) | (ty.vlen & 0xffff));
    t.u32(ty.sizeType);
    for (const w of ty.extra) t.u32(word(w));
  }
  for (const s of raw.strings ?? []) strings.off(s);
  const types = t.done();
  const str = strings.bytes();
  const out = new Bytes(raw.le);
  out.u16(0xeb9f).u8(1).u8(0).u32(24).u32(0).u32(types.length).u32(types.length).u32(str.length);
  out.bytes(types).bytes(str);
  return { bytes: out.done(), strings, typeOffsets, typeStart: 24, strStart: 24 + types.length };
}

// ---- BTF.ext ---------------------------------------------------------------------------------

export interface RawExtSection {
  section: string;
  /** Records, each a list of words (strings by name). */
  records: Word[][];
}

export interface RawExt {
  le: boolean;
  funcInfo: RawExtSection[];
  lineInfo: RawExtSection[];
  coreRelo: RawExtSection[];
  recSizes: [number, number, number];
}

/** .BTF.ext with the v1 header and CO-RE part; names go into `strings` (the BTF's table). */
export function writeExt(raw: RawExt, strings: Strings): Uint8Array {
  const body = new Bytes(raw.le);
  const parts: [number, number][] = [];
  for (const [i, secs] of [raw.funcInfo, raw.lineInfo, raw.coreRelo].entries()) {
    const start = body.length;
    const recSize = raw.recSizes[i]!;
    body.u32(recSize);
    for (const s of secs) {
      body.u32(strings.off(s.section)).u32(s.records.length);
      for (const r of s.records) {
        const at = body.length;
        for (const w of r) body.u32(typeof w === 'number' ? w : strings.off(w.str));
        // A record size the file declares bigger than the words written: pad to it.
        while (body.length < at + recSize) body.u8(0);
      }
    }
    parts.push([start, body.length - start]);
  }
  const out = new Bytes(raw.le);
  out.u16(0xeb9f).u8(1).u8(0).u32(32);
  for (const [off, len] of parts) out.u32(off).u32(len);
  out.bytes(body.done());
  return out.done();
}

// ---- ELF64 -----------------------------------------------------------------------------------

export interface RawSection {
  name: string;
  type: number;
  flags: number;
  data: Uint8Array;
  /** Section index (in the final file: 1 + position in `sections`), or a name resolved to one. */
  link?: number | string;
  info?: number | string;
  entsize?: number;
  align?: number;
}

export interface RawSymbol {
  name: string;
  /** STB_* << 4 | STT_*. */
  info: number;
  other?: number;
  /** A section name (resolved to its index) or a raw index. */
  shndx: string | number;
  value: number;
  size: number;
}

export interface RawElf {
  le: boolean;
  sections: RawSection[];
  symbols: RawSymbol[];
  /** Relocations per target section name: offset, symbol index (1-based into `symbols`), type. */
  relocations: { section: string; rels: { offset: number; symbol: number; type: number }[] }[];
}

export const SHT = { PROGBITS: 1, SYMTAB: 2, STRTAB: 3, NOBITS: 8, REL: 9 } as const;
export const SHF = { WRITE: 1, ALLOC: 2, EXECINSTR: 4 } as const;

/** The encoded object and where its headers are. */
export interface ElfBlob {
  bytes: Uint8Array;
  shoff: number;
  shnum: number;
  /** [offset, size] of each section's data, by index. */
  spans: [number, number][];
}

/** An ELF64 ET_REL for EM_BPF: the given sections, then .rel* sections, .symtab, .strtab, .shstrtab. */
export function writeElf(raw: RawElf): ElfBlob {
  const le = raw.le;
  const shstr = new Strings();
  const str = new Strings();
  const all: RawSection[] = [...raw.sections];
  const index = (name: string): number => all.findIndex((s) => s.name === name) + 1;
  const symtabIndex = all.length + raw.relocations.length + 1;
  for (const r of raw.relocations) {
    const rel = new Bytes(le);
    for (const x of r.rels) rel.u64(x.offset).u64((BigInt(x.symbol) << 32n) | BigInt(x.type >>> 0));
    all.push({
      name: `.rel${r.section}`,
      type: SHT.REL,
      flags: 0,
      data: rel.done(),
      link: symtabIndex,
      info: r.section,
      entsize: 16,
      align: 8,
    });
  }
  const sym = new Bytes(le);
  sym.u32(0).u8(0).u8(0).u16(0).u64(0).u64(0);
  const resolve = (v: number | string | undefined): number => (typeof v === 'string' ? index(v) : (v ?? 0));
  let locals = 1;
  for (const s of raw.symbols) {
    if (s.info >> 4 === 0) locals++;
    sym
      .u32(str.off(s.name))
      .u8(s.info)
      .u8(s.other ?? 0)
      .u16(resolve(s.shndx))
      .u64(s.value)
      .u64(s.size);
  }
  all.push({
    name: '.symtab',
    type: SHT.SYMTAB,
    flags: 0,
    data: sym.done(),
    link: symtabIndex + 1,
    info: locals,
    entsize: 24,
    align: 8,
  });
  all.push({ name: '.strtab', type: SHT.STRTAB, flags: 0, data: str.bytes(), align: 1 });
  for (const s of all) shstr.off(s.name);
  shstr.off('.shstrtab');
  all.push({ name: '.shstrtab', type: SHT.STRTAB, flags: 0, data: shstr.bytes(), align: 1 });

  const out = new Bytes(le);
  out.bytes(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, le ? 1 : 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
  // e_type ET_REL, e_machine EM_BPF, e_version, e_entry, e_phoff, e_shoff (patched), e_flags,
  // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
  out.u16(1).u16(247).u32(1).u64(0).u64(0);
  const shoffAt = out.length;
  out
    .u64(0)
    .u32(0)
    .u16(64)
    .u16(0)
    .u16(0)
    .u16(64)
    .u16(all.length + 1)
    .u16(all.length);
  const spans: [number, number][] = [[0, 0]];
  for (const s of all) {
    out.align(Math.max(1, Math.min(s.align ?? 8, 8)));
    spans.push([out.length, s.data.length]);
    if (s.type !== SHT.NOBITS) out.bytes(s.data);
  }
  out.align(8);
  const shoff = out.length;
  out.patch32(shoffAt + (le ? 0 : 4), shoff);
  for (let i = 0; i < 16; i++) out.u32(0);
  for (const [i, s] of all.entries()) {
    out.u32(shstr.off(s.name)).u32(s.type).u64(s.flags);
    out
      .u64(0)
      .u64(spans[i + 1]![0])
      .u64(s.data.length);
    out
      .u32(resolve(s.link))
      .u32(resolve(s.info))
      .u64(s.align ?? 8)
      .u64(s.entsize ?? 0);
  }
  return { bytes: out.done(), shoff, shnum: all.length + 1, spans };
}

// ---- containers: several byte strings in one input ------------------------------------------------

/** Several parts as one input: a u32 count, each part's u32 length, then the parts (little-endian). */
export function pack(parts: readonly Uint8Array[]): Uint8Array {
  const b = new Bytes(true);
  b.u32(parts.length);
  for (const p of parts) b.u32(p.length);
  for (const p of parts) b.bytes(p);
  return b.done();
}

/**
 * The parts back, never throwing: a damaged container gives fewer or shorter parts (the fuzzer
 * mutates inside parts; a broken frame is not the target's bug to find). Missing parts are empty.
 */
export function unpack(b: Uint8Array, want: number): Uint8Array[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = b.length >= 4 ? Math.min(v.getUint32(0, true), 64) : 0;
  const out: Uint8Array[] = [];
  let at = 4 + 4 * n;
  for (let i = 0; i < n; i++) {
    const len = 8 + 4 * i <= b.length ? v.getUint32(4 + 4 * i, true) : 0;
    const start = Math.min(at, b.length);
    const end = Math.min(start + len, b.length);
    out.push(b.subarray(start, end));
    at = end;
  }
  while (out.length < want) out.push(new Uint8Array(0));
  return out;
}
