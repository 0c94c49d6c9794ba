// Encoding model types back to BTF bytes: the builder behind Btf.marshal(), BTF sanitising and
// hand-made BTF in tests. Strings are deduplicated; split BTF reuses the base's strings.
import { BtfError } from '../errors.js';
import { BinaryWriter } from '../internal/reader.js';
import { StringTableBuilder, type StringTable } from './strings.js';
import { BtfKind, type Type } from './types.js';

/** A type to add: the model type, with `id` optional (the builder assigns ids in order). */
export type TypeSpec = Type extends infer T
  ? T extends Type
    ? Omit<T, 'id'> & { id?: number }
    : never
  : never;

/** What split BTF continues from its base (a Btf is one): byte order, next id, strings. */
export interface BtfBase {
  readonly littleEndian: boolean;
  readonly endTypeId: number;
  readonly strings: StringTable;
}

export interface BtfBuilderOptions {
  /** Byte order of the output; default little endian. */
  littleEndian?: boolean;
  /** Build split BTF on top of this base: ids and string offsets continue it. */
  base?: BtfBase;
  /** Start from an existing string section (kept byte for byte). */
  strings?: Uint8Array;
  /**
   * Continue this string table (taken over, not copied): what deduplication already built, so
   * its strings are not encoded and decoded once more.
   */
  stringTable?: StringTableBuilder;
}

const U32_MAX = 0xffffffff;

export class BtfBuilder {
  readonly littleEndian: boolean;
  readonly firstTypeId: number;
  private readonly strings: StringTableBuilder;
  private readonly types: BinaryWriter;
  private count = 0;

  constructor(opts: BtfBuilderOptions = {}) {
    this.littleEndian = opts.littleEndian ?? true;
    if (opts.base && opts.base.littleEndian !== this.littleEndian) {
      throw new BtfError('split BTF must have the byte order of its base');
    }
    this.firstTypeId = opts.base ? opts.base.endTypeId : 1;
    this.strings = opts.stringTable ?? new StringTableBuilder(opts.base?.strings, opts.strings);
    this.types = new BinaryWriter(this.littleEndian, 4096);
  }

  /** The id the next added type will get. */
  get nextTypeId(): number {
    return this.firstTypeId + this.count;
  }

  /** Offset of a string in the output's string section, adding it when new. */
  addString(s: string): number {
    return this.strings.add(s);
  }

  /** Append a type; returns its id. An `id` on the spec, if given, must be that id. */
  add(t: TypeSpec): number {
    const id = this.nextTypeId;
    if (t.id !== undefined && t.id !== id) {
      throw new BtfError(`type added as id ${id} but says it is ${t.id}`, { typeId: id });
    }
    const w = this.types;
    const u32 = (v: number, what: string): void => {
      if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
        throw new BtfError(`${t.kind} ${what} ${v} does not fit 32 bits`, { typeId: id });
      }
      w.u32(v);
    };
    const vlen = (n: number): number => {
      if (n > 0xffff) throw new BtfError(`${t.kind} has ${n} entries, more than 65535`, { typeId: id });
      return n;
    };
    const head = (kind: number, vl: number, kflag: boolean, sizeOrType: number): void => {
      w.u32(this.strings.add(t.name));
      w.u32(((kflag ? 1 : 0) << 31) | (kind << 24) | vlen(vl));
      u32(sizeOrType, 'size/type');
    };
    switch (t.kind) {
      case 'INT':
        head(BtfKind.INT, 0, false, t.size);
        if (t.encoding > 0xf || t.bitsOffset > 0xff || t.bits > 0xff) {
          throw new BtfError('INT encoding, offset or bits out of range', { typeId: id });
        }
        w.u32((t.encoding << 24) | (t.bitsOffset << 16) | t.bits);
        break;
      case 'PTR':
        head(BtfKind.PTR, 0, false, t.type);
        break;
      case 'ARRAY':
        head(BtfKind.ARRAY, 0, false, 0);
        u32(t.type, 'element type');
        u32(t.indexType, 'index type');
        u32(t.nelems, 'nelems');
        break;
      case 'STRUCT':
      case 'UNION': {
        // Bitfield sizes can only be stored with kind_flag set.
        const kflag = t.kindFlag || t.members.some((m) => m.bitfieldSize !== 0);
        head(t.kind === 'STRUCT' ? BtfKind.STRUCT : BtfKind.UNION, t.members.length, kflag, t.size);
        for (const m of t.members) {
          w.u32(this.strings.add(m.name));
          u32(m.type, 'member type');
          if (kflag) {
            if (m.bitsOffset > 0xffffff || m.bitfieldSize > 0xff) {
              throw new BtfError(`member '${m.name}' offset or bitfield size out of range`, { typeId: id });
            }
            w.u32(((m.bitfieldSize << 24) | m.bitsOffset) >>> 0);
          } else u32(m.bitsOffset, 'member offset');
        }
        break;
      }
      case 'ENUM':
        head(BtfKind.ENUM, t.values.length, t.signed, t.size);
        for (const e of t.values) {
          w.u32(this.strings.add(e.name));
          w.u32(Number(BigInt.asUintN(32, e.value)));
        }
        break;
      case 'ENUM64':
        head(BtfKind.ENUM64, t.values.length, t.signed, t.size);
        for (const e of t.values) {
          const u = BigInt.asUintN(64, e.value);
          w.u32(this.strings.add(e.name));
          w.u32(Number(u & 0xffffffffn));
          w.u32(Number(u >> 32n));
        }
        break;
      case 'FWD':
        head(BtfKind.FWD, 0, t.union, 0);
        break;
      case 'TYPEDEF':
        head(BtfKind.TYPEDEF, 0, false, t.type);
        break;
      case 'VOLATILE':
        head(BtfKind.VOLATILE, 0, false, t.type);
        break;
      case 'CONST':
        head(BtfKind.CONST, 0, false, t.type);
        break;
      case 'RESTRICT':
        head(BtfKind.RESTRICT, 0, false, t.type);
        break;
      case 'FUNC':
        head(BtfKind.FUNC, t.linkage, false, t.type);
        break;
      case 'FUNC_PROTO':
        head(BtfKind.FUNC_PROTO, t.params.length, false, t.returnType);
        for (const p of t.params) {
          w.u32(this.strings.add(p.name));
          u32(p.type, 'param type');
        }
        break;
      case 'VAR':
        head(BtfKind.VAR, 0, false, t.type);
        u32(t.linkage, 'linkage');
        break;
      case 'DATASEC':
        head(BtfKind.DATASEC, t.vars.length, false, t.size);
        for (const v of t.vars) {
          u32(v.type, 'var type');
          u32(v.offset, 'var offset');
          u32(v.size, 'var size');
        }
        break;
      case 'FLOAT':
        head(BtfKind.FLOAT, 0, false, t.size);
        break;
      case 'DECL_TAG':
        head(BtfKind.DECL_TAG, 0, t.kindFlag === true, t.type);
        w.i32(t.componentIdx);
        break;
      case 'TYPE_TAG':
        head(BtfKind.TYPE_TAG, 0, t.kindFlag === true, t.type);
        break;
    }
    this.count++;
    return id;
  }

  /** The BTF bytes: header, type section, string section. */
  build(): Uint8Array {
    const types = this.types.finish();
    const strs = this.strings.finish();
    const w = new BinaryWriter(this.littleEndian, 24 + types.length + strs.length);
    w.u16(0xeb9f).u8(1).u8(0).u32(24);
    w.u32(0).u32(types.length).u32(types.length).u32(strs.length);
    w.bytes(types).bytes(strs);
    return w.finish();
  }
}
