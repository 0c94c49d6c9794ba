// From matched specs to numbers: the value the compiler put in the instruction (from the local
// spec) and the value the target needs, per relocation kind, with libbpf's rules for bitfields,
// memory-size changes and what "not found" means for each kind.
import { BTF_INT_SIGNED } from '../btf/types.js';
import { typeLabel } from './describe-type.js';
import { CoreError } from './errors.js';
import { CoreReloKind, isEnumValueKind, isFieldKind, isTypeKind, kindName } from './kinds.js';
import { resolveSize, skipModsAndTypedefs, type CoreSpec } from './spec.js';

export interface CoreValues {
  /** What the compiler wrote (from the local BTF). */
  orig: bigint;
  /** What the target needs. */
  new: bigint;
  /** The target lacks what the instruction needs: replace it with the poison call. */
  poison: boolean;
  /** Check that the instruction holds `orig` before patching (off for bitfields and local type ids). */
  validate: boolean;
  /** Field byte sizes for FIELD_BYTE_OFFSET, when a load/store's width may have to follow. */
  origSize: number;
  newSize: number;
  /** The field sizes differ in a way a load/store cannot follow (signed ints, mixed kinds). */
  failMemSizeAdjust: boolean;
}

interface FieldValue {
  val: bigint;
  size: number;
  typeId: number;
  validate: boolean;
}

/** Poison request: the target has no such field or enumerator. */
class Poison {}

/** A 32-bit enumerator as libbpf stores it: sign-extended to 64 bits. */
function enumValue(spec: CoreSpec): bigint {
  const acc = spec.accessors[0]!;
  const t = spec.btf.type(acc.typeId);
  if (t.kind !== 'ENUM' && t.kind !== 'ENUM64') throw new CoreError('enum accessor on a non-enum');
  const v = t.values[acc.idx]!.value;
  return t.kind === 'ENUM' ? BigInt.asUintN(64, BigInt.asIntN(32, v)) : BigInt.asUintN(64, v);
}

/** A bit offset as bytes; an access that is not a bitfield must start on a byte. */
function wholeBytes(btf: CoreSpec['btf'], bitOff: number, typeId: number): number {
  if (bitOff % 8 !== 0)
    throw new CoreError(
      `${typeLabel(btf, typeId)} at bit offset ${bitOff} is not a bitfield and does not start on a byte`,
      {
        typeId,
      },
    );
  return bitOff / 8;
}

function fieldValue(kind: number, spec: CoreSpec | undefined, littleEndian: boolean): FieldValue | Poison {
  if (kind === CoreReloKind.FIELD_EXISTS) return { val: spec ? 1n : 0n, size: 0, typeId: 0, validate: true };
  if (!spec) return new Poison();
  const btf = spec.btf;
  const acc = spec.accessors[spec.accessors.length - 1]!;
  const sizeOf = (id: number): number => {
    const s = resolveSize(btf, id);
    if (s === undefined) throw new CoreError(`${typeLabel(btf, id)} has no size`, { typeId: id });
    return s;
  };

  if (acc.name === undefined) {
    // The access ends on an array element (or the root itself): only offset and size make sense.
    if (kind === CoreReloKind.FIELD_BYTE_OFFSET) {
      return {
        val: BigInt(wholeBytes(btf, spec.bitOffset, acc.typeId)),
        size: sizeOf(acc.typeId),
        typeId: acc.typeId,
        validate: true,
      };
    }
    if (kind === CoreReloKind.FIELD_BYTE_SIZE) {
      return { val: BigInt(sizeOf(acc.typeId)), size: 0, typeId: 0, validate: true };
    }
    throw new CoreError(`${kindName(kind)} cannot be applied to an array element`);
  }

  const parent = btf.type(acc.typeId);
  if (parent.kind !== 'STRUCT' && parent.kind !== 'UNION')
    throw new CoreError('member accessor on a non-composite');
  const m = parent.members[acc.idx]!;
  const mt = skipModsAndTypedefs(btf, m.type);
  const bitOff = spec.bitOffset;
  let bitSize = m.bitfieldSize;
  const bitfield = bitSize > 0;
  let byteSize: number;
  let byteOff: number;
  if (bitfield) {
    if (!('size' in mt) || mt.size === 0)
      throw new CoreError(`bitfield of ${typeLabel(btf, mt.id)} has no size`, { typeId: mt.id });
    byteSize = mt.size;
    byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    // The smallest power-of-two load that covers the whole bitfield.
    while (bitOff + bitSize - byteOff * 8 > byteSize * 8) {
      if (byteSize >= 8) throw new CoreError(`bitfield '${m.name}' cannot be read with one 64-bit load`);
      byteSize *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSize) * byteSize;
    }
  } else {
    byteSize = sizeOf(mt.id);
    byteOff = wholeBytes(btf, bitOff, mt.id);
    bitSize = byteSize * 8;
  }
  // The compiler and the loader may pick different loads for a bitfield: no check but signedness.
  let validate = !bitfield;
  let val: bigint;
  let size = 0;
  let typeId = 0;
  switch (kind) {
    case CoreReloKind.FIELD_BYTE_OFFSET:
      val = BigInt(byteOff);
      if (!bitfield) {
        size = byteSize;
        typeId = mt.id;
      }
      break;
    case CoreReloKind.FIELD_BYTE_SIZE:
      val = BigInt(byteSize);
      break;
    case CoreReloKind.FIELD_SIGNED:
      val =
        ((mt.kind === 'ENUM' || mt.kind === 'ENUM64') && mt.signed) ||
        (mt.kind === 'INT' && (mt.encoding & BTF_INT_SIGNED) !== 0)
          ? 1n
          : 0n;
      validate = true;
      break;
    case CoreReloKind.FIELD_LSHIFT_U64:
      // After a byteSize-wide load into a u64, shift the field's top bit to bit 63.
      val = littleEndian
        ? BigInt(64 - (bitOff + bitSize - byteOff * 8))
        : BigInt((8 - byteSize) * 8 + (bitOff - byteOff * 8));
      break;
    case CoreReloKind.FIELD_RSHIFT_U64:
      val = BigInt(64 - bitSize);
      validate = true;
      break;
    default:
      throw new CoreError(`unknown field relocation kind ${kind}`);
  }
  return { val, size, typeId, validate };
}

function typeValue(kind: number, spec: CoreSpec | undefined): bigint {
  if (!spec) return 0n;
  switch (kind) {
    case CoreReloKind.TYPE_ID_TARGET:
    case CoreReloKind.TYPE_ID_LOCAL:
      return BigInt(spec.rootTypeId);
    case CoreReloKind.TYPE_EXISTS:
    case CoreReloKind.TYPE_MATCHES:
      return 1n;
    case CoreReloKind.TYPE_SIZE: {
      const s = resolveSize(spec.btf, spec.rootTypeId);
      if (s === undefined) throw new CoreError(`${typeLabel(spec.btf, spec.rootTypeId)} has no size`);
      return BigInt(s);
    }
    default:
      throw new CoreError(`unknown type relocation kind ${kind}`);
  }
}

function enumValueOf(kind: number, spec: CoreSpec | undefined): bigint | Poison {
  if (kind === CoreReloKind.ENUMVAL_EXISTS) return spec ? 1n : 0n;
  if (!spec) return new Poison();
  return enumValue(spec);
}

/** Whether a field's size change can be followed by changing a load/store's width. */
function memSizeAdjustable(local: CoreSpec, lid: number, targ: CoreSpec, tid: number): boolean {
  const lt = local.btf.type(lid);
  const tt = targ.btf.type(tid);
  // A 32-bit kernel pointer read into 64 bits, or unsigned ints, keep their value when widened.
  if (lt.kind === 'PTR' && tt.kind === 'PTR') return true;
  return (
    lt.kind === 'INT' &&
    tt.kind === 'INT' &&
    (lt.encoding & BTF_INT_SIGNED) === 0 &&
    (tt.encoding & BTF_INT_SIGNED) === 0
  );
}

/**
 * Values for one relocation. `targ` undefined means no candidate matched. `littleEndian` is the
 * byte order of the program (it decides FIELD_LSHIFT_U64).
 */
export function computeValues(
  local: CoreSpec,
  targ: CoreSpec | undefined,
  littleEndian: boolean,
): CoreValues {
  const kind = local.kind;
  const out: CoreValues = {
    orig: 0n,
    new: 0n,
    poison: false,
    validate: true,
    origSize: 0,
    newSize: 0,
    failMemSizeAdjust: false,
  };
  if (isFieldKind(kind)) {
    const lv = fieldValue(kind, local, littleEndian);
    if (lv instanceof Poison) throw new CoreError('local field spec did not resolve');
    out.orig = lv.val;
    out.origSize = lv.size;
    out.validate = lv.validate;
    const tv = fieldValue(kind, targ, littleEndian);
    if (tv instanceof Poison) {
      out.poison = true;
      return out;
    }
    out.new = tv.val;
    out.newSize = tv.size;
    if (targ && out.origSize !== out.newSize) {
      out.failMemSizeAdjust = !memSizeAdjustable(local, lv.typeId, targ, tv.typeId);
    }
  } else if (isTypeKind(kind)) {
    out.orig = typeValue(kind, local);
    out.new = typeValue(kind, targ);
    out.validate = kind !== CoreReloKind.TYPE_ID_LOCAL;
  } else if (isEnumValueKind(kind)) {
    const lv = enumValueOf(kind, local);
    if (lv instanceof Poison) throw new CoreError('local enum spec did not resolve');
    out.orig = lv;
    const tv = enumValueOf(kind, targ);
    if (tv instanceof Poison) out.poison = true;
    else out.new = tv;
  } else {
    throw new CoreError(`unknown relocation kind ${kind}`);
  }
  return out;
}
