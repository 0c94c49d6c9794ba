// How a BTF array becomes a JS value: the rules the map codecs apply and the type generator
// describes, kept in one place so that the generated types cannot drift from the decoded values.
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, type Type, type Void } from './types.js';
import { skipQualifiers } from './walk.js';

/** The typed array a numeric C array decodes to. */
export type TypedArrayName =
  | 'Int8Array'
  | 'Uint8Array'
  | 'Int16Array'
  | 'Uint16Array'
  | 'Int32Array'
  | 'Uint32Array'
  | 'BigInt64Array'
  | 'BigUint64Array'
  | 'Float32Array'
  | 'Float64Array';

const SIGNED: Readonly<Record<number, TypedArrayName>> = {
  1: 'Int8Array',
  2: 'Int16Array',
  4: 'Int32Array',
  8: 'BigInt64Array',
};
const UNSIGNED: Readonly<Record<number, TypedArrayName>> = {
  1: 'Uint8Array',
  2: 'Uint16Array',
  4: 'Uint32Array',
  8: 'BigUint64Array',
};

/**
 * Whether an array element makes the array a string: an INT of one byte with CHAR encoding or
 * named `char`, under qualifiers only (a typedef such as `__u8` keeps it numeric).
 */
export function isCharElement(type: (id: number) => Type | Void, id: number): boolean {
  const t = skipQualifiers(type, id);
  return t.kind === 'INT' && t.size === 1 && ((t.encoding & BTF_INT_CHAR) !== 0 || t.name === 'char');
}

/**
 * The typed array for elements of the resolved type `et` (typedefs and qualifiers skipped):
 * whole-width, non-bool integers of 1, 2, 4 or 8 bytes and 4- or 8-byte floats; undefined for
 * anything else, which decodes to a plain array.
 */
export function typedArrayFor(et: Type | Void): TypedArrayName | undefined {
  if (et.kind === 'INT' && !(et.encoding & BTF_INT_BOOL) && et.bits === et.size * 8 && et.bitsOffset === 0) {
    return (et.encoding & BTF_INT_SIGNED) !== 0 ? SIGNED[et.size] : UNSIGNED[et.size];
  }
  if (et.kind === 'FLOAT' && (et.size === 4 || et.size === 8)) {
    return et.size === 4 ? 'Float32Array' : 'Float64Array';
  }
  return undefined;
}
