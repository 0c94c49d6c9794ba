// The JS shape a BTF type decodes to through btf/codec.ts, as plain data: which JS type each field
// becomes. The generated TypeScript is printed from it; tests check decoded values against it.
import { EbpfError } from '../errors.js';
import { BTF_INT_BOOL, type Member, type Type, type Void } from '../btf/types.js';
import { isCharElement, typedArrayFor, type TypedArrayName } from '../btf/value-rules.js';
import { skips } from '../btf/walk.js';

export type { TypedArrayName } from '../btf/value-rules.js';

export interface ShapeField {
  name: string;
  shape: Shape;
}

/**
 * What a decoded value is. `enum` and `object` keep the BTF id and the C name (a struct's own name,
 * else the typedef that named it, else '') so a printer can declare them once.
 */
export type Shape =
  | { kind: 'number' }
  | { kind: 'bigint' }
  | { kind: 'boolean' }
  /** A char array: the bytes up to the first NUL, as UTF-8. */
  | { kind: 'string'; length: number }
  /** Raw bytes (no BTF, or a type JS has no number for) and numeric arrays. */
  | { kind: 'typed'; array: TypedArrayName; length: number }
  | { kind: 'array'; element: Shape; length: number }
  /** The enumerator's name when one has the value, else the number (bigint for 64-bit enums). */
  | { kind: 'enum'; typeId: number; name: string; names: string[]; bigint: boolean }
  /** Struct, union (every member decoded) or DATASEC (every variable). */
  | {
      kind: 'object';
      typeId: number;
      name: string;
      what: 'struct' | 'union' | 'datasec';
      fields: ShapeField[];
    }
  /** Per-CPU map values: one value per possible CPU. */
  | { kind: 'perCpu'; value: Shape }
  /** The codec refuses the type (a function, a forward declaration...); `reason` says why. */
  | { kind: 'unknown'; reason: string };

/** Id → type, as a Btf gives it. */
export interface ShapeSource {
  type(id: number): Type | Void;
}

/** A shape and the bytes its codec covers (a codec whose size differs from the slot is replaced by raw bytes). */
export interface SizedShape {
  shape: Shape;
  size: number;
}

class Unrepresentable extends Error {}

const MAX_DEPTH = 64;

/** Raw bytes: what a codec without BTF decodes to. */
export function bytesShape(size: number): Shape {
  return { kind: 'typed', array: 'Uint8Array', length: size };
}

/**
 * The shape of `typeId` as codecFor(btf, typeId) decodes it, with the codec's size. A type the
 * codec refuses gives `unknown` with the reason and size -1.
 */
export function shapeOf(btf: ShapeSource, typeId: number): SizedShape {
  try {
    return new Shaper(btf).node(typeId, 0);
  } catch (e) {
    if (e instanceof Unrepresentable) return { shape: { kind: 'unknown', reason: e.message }, size: -1 };
    throw e;
  }
}

/**
 * The shape of a slot of `size` bytes typed `typeId`: raw bytes without a type (id 0) or when the
 * type's size differs, as BpfMap and the globals views do.
 */
export function slotShape(btf: ShapeSource | undefined, typeId: number, size: number): Shape {
  if (btf === undefined || typeId === 0) return bytesShape(size);
  const s = shapeOf(btf, typeId);
  if (s.shape.kind === 'unknown') return s.shape;
  return s.size === size ? s.shape : bytesShape(size);
}

function fail(reason: string): never {
  throw new Unrepresentable(reason);
}

const NUMBER: Shape = { kind: 'number' };
const BIGINT: Shape = { kind: 'bigint' };

/** Mirrors the codec compiler in btf/codec.ts rule for rule; test/gen.test.ts holds them together. */
class Shaper {
  constructor(private readonly btf: ShapeSource) {}

  private type(id: number): Type | Void {
    try {
      return this.btf.type(id);
    } catch (e) {
      if (e instanceof EbpfError) fail(e.message);
      throw e;
    }
  }

  /** Skips typedefs, qualifiers, type tags and VARs; `alias` is the typedef nearest the type. */
  private resolve(id: number): { t: Type | Void; alias: string } {
    let alias = '';
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const t = this.type(id);
      if (!skips(t, { typedefs: true, vars: true })) return { t, alias };
      if (t.kind === 'TYPEDEF') alias = t.name;
      id = t.type;
    }
    return fail(`type [${id}]: type chain too deep (a loop?)`);
  }

  node(id: number, depth: number): SizedShape {
    if (depth > MAX_DEPTH) fail(`type [${id}]: nesting too deep (a loop?)`);
    const { t, alias } = this.resolve(id);
    switch (t.kind) {
      case 'INT':
        if (t.bitsOffset !== 0 || t.bits !== t.size * 8) {
          return { shape: t.size > 4 ? BIGINT : NUMBER, size: t.size };
        }
        if (t.encoding & BTF_INT_BOOL) return { shape: { kind: 'boolean' }, size: intSize(t.size) };
        return { shape: t.size > 4 ? BIGINT : NUMBER, size: intSize(t.size) };
      case 'PTR':
        return { shape: BIGINT, size: 8 };
      case 'ENUM':
      case 'ENUM64':
        return { shape: enumShape(t, alias), size: intSize(t.size) };
      case 'FLOAT':
        return { shape: t.size === 4 || t.size === 8 ? NUMBER : bytesShape(t.size), size: t.size };
      case 'ARRAY':
        return this.array(t.type, t.nelems, depth);
      case 'STRUCT':
      case 'UNION':
        return this.struct(t, alias, depth);
      case 'DATASEC': {
        const fields: ShapeField[] = [];
        for (const vs of t.vars) {
          const v = this.type(vs.type);
          if (v.kind !== 'VAR') continue;
          fields.push({ name: v.name, shape: this.node(vs.type, depth + 1).shape });
        }
        return {
          shape: { kind: 'object', typeId: t.id, name: t.name, what: 'datasec', fields: dedupe(fields) },
          size: t.size,
        };
      }
      default:
        return fail(`a ${t.kind} type has no value representation`);
    }
  }

  private array(elemId: number, n: number, depth: number): SizedShape {
    if (isCharElement((id) => this.type(id), elemId))
      return { shape: { kind: 'string', length: n }, size: n };
    const { t: et } = this.resolve(elemId);
    const elem = this.node(elemId, depth + 1);
    const size = elem.size * n;
    const array = typedArrayFor(et);
    if (array !== undefined) return { shape: { kind: 'typed', array, length: n }, size };
    return { shape: { kind: 'array', element: elem.shape, length: n }, size };
  }

  private struct(t: Type & { kind: 'STRUCT' | 'UNION' }, alias: string, depth: number): SizedShape {
    const named: ShapeField[] = [];
    const inline: ShapeField[] = [];
    for (const m of t.members) {
      const { t: mt } = this.resolve(m.type);
      if (m.name === '') {
        // Anonymous struct/union members read as the parent's own, as in C; others are padding.
        if (mt.kind === 'STRUCT' || mt.kind === 'UNION') {
          const inner = this.node(m.type, depth + 1).shape;
          if (inner.kind === 'object') inline.push(...inner.fields);
        }
        continue;
      }
      named.push({ name: m.name, shape: this.member(m, mt, depth) });
    }
    return {
      shape: {
        kind: 'object',
        typeId: t.id,
        name: t.name !== '' ? t.name : alias,
        what: t.kind === 'UNION' ? 'union' : 'struct',
        // The codec writes named members first, then the anonymous ones' (a repeated name: the last wins).
        fields: dedupe([...named, ...inline]),
      },
      size: t.size,
    };
  }

  private member(m: Member, mt: Type | Void, depth: number): Shape {
    const bitIn = m.bitsOffset & 7;
    if (
      m.bitfieldSize === 0 &&
      bitIn === 0 &&
      !(mt.kind === 'INT' && (mt.bitsOffset !== 0 || mt.bits !== mt.size * 8))
    ) {
      return this.node(m.type, depth + 1).shape;
    }
    if (mt.kind === 'INT') return mt.size > 4 ? BIGINT : NUMBER;
    if (mt.kind === 'ENUM' || mt.kind === 'ENUM64') return enumShape(mt, '');
    return fail(`bitfield member '${m.name}' of kind ${mt.kind} is not supported`);
  }
}

function intSize(size: number): number {
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8 && size !== 16) {
    fail(`integer of ${size} bytes is not supported`);
  }
  return size;
}

function enumShape(t: Type & { kind: 'ENUM' | 'ENUM64' }, alias: string): Shape {
  const names: string[] = [];
  for (const v of t.values) if (!names.includes(v.name)) names.push(v.name);
  return { kind: 'enum', typeId: t.id, name: t.name !== '' ? t.name : alias, names, bigint: t.size > 4 };
}

/** One field per name, where the last one given wins (as later writes do in the decoded object). */
function dedupe(fields: ShapeField[]): ShapeField[] {
  const last = new Map<string, number>();
  fields.forEach((f, i) => last.set(f.name, i));
  return fields.filter((f, i) => last.get(f.name) === i);
}
