// The BTF container: parses the header, indexes type records in one pass, and decodes a type to
// the model in types.ts only when it is asked for. Split BTF continues ids and string offsets of a base.
import { BtfError, type Location } from '../errors.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import { BtfBuilder } from './builder.js';
import { StringTable } from './strings.js';
import { skipQualifiers, skips } from './walk.js';
import { BtfKind, VOID, type BtfKindName, type Type, type TypeKind, type Void } from './types.js';

export const BTF_MAGIC = 0xeb9f;
const HEADER_SIZE = 24;
const PTR_SIZE = 8;

export interface BtfHeader {
  magic: number;
  version: number;
  flags: number;
  hdrLen: number;
  typeOff: number;
  typeLen: number;
  strOff: number;
  strLen: number;
}

/** A checked header and where its sections lie in the bytes. */
export interface BtfLayout {
  header: BtfHeader;
  littleEndian: boolean;
  typeStart: number;
  typeEnd: number;
  strStart: number;
  strEnd: number;
}

export interface BtfParseOptions {
  /** The BTF this one is split from (vmlinux for a module): ids and string offsets continue it. */
  base?: Btf;
  /** For error messages. */
  file?: string;
}

/** The model type for one kind name: TypeOfKind<'STRUCT'> is Struct (whose kind is 'STRUCT' | 'UNION'). */
export type TypeOfKind<K extends TypeKind> = Type extends infer T
  ? T extends Type
    ? K extends T['kind']
      ? T
      : never
    : never
  : never;

/** Kind names indexed by kind number. */
export const KIND_NAMES: readonly BtfKindName[] = (() => {
  const names: BtfKindName[] = [];
  for (const [name, n] of Object.entries(BtfKind)) names[n] = name as BtfKindName;
  return names;
})();

function parseLocation(opts: BtfParseOptions, offset?: number): Location {
  const loc: Location = opts.file !== undefined ? { file: opts.file, section: '.BTF' } : { section: '.BTF' };
  return offset === undefined ? loc : { ...loc, offset };
}

/** Byte size of every record, given kind and vlen; -1 for a kind BTF does not have. */
function recordSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.INT:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return 16;
    case BtfKind.PTR:
    case BtfKind.FWD:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.FUNC:
    case BtfKind.FLOAT:
    case BtfKind.TYPE_TAG:
      return 12;
    case BtfKind.ARRAY:
      return 24;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.DATASEC:
    case BtfKind.ENUM64:
      return 12 + 12 * vlen;
    case BtfKind.ENUM:
    case BtfKind.FUNC_PROTO:
      return 12 + 8 * vlen;
    default:
      return -1;
  }
}

/**
 * Parsed BTF. Memory held is the input bytes plus one Uint32Array of record offsets; types are
 * decoded and cached on first access.
 */
export class Btf {
  readonly bytes: Uint8Array;
  readonly header: BtfHeader;
  readonly littleEndian: boolean;
  readonly base: Btf | undefined;
  /** The first id this BTF defines: 1, or the id after the base's last for split BTF. */
  readonly firstTypeId: number;
  /** Number of types this BTF defines (not counting the base's or void). */
  readonly typeCount: number;
  readonly strings: StringTable;
  readonly file: string | undefined;
  private readonly view: DataView;
  /** Byte offset in `bytes` of each type record, by id - firstTypeId. */
  private readonly offsets: Uint32Array;
  private readonly cache: (Type | undefined)[] = [];
  /** Built on the first findByName, or after a few searches by essential name; see NameIndex. */
  private names: NameIndex | undefined;
  /** Searches by essential name made by scanning. */
  private scans = 0;
  /** The type section as host-order words, when it is host-endian and aligned (else undefined). */
  private readonly words: Uint32Array | undefined;

  private constructor(
    bytes: Uint8Array,
    header: BtfHeader,
    littleEndian: boolean,
    offsets: Uint32Array,
    strings: StringTable,
    opts: BtfParseOptions,
  ) {
    this.bytes = bytes;
    this.header = header;
    this.littleEndian = littleEndian;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offsets = offsets;
    this.strings = strings;
    this.base = opts.base;
    this.file = opts.file;
    this.firstTypeId = opts.base ? opts.base.endTypeId : 1;
    this.typeCount = offsets.length;
    // Records are 4-byte multiples from a 4-aligned section start: every word is aligned.
    this.words =
      littleEndian === HOST_LITTLE_ENDIAN && bytes.byteOffset % 4 === 0
        ? new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2)
        : undefined;
  }

  /**
   * The header of raw BTF, checked (magic, version, section bounds) but no type read. Its byte
   * order is `littleEndian`; `strStart` is where the string section begins in `bytes`.
   */
  static parseHeader(bytes: Uint8Array, opts: BtfParseOptions = {}): BtfLayout {
    const fail = (msg: string, offset?: number): BtfError => new BtfError(msg, parseLocation(opts, offset));
    if (bytes.length < HEADER_SIZE) throw fail(`${bytes.length} bytes is too short for a BTF header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let le: boolean;
    if (view.getUint16(0, true) === BTF_MAGIC) le = true;
    else if (view.getUint16(0, false) === BTF_MAGIC) le = false;
    else throw fail(`bad magic 0x${view.getUint16(0, true).toString(16)}`, 0);
    if (opts.base && opts.base.littleEndian !== le) throw fail('split BTF and its base differ in byte order');
    const header: BtfHeader = {
      magic: BTF_MAGIC,
      version: view.getUint8(2),
      flags: view.getUint8(3),
      hdrLen: view.getUint32(4, le),
      typeOff: view.getUint32(8, le),
      typeLen: view.getUint32(12, le),
      strOff: view.getUint32(16, le),
      strLen: view.getUint32(20, le),
    };
    if (header.version !== 1) throw fail(`unsupported BTF version ${header.version}`, 2);
    if (header.hdrLen < HEADER_SIZE || header.hdrLen > bytes.length)
      throw fail(`bad header length ${header.hdrLen}`, 4);
    // A longer header from a newer kernel is fine as long as the part we do not know is zero.
    for (let i = HEADER_SIZE; i < header.hdrLen; i++) {
      if (bytes[i] !== 0) throw fail('unknown non-zero header fields', i);
    }
    const typeStart = header.hdrLen + header.typeOff;
    const typeEnd = typeStart + header.typeLen;
    const strStart = header.hdrLen + header.strOff;
    const strEnd = strStart + header.strLen;
    if (header.typeOff % 4 !== 0) throw fail('type section is not 4-byte aligned', 8);
    if (typeEnd > bytes.length)
      throw fail(`type section [${typeStart}, ${typeEnd}) past end (${bytes.length})`, 8);
    if (strEnd > bytes.length)
      throw fail(`string section [${strStart}, ${strEnd}) past end (${bytes.length})`, 16);
    if (typeStart < strEnd && strStart < typeEnd) throw fail('type and string sections overlap', 8);
    return { header, littleEndian: le, typeStart, typeEnd, strStart, strEnd };
  }

  /** Parse raw BTF (the contents of a .BTF section or /sys/kernel/btf/*). */
  static parse(bytes: Uint8Array, opts: BtfParseOptions = {}): Btf {
    const loc = parseLocation(opts);
    const { header, littleEndian: le, typeStart, typeEnd, strStart, strEnd } = Btf.parseHeader(bytes, opts);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const strings = new StringTable(bytes.subarray(strStart, strEnd), opts.base?.strings, loc);
    const offsets = indexTypes(bytes, view, le, typeStart, typeEnd, opts.base ? opts.base.endTypeId : 1, loc);
    return new Btf(bytes, header, le, offsets, strings, opts);
  }

  /** One past the last id this BTF (with its base) defines. */
  get endTypeId(): number {
    return this.firstTypeId + this.typeCount;
  }

  /** The type with this id: VOID for 0, from the base for ids below firstTypeId. */
  type(id: number): Type | Void {
    if (id === 0) return VOID;
    const i = id - this.firstTypeId;
    if (i < 0) {
      if (this.base && id > 0) return this.base.type(id);
    } else if (i < this.typeCount) {
      return this.cache[i] ?? (this.cache[i] = this.decode(id, this.offsets[i]!));
    }
    throw new BtfError(`type id ${id} does not exist (last is ${this.endTypeId - 1})`, this.loc(id));
  }

  /** Like type(), but a BtfError for void. */
  nonVoid(id: number): Type {
    const t = this.type(id);
    if (t.kind === 'VOID') throw new BtfError('expected a type, found void', this.loc(id));
    return t;
  }

  /** The string at `off` in the string section (continuing the base's for split BTF). */
  string(off: number): string {
    return this.strings.get(off);
  }

  /** Ids this BTF defines (not its base's), in order. */
  *ids(): IterableIterator<number> {
    for (let id = this.firstTypeId; id < this.endTypeId; id++) yield id;
  }

  /** The types this BTF defines, decoded in id order. */
  *types(): IterableIterator<Type> {
    for (let id = this.firstTypeId; id < this.endTypeId; id++) yield this.type(id) as Type;
  }

  [Symbol.iterator](): IterableIterator<Type> {
    return this.types();
  }

  /**
   * Raw name offset of one of this BTF's own types (not the base's), by index from firstTypeId,
   * read from its record without decoding it: for scans over every type.
   */
  nameOffAt(index: number): number {
    const off = this.recordAt(index);
    return this.words !== undefined ? this.words[off >>> 2]! : this.view.getUint32(off, this.littleEndian);
  }

  /** Raw kind number (BtfKind) of one of this BTF's own types, by index; see nameOffAt. */
  kindAt(index: number): number {
    const off = this.recordAt(index) + 4;
    const info =
      this.words !== undefined ? this.words[off >>> 2]! : this.view.getUint32(off, this.littleEndian);
    return (info >>> 24) & 0x1f;
  }

  private recordAt(index: number): number {
    const off = this.offsets[index];
    if (off === undefined) {
      throw new BtfError(
        `type id ${index + this.firstTypeId} does not exist`,
        this.loc(index + this.firstTypeId),
      );
    }
    return off;
  }

  /** Kind name of a type without decoding it. */
  kindOf(id: number): TypeKind | 'VOID' {
    if (id === 0) return 'VOID';
    const i = id - this.firstTypeId;
    if (i < 0 && this.base) return this.base.kindOf(id);
    const off = this.offsets[i];
    if (off === undefined) throw new BtfError(`type id ${id} does not exist`, this.loc(id));
    return KIND_NAMES[(this.view.getUint32(off + 4, this.littleEndian) >>> 24) & 0x1f] as TypeKind;
  }

  /** Every type named `name` (optionally of one kind), base types first. */
  findByName(name: string, kind?: TypeKind): Type[] {
    const out: Type[] = this.base ? this.base.findByName(name, kind) : [];
    if (name === '') return out;
    const want = kind === undefined ? -1 : BtfKind[kind as BtfKindName];
    const needle = nameBytes(name);
    this.names ??= new NameIndex(this);
    for (let i = this.names.first(needle); i >= 0; i = this.names.next(i)) {
      if (want >= 0 && this.kindAt(i) !== want) continue;
      if (this.nameAt(i, needle) === needle.length) out.push(this.type(this.firstTypeId + i) as Type);
    }
    return out;
  }

  /**
   * The types this BTF itself defines (not its base) whose name is `essential` once a flavour
   * (`___suffix`, see core/names.ts) is cut off, and whose raw kind number is set in `kinds` (a
   * mask of 1 << kind), in id order, as indexes from firstTypeId: for callers that filter before
   * decoding, CO-RE's candidate search. `flavoured(index)` is asked for names that continue with
   * `___`, whose flavour only the caller knows how to cut. The first searches scan the records
   * (as libbpf does for each); from the seventh on, the name index is built and used.
   */
  indexesByEssentialName(essential: string, kinds: number, flavoured: (index: number) => boolean): number[] {
    const out: number[] = [];
    if (essential === '') return out;
    const needle = nameBytes(essential);
    const take = (i: number): void => {
      if (((1 << this.kindAt(i)) & kinds) === 0) return;
      const matched = this.nameAt(i, needle);
      if (matched === needle.length || (matched === -needle.length && flavoured(i))) out.push(i);
    };
    if (this.names === undefined && this.scans++ < SCANS_BEFORE_INDEX) {
      const words = this.words;
      if (words === undefined) {
        for (let i = 0; i < this.typeCount; i++) take(i);
        return out;
      }
      // The hot loop of a cold CO-RE load: the kind test on the record's info word, in place.
      const offsets = this.offsets;
      for (let i = 0; i < offsets.length; i++) {
        if (((1 << ((words[(offsets[i]! >>> 2) + 1]! >>> 24) & 0x1f)) & kinds) !== 0) take(i);
      }
    } else {
      this.names ??= new NameIndex(this);
      for (let i = this.names.first(needle); i >= 0; i = this.names.next(i)) take(i);
    }
    return out;
  }

  /**
   * indexesByEssentialName for several searches at once, answered in one pass over the records
   * when they would be scanned (each search alone costs a pass): what CO-RE asks before an
   * object's relocations. Results are as each search alone gives them, in the same order; the
   * pass counts as one scan towards building the name index.
   */
  indexesByEssentialNames(
    searches: readonly { essential: string; kinds: number; flavoured: (index: number) => boolean }[],
  ): number[][] {
    const words = this.words;
    if (
      searches.length < 2 ||
      words === undefined ||
      this.names !== undefined ||
      this.scans >= SCANS_BEFORE_INDEX
    ) {
      return searches.map((s) => this.indexesByEssentialName(s.essential, s.kinds, s.flavoured));
    }
    this.scans++;
    const n = searches.length;
    const out: number[][] = searches.map(() => []);
    const needles = searches.map((s) => nameBytes(s.essential));
    // A search is tried on a record only when its kinds and the name's first byte agree.
    const firsts = new Int32Array(n);
    const kindsOf = new Int32Array(n);
    let kinds = 0;
    for (let q = 0; q < n; q++) {
      firsts[q] = needles[q]!.length === 0 ? -1 : needles[q]![0]!;
      kindsOf[q] = searches[q]!.kinds;
      kinds |= searches[q]!.kinds;
    }
    const own = this.strings;
    const ownBytes = own.bytes;
    const ownStart = own.start;
    const offsets = this.offsets;
    for (let i = 0; i < offsets.length; i++) {
      const w = offsets[i]! >>> 2;
      const bit = 1 << ((words[w + 1]! >>> 24) & 0x1f);
      if ((bit & kinds) === 0) continue;
      const nameOff = words[w]!;
      if (nameOff === 0) continue;
      let first: number;
      if (nameOff >= ownStart)
        first = nameOff - ownStart < ownBytes.length ? ownBytes[nameOff - ownStart]! : -2;
      else {
        // Split BTF: a name in one of the bases' tables.
        let table = own;
        while (nameOff < table.start && table.base) table = table.base;
        const p = nameOff - table.start;
        first = p >= 0 && p < table.bytes.length ? table.bytes[p]! : -2;
      }
      for (let q = 0; q < n; q++) {
        if (firsts[q] !== first || (kindsOf[q]! & bit) === 0) continue;
        const needle = needles[q]!;
        const matched = this.nameAt(i, needle);
        if (matched === needle.length || (matched === -needle.length && searches[q]!.flavoured(i)))
          out[q]!.push(i);
      }
    }
    return out;
  }

  /**
   * Compares the name of the type at `index` with `needle` (UTF-8, no NUL): `needle.length` when
   * equal, minus it when the name continues after it with `_`, anything else otherwise.
   */
  private nameAt(index: number, needle: Uint8Array): number {
    const nameOff = this.nameOffAt(index);
    // Offsets below the table's start are the base's strings (split BTF).
    let table = this.strings;
    while (nameOff < table.start && table.base) table = table.base;
    const bytes = table.bytes;
    const p = nameOff - table.start;
    if (p < 0 || p + needle.length >= bytes.length) return 0;
    let j = 0;
    while (j < needle.length && bytes[p + j] === needle[j]) j++;
    if (j < needle.length) return 0;
    const next = bytes[p + j];
    return next === 0 ? j : next === 0x5f ? -j : 0;
  }

  /** The one type named `name` of `kind`; NotFound-style BtfError when missing. */
  findOne(name: string, kind?: TypeKind): Type {
    const found = this.findByName(name, kind);
    if (found.length === 0) {
      throw new BtfError(
        `no ${kind ?? 'type'} named '${name}'`,
        this.file !== undefined ? { file: this.file } : {},
      );
    }
    return found[0]!;
  }

  /** Every type of one kind this BTF defines (not the base's). */
  findByKind<K extends TypeKind>(kind: K): TypeOfKind<K>[] {
    const want = BtfKind[kind as BtfKindName];
    const out: TypeOfKind<K>[] = [];
    for (let i = 0; i < this.typeCount; i++) {
      const info = this.view.getUint32(this.offsets[i]! + 4, this.littleEndian);
      if (((info >>> 24) & 0x1f) === want) out.push(this.type(this.firstTypeId + i) as TypeOfKind<K>);
    }
    return out;
  }

  /** Follow typedefs, const/volatile/restrict and type tags to the underlying type. */
  resolve(id: number): Type | Void {
    const t = skipQualifiers((i) => this.type(i), id, { typedefs: true });
    if (skips(t, { typedefs: true })) throw new BtfError('type chain too long (loop?)', this.loc(id));
    return t;
  }

  /** Size in bytes of a type, as the C compiler for BPF sees it. */
  sizeof(id: number): number {
    let mult = 1;
    for (let hops = 0; hops < 64; hops++) {
      const t = this.resolve(id);
      switch (t.kind) {
        case 'INT':
        case 'ENUM':
        case 'ENUM64':
        case 'STRUCT':
        case 'UNION':
        case 'FLOAT':
        case 'DATASEC':
          return mult * t.size;
        case 'PTR':
          return mult * PTR_SIZE;
        case 'ARRAY':
          mult *= t.nelems;
          id = t.type;
          continue;
        case 'VAR':
          id = t.type;
          continue;
        default:
          throw new BtfError(`${t.kind} has no size`, this.loc(t.id));
      }
    }
    throw new BtfError('array/var chain too long (loop?)', this.loc(id));
  }

  /** Alignment in bytes of a type; 1 for a packed struct. */
  alignof(id: number, depth = 0): number {
    if (depth > 64) throw new BtfError('type nesting too deep (loop?)', this.loc(id));
    const t = this.resolve(id);
    switch (t.kind) {
      case 'INT':
      case 'ENUM':
      case 'ENUM64':
      case 'FLOAT':
        return Math.min(t.size, PTR_SIZE);
      case 'PTR':
        return PTR_SIZE;
      case 'ARRAY':
        return this.alignof(t.type, depth + 1);
      case 'VAR':
        return this.alignof(t.type, depth + 1);
      case 'STRUCT':
      case 'UNION': {
        let max = 1;
        for (const m of t.members) {
          const a = this.alignof(m.type, depth + 1);
          // A member placed off its natural alignment means the struct is packed.
          if (m.bitfieldSize === 0 && m.bitsOffset % (8 * a) !== 0) return 1;
          max = Math.max(max, a);
        }
        return t.size % max === 0 ? max : 1;
      }
      default:
        throw new BtfError(`${t.kind} has no alignment`, this.loc(t.id));
    }
  }

  /**
   * Encode back to bytes; a parsed, unmodified BTF comes back byte for byte when its type names
   * are UTF-8 (a name that is not is read with U+FFFD in place of the bad bytes, and written so).
   */
  marshal(): Uint8Array {
    const b = new BtfBuilder({
      littleEndian: this.littleEndian,
      ...(this.base ? { base: this.base } : {}),
      strings: this.strings.bytes,
    });
    for (const t of this.types()) b.add(t);
    return b.build();
  }

  private loc(id: number): Location {
    const l: Location = { section: '.BTF', typeId: id };
    if (this.file !== undefined) l.file = this.file;
    return l;
  }

  private decode(id: number, off: number): Type {
    const v = this.view;
    const le = this.littleEndian;
    const strings = this.strings;
    const str = (o: number): string => {
      if (o >= strings.end) {
        throw new BtfError(`name offset ${o} outside string section`, { ...this.loc(id), offset: off });
      }
      return strings.get(o);
    };
    const name = str(v.getUint32(off, le));
    const info = v.getUint32(off + 4, le);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31 === 1;
    const sizeOrType = v.getUint32(off + 8, le);
    const p = off + 12;
    switch (kind) {
      case BtfKind.INT: {
        const data = v.getUint32(p, le);
        return {
          kind: 'INT',
          id,
          name,
          size: sizeOrType,
          encoding: data >>> 24,
          bitsOffset: (data >>> 16) & 0xff,
          bits: data & 0xff,
        };
      }
      case BtfKind.PTR:
        return { kind: 'PTR', id, name, type: sizeOrType };
      case BtfKind.ARRAY:
        return {
          kind: 'ARRAY',
          id,
          name,
          type: v.getUint32(p, le),
          indexType: v.getUint32(p + 4, le),
          nelems: v.getUint32(p + 8, le),
        };
      case BtfKind.STRUCT:
      case BtfKind.UNION: {
        const members = [];
        for (let i = 0, q = p; i < vlen; i++, q += 12) {
          const o = v.getUint32(q + 8, le);
          members.push({
            name: str(v.getUint32(q, le)),
            type: v.getUint32(q + 4, le),
            bitsOffset: kindFlag ? o & 0xffffff : o,
            bitfieldSize: kindFlag ? o >>> 24 : 0,
          });
        }
        return {
          kind: kind === BtfKind.STRUCT ? 'STRUCT' : 'UNION',
          id,
          name,
          size: sizeOrType,
          kindFlag,
          members,
        };
      }
      case BtfKind.ENUM: {
        const values = [];
        for (let i = 0, q = p; i < vlen; i++, q += 8) {
          const raw = kindFlag ? v.getInt32(q + 4, le) : v.getUint32(q + 4, le);
          values.push({ name: str(v.getUint32(q, le)), value: BigInt(raw) });
        }
        return { kind: 'ENUM', id, name, size: sizeOrType, signed: kindFlag, values };
      }
      case BtfKind.ENUM64: {
        const values = [];
        for (let i = 0, q = p; i < vlen; i++, q += 12) {
          const u = (BigInt(v.getUint32(q + 8, le)) << 32n) | BigInt(v.getUint32(q + 4, le));
          values.push({ name: str(v.getUint32(q, le)), value: kindFlag ? BigInt.asIntN(64, u) : u });
        }
        return { kind: 'ENUM64', id, name, size: sizeOrType, signed: kindFlag, values };
      }
      case BtfKind.FWD:
        return { kind: 'FWD', id, name, union: kindFlag };
      case BtfKind.TYPEDEF:
        return { kind: 'TYPEDEF', id, name, type: sizeOrType };
      case BtfKind.VOLATILE:
        return { kind: 'VOLATILE', id, name, type: sizeOrType };
      case BtfKind.CONST:
        return { kind: 'CONST', id, name, type: sizeOrType };
      case BtfKind.RESTRICT:
        return { kind: 'RESTRICT', id, name, type: sizeOrType };
      case BtfKind.FUNC:
        return { kind: 'FUNC', id, name, type: sizeOrType, linkage: vlen };
      case BtfKind.FUNC_PROTO: {
        const params = [];
        for (let i = 0, q = p; i < vlen; i++, q += 8) {
          params.push({ name: str(v.getUint32(q, le)), type: v.getUint32(q + 4, le) });
        }
        return { kind: 'FUNC_PROTO', id, name, returnType: sizeOrType, params };
      }
      case BtfKind.VAR:
        return { kind: 'VAR', id, name, type: sizeOrType, linkage: v.getUint32(p, le) };
      case BtfKind.DATASEC: {
        const vars = [];
        for (let i = 0, q = p; i < vlen; i++, q += 12) {
          vars.push({
            type: v.getUint32(q, le),
            offset: v.getUint32(q + 4, le),
            size: v.getUint32(q + 8, le),
          });
        }
        return { kind: 'DATASEC', id, name, size: sizeOrType, vars };
      }
      case BtfKind.FLOAT:
        return { kind: 'FLOAT', id, name, size: sizeOrType };
      case BtfKind.DECL_TAG:
        return kindFlag
          ? { kind: 'DECL_TAG', id, name, type: sizeOrType, componentIdx: v.getInt32(p, le), kindFlag }
          : { kind: 'DECL_TAG', id, name, type: sizeOrType, componentIdx: v.getInt32(p, le) };
      case BtfKind.TYPE_TAG:
        return kindFlag
          ? { kind: 'TYPE_TAG', id, name, type: sizeOrType, kindFlag }
          : { kind: 'TYPE_TAG', id, name, type: sizeOrType };
      default:
        // The index pass already rejected unknown kinds.
        throw new BtfError(`unknown kind ${kind}`, { ...this.loc(id), offset: off });
    }
  }
}

const utf8 = new TextEncoder();

/**
 * Searches by essential name scan the type records until this many have been made on one BTF;
 * then the name index (one pass hashing every name) costs less than the scans still to come.
 */
const SCANS_BEFORE_INDEX = 6;

/** A name's UTF-8 bytes (names are nearly always ASCII: no encoder for those). */
function nameBytes(name: string): Uint8Array {
  const out = new Uint8Array(name.length);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80) return utf8.encode(name);
    out[i] = c;
  }
  return out;
}

const HASHED_BYTES = 12;

/**
 * FNV-1a of a name's first bytes, up to its first `___` (or its end). Names equal up to a CO-RE flavour
 * (`task_struct`, `task_struct___old`) agree up to there, so one index serves searches by whole
 * name and by essential name; what the hash leaves out is compared afterwards.
 */
function prefixHash(bytes: Uint8Array, from: number, end: number): number {
  let h = 0x811c9dc5;
  // The first bytes tell most names apart; the rest is compared on lookup anyway.
  const stop = Math.min(end, from + HASHED_BYTES);
  for (let p = from; p < stop; p++) {
    const c = bytes[p]!;
    if (c === 0 || (c === 0x5f && bytes[p + 1] === 0x5f && bytes[p + 2] === 0x5f)) break;
    h = Math.imul(h ^ c, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Types by name, for a BTF's own named types: a chained hash table in two Int32Arrays (a head per
 * bucket, a next per type, both type indexes from firstTypeId, chains in id order) keyed by
 * prefixHash. About 6 bytes a type (0.75 MB for vmlinux), where a Map of names or offsets to
 * arrays of ids held ~8 MB; built in one pass over the records without decoding a string.
 */
class NameIndex {
  private readonly heads: Int32Array;
  private readonly chain: Int32Array;
  private readonly mask: number;

  constructor(btf: Btf) {
    const n = btf.typeCount;
    // About two types a bucket: chains stay short, the heads small.
    let buckets = 16;
    while (buckets * 2 < n) buckets *= 2;
    this.mask = buckets - 1;
    this.heads = new Int32Array(buckets).fill(-1);
    this.chain = new Int32Array(n);
    const own = btf.strings;
    // Backwards, so that each chain (pushed at its head) ends up in id order.
    for (let i = n - 1; i >= 0; i--) {
      const nameOff = btf.nameOffAt(i);
      let table = own;
      while (nameOff < table.start && table.base) table = table.base;
      const p = nameOff - table.start;
      if (nameOff === 0 || p < 0 || p >= table.bytes.length) {
        this.chain[i] = -1;
        continue;
      }
      const b = prefixHash(table.bytes, p, table.bytes.length) & this.mask;
      this.chain[i] = this.heads[b]!;
      this.heads[b] = i;
    }
  }

  /** The first type index whose name may equal `name` (bytes), -1 for none. */
  first(name: Uint8Array): number {
    return this.heads[prefixHash(name, 0, name.length) & this.mask]!;
  }

  /** The next index in the same chain, -1 at its end (a chain mixes names: compare them). */
  next(index: number): number {
    return this.chain[index]!;
  }
}

/**
 * The one pass over the type section: each record's size follows from kind and vlen alone, so
 * only the info word is read. Every record is bounds-checked against the section.
 */
function indexTypes(
  bytes: Uint8Array,
  view: DataView,
  le: boolean,
  start: number,
  end: number,
  firstId: number,
  loc: Location,
): Uint32Array {
  // Every record is at least 12 bytes: this bounds the count without a first pass.
  const out = new Uint32Array(Math.floor((end - start) / 12));
  let n = 0;
  let off = start;
  const abs = bytes.byteOffset + start;
  if (le === HOST_LITTLE_ENDIAN && abs % 4 === 0) {
    // Fast path: read info words straight from a Uint32Array over the section.
    const words = new Uint32Array(bytes.buffer, abs, (end - start) >>> 2);
    const limit = words.length;
    let w = 0;
    while (w < limit) {
      if (w + 3 > limit) break;
      const info = words[w + 1]!;
      const size = recordSize((info >>> 24) & 0x1f, info & 0xffff);
      if (size < 0 || (info & 0x60ff0000) !== 0) throw badRecord(info, firstId + n, start + w * 4, loc);
      out[n++] = start + w * 4;
      w += size >>> 2;
    }
    off = start + w * 4;
  } else {
    while (off + 12 <= end) {
      const info = view.getUint32(off + 4, le);
      const size = recordSize((info >>> 24) & 0x1f, info & 0xffff);
      if (size < 0 || (info & 0x60ff0000) !== 0) throw badRecord(info, firstId + n, off, loc);
      out[n++] = off;
      off += size;
    }
  }
  if (off !== end) {
    throw new BtfError(`type record runs past the type section end (${end - start} bytes)`, {
      ...loc,
      typeId: firstId + n - (off > end ? 1 : 0),
      offset: off > end ? out[n - 1]! : off,
    });
  }
  return out.slice(0, n);
}

function badRecord(info: number, id: number, off: number, loc: Location): BtfError {
  const kind = (info >>> 24) & 0x1f;
  const msg =
    recordSize(kind, 0) < 0 ? `unknown kind ${kind}` : `reserved info bits set (0x${info.toString(16)})`;
  return new BtfError(msg, { ...loc, typeId: id, offset: off });
}
