// Accessor specs: an accessor string ("0:1:0:5") walked through the local BTF into the named
// steps it takes (members by name, array indexes) and the bit offset it reaches.
import type { Btf } from '../btf/btf.js';
import type { Type, Void } from '../btf/types.js';
import { BtfError } from '../errors.js';
import { CoreError } from './errors.js';
import { isEnumValueKind, isFieldKind, isTypeKind, kindName } from './kinds.js';

/** Deepest accessor libbpf accepts (BPF_CORE_SPEC_MAX_LEN). */
export const CORE_SPEC_MAX_LEN = 64;

/**
 * One step of a spec. A member step has the member's name; an array step (and the first step,
 * which indexes the root pointer) has none. `typeId` is the struct/union/enum holding the member
 * or enumerator, or for an array step the element type.
 */
export interface CoreAccessor {
  typeId: number;
  idx: number;
  name: string | undefined;
}

export interface CoreSpec {
  btf: Btf;
  /** The relocation's root type (as written, before typedefs are skipped). */
  rootTypeId: number;
  kind: number;
  /** Every index of the accessor string, anonymous members included. */
  raw: number[];
  /** The named steps (anonymous members are folded into the next named one). */
  accessors: CoreAccessor[];
  /** Bit offset from the root reached by the access (fields only). */
  bitOffset: number;
}

/** Follows typedefs and modifiers (const, volatile, restrict, type tags). */
export function skipModsAndTypedefs(btf: Btf, id: number): Type | Void {
  return btf.resolve(id);
}

/** Size of a type in bytes, or undefined when it has none (void, func) or the BTF is broken. */
export function resolveSize(btf: Btf, id: number): number | undefined {
  try {
    return btf.sizeof(id);
  } catch (e) {
    if (e instanceof BtfError) return undefined;
    throw e;
  }
}

/** A flexible array: the last member of a struct, declared with no elements. */
export function isFlexArray(btf: Btf, parent: CoreAccessor | undefined, nelems: number): boolean {
  if (parent?.name === undefined || nelems > 0) return false;
  const t = btf.type(parent.typeId);
  return (t.kind === 'STRUCT' || t.kind === 'UNION') && parent.idx === t.members.length - 1;
}

function parseAccessString(accessStr: string, fail: (m: string) => CoreError): number[] {
  if (accessStr === '') throw fail('empty accessor string');
  const raw: number[] = [];
  // Digits read in place (no split, no pattern): this runs once per relocation.
  let from = 0;
  for (let i = 0; i <= accessStr.length; i++) {
    const c = i < accessStr.length ? accessStr.charCodeAt(i) : 0x3a;
    if (c >= 0x30 && c <= 0x39) continue;
    if (c !== 0x3a || i === from) throw fail(`accessor string '${accessStr}' is not colon-separated numbers`);
    const part = accessStr.slice(from, i);
    const n = Number(part);
    if (!Number.isSafeInteger(n) || n > 0x7fffffff) throw fail(`accessor index ${part} is too large`);
    raw.push(n);
    from = i + 1;
  }
  if (raw.length > CORE_SPEC_MAX_LEN) throw fail(`accessor string has more than ${CORE_SPEC_MAX_LEN} steps`);
  return raw;
}

/**
 * Parse a relocation's accessor string against the local BTF. Throws CoreError when the string
 * does not fit the types (which a correct compiler never produces).
 */
export function parseSpec(btf: Btf, typeId: number, accessStr: string, kind: number): CoreSpec {
  const fail = (m: string): CoreError =>
    new CoreError(`${kindName(kind)} relocation '${accessStr}': ${m}`, { typeId });
  try {
    return parseSpecInner(btf, typeId, accessStr, kind, fail);
  } catch (e) {
    if (e instanceof BtfError) throw fail(e.message);
    throw e;
  }
}

function parseSpecInner(
  btf: Btf,
  typeId: number,
  accessStr: string,
  kind: number,
  fail: (m: string) => CoreError,
): CoreSpec {
  const raw = parseAccessString(accessStr, fail);
  const spec: CoreSpec = { btf, rootTypeId: typeId, kind, raw, accessors: [], bitOffset: 0 };
  if (typeId === 0) throw fail('root type is void');
  btf.nonVoid(typeId);

  if (isTypeKind(kind)) {
    if (raw.length !== 1 || raw[0] !== 0) throw fail('type relocations take the accessor "0"');
    return spec;
  }
  if (isEnumValueKind(kind)) {
    const t = skipModsAndTypedefs(btf, typeId);
    if ((t.kind !== 'ENUM' && t.kind !== 'ENUM64') || raw.length !== 1) {
      throw fail('enum value relocations take an enum and one index');
    }
    const v = t.values[raw[0]!];
    if (v === undefined) throw fail(`enum has no value #${raw[0]}`);
    spec.accessors.push({ typeId: t.id, idx: raw[0]!, name: v.name });
    return spec;
  }
  if (!isFieldKind(kind)) throw fail(`unknown relocation kind ${kind}`);

  // The first index steps over the root pointer as over an array of the root type.
  const root = skipModsAndTypedefs(btf, typeId);
  const rootSize = resolveSize(btf, root.id);
  if (root.kind === 'VOID' || rootSize === undefined) throw fail('root type has no size');
  spec.accessors.push({ typeId: root.id, idx: raw[0]!, name: undefined });
  spec.bitOffset = raw[0]! * rootSize * 8;

  let id = root.id;
  for (let i = 1; i < raw.length; i++) {
    const t = skipModsAndTypedefs(btf, id);
    const idx = raw[i]!;
    if (t.kind === 'STRUCT' || t.kind === 'UNION') {
      const m = t.members[idx];
      if (m === undefined) throw fail(`${t.kind.toLowerCase()} [${t.id}] has no member #${idx}`);
      // Only a bitfield may start inside a byte (the kernel refuses such BTF as well); offsets
      // and sizes computed from any other would be fractions of a byte.
      if (m.bitfieldSize === 0 && m.bitsOffset % 8 !== 0)
        throw fail(`member #${idx} of [${t.id}] is not a bitfield but starts at bit ${m.bitsOffset}`);
      spec.bitOffset += m.bitsOffset;
      if (m.name !== '') spec.accessors.push({ typeId: t.id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === 'ARRAY') {
      const elem = skipModsAndTypedefs(btf, t.type);
      const flex = isFlexArray(btf, spec.accessors[spec.accessors.length - 1], t.nelems);
      if (!flex && idx >= t.nelems)
        throw fail(`index ${idx} is past the end of array [${t.id}] (${t.nelems})`);
      const size = resolveSize(btf, elem.id);
      if (size === undefined) throw fail(`array [${t.id}] element has no size`);
      spec.accessors.push({ typeId: elem.id, idx, name: undefined });
      spec.bitOffset += idx * size * 8;
      id = elem.id;
    } else {
      throw fail(`step ${i} reaches [${t.id}] ${t.kind}, which has no members or elements`);
    }
  }
  return spec;
}
