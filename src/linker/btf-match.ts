// The BTF checks the linker makes when one symbol appears in two files: that an extern's type
// agrees with the definition's, and that two definitions of one map in .maps say the same thing.
import { VOID, type Type } from '../btf/types.js';
import { skipQualifiers, skips } from '../btf/walk.js';

/** Types of one BTF by id (index 0, void, is undefined). */
export type TypeTable = readonly (Type | undefined)[];

/** The type behind typedefs, modifiers and type tags; undefined for void (or a missing id, or a loop). */
export function skipModsAndTypedefs(types: TypeTable, id: number): Type | undefined {
  const t = skipQualifiers((i) => types[i] ?? VOID, id, { typedefs: true });
  return t.kind === 'VOID' || skips(t, { typedefs: true }) ? undefined : t;
}

/** Size in bytes of a type, following typedefs, modifiers and VARs; undefined when it has none. */
export function typeSize(types: TypeTable, id: number): number | undefined {
  let mult = 1;
  for (let hops = 0; hops < 64; hops++) {
    const t = types[id];
    if (t === undefined) return undefined;
    switch (t.kind) {
      case 'INT':
      case 'ENUM':
      case 'ENUM64':
      case 'STRUCT':
      case 'UNION':
      case 'DATASEC':
      case 'FLOAT':
        return mult * t.size;
      case 'PTR':
        return mult * 8;
      case 'ARRAY':
        mult *= t.nelems;
        id = t.type;
        break;
      case 'TYPEDEF':
      case 'VOLATILE':
      case 'CONST':
      case 'RESTRICT':
      case 'TYPE_TAG':
      case 'VAR':
      case 'DECL_TAG':
        id = t.type;
        break;
      default:
        return undefined;
    }
  }
  return undefined;
}

const kindName = (t: Type | undefined): string => (t === undefined ? 'void' : t.kind.toLowerCase());

/**
 * Why the types `id1` (in `a`) and `id2` (in `b`) of global `sym` are incompatible, or undefined
 * when they agree. `exact` compares struct members; behind a pointer only the shape counts, and
 * a forward declaration matches the struct or union of its name.
 */
export function btfMismatch(
  sym: string,
  exact: boolean,
  a: TypeTable,
  id1: number,
  b: TypeTable,
  id2: number,
): string | undefined {
  for (let depth = 0; depth < 64; depth++) {
    const t1 = skipModsAndTypedefs(a, id1);
    const t2 = skipModsAndTypedefs(b, id2);
    if (!exact && (t1?.kind === 'FWD') !== (t2?.kind === 'FWD')) {
      if ((t1?.name ?? '') !== (t2?.name ?? '')) {
        return `incompatible forward declaration names '${t1?.name ?? ''}' and '${t2?.name ?? ''}'`;
      }
      const fwd = t1?.kind === 'FWD' ? t1 : t2;
      const real = t1?.kind === 'FWD' ? t2 : t1;
      if (fwd?.kind === 'FWD' && real?.kind === (fwd.union ? 'UNION' : 'STRUCT')) return undefined;
      return `incompatible ${fwd?.kind === 'FWD' && fwd.union ? 'union' : 'struct'} forward declaration and concrete kind ${kindName(real)}`;
    }
    if (t1 === undefined || t2 === undefined) {
      return t1 === t2 ? undefined : `incompatible BTF kinds ${kindName(t1)} and ${kindName(t2)}`;
    }
    if (t1.kind !== t2.kind) return `incompatible BTF kinds ${kindName(t1)} and ${kindName(t2)}`;
    switch (t1.kind) {
      case 'STRUCT':
      case 'UNION':
      case 'ENUM':
      case 'ENUM64':
      case 'FWD':
      case 'FUNC':
      case 'VAR':
        if (t1.name !== t2.name) return `incompatible ${kindName(t1)} names '${t1.name}' and '${t2.name}'`;
        break;
      default:
        break;
    }
    switch (t1.kind) {
      case 'FWD':
        return undefined;
      case 'INT':
      case 'FLOAT':
      case 'ENUM':
      case 'ENUM64': {
        const s2 = (t2 as typeof t1).size;
        return t1.size === s2
          ? undefined
          : `incompatible ${kindName(t1)} '${t1.name}' size ${t1.size} and ${s2}`;
      }
      case 'PTR':
        exact = false;
        id1 = t1.type;
        id2 = (t2 as typeof t1).type;
        continue;
      case 'ARRAY':
        id1 = t1.type;
        id2 = (t2 as typeof t1).type;
        continue;
      case 'FUNC':
      case 'VAR': {
        const o = t2 as typeof t1;
        if ((t1.linkage === 0) !== (o.linkage === 0))
          return `incompatible ${kindName(t1)} '${t1.name}' linkage`;
        id1 = t1.type;
        id2 = o.type;
        continue;
      }
      case 'STRUCT':
      case 'UNION': {
        if (!exact) return undefined;
        const o = t2 as typeof t1;
        if (t1.members.length !== o.members.length) {
          return `incompatible number of ${kindName(t1)} fields ${t1.members.length} and ${o.members.length}`;
        }
        for (let i = 0; i < t1.members.length; i++) {
          const m1 = t1.members[i]!;
          const m2 = o.members[i]!;
          if (m1.name !== m2.name) return `incompatible field #${i} names '${m1.name}' and '${m2.name}'`;
          if (m1.bitsOffset !== m2.bitsOffset || m1.bitfieldSize !== m2.bitfieldSize) {
            return `incompatible field #${i} ('${m1.name}') offsets`;
          }
          const why = btfMismatch(sym, exact, a, m1.type, b, m2.type);
          if (why !== undefined) return why;
        }
        return undefined;
      }
      case 'FUNC_PROTO': {
        const o = t2 as typeof t1;
        if (t1.params.length !== o.params.length) {
          return `incompatible number of func_proto params ${t1.params.length} and ${o.params.length}`;
        }
        for (let i = 0; i < t1.params.length; i++) {
          const why = btfMismatch(sym, exact, a, t1.params[i]!.type, b, o.params[i]!.type);
          if (why !== undefined) return why;
        }
        id1 = t1.returnType;
        id2 = o.returnType;
        continue;
      }
      default:
        return `unsupported BTF kind ${kindName(t1)}`;
    }
  }
  return 'type chain too deep';
}

/** A .maps definition as libbpf reads it from the BTF of a map variable's struct. */
export interface MapDef {
  type: number;
  keySize: number;
  keyType: number;
  valueSize: number;
  valueType: number;
  maxEntries: number;
  flags: number;
  numaNode: number;
  pinning: number;
  mapExtra: number;
  inner: MapDef | undefined;
}

/** Reads the map definition behind VAR `varId`; a string saying what is wrong when it cannot. */
export function parseMapDef(types: TypeTable, varId: number, inner = false): MapDef | string {
  const v = types[varId];
  const def = inner ? v : v?.kind === 'VAR' ? skipModsAndTypedefs(types, v.type) : undefined;
  if (def === undefined || (def.kind !== 'STRUCT' && def.kind !== 'UNION')) return 'not a struct';
  const out: MapDef = {
    type: 0,
    keySize: 0,
    keyType: 0,
    valueSize: 0,
    valueType: 0,
    maxEntries: 0,
    flags: 0,
    numaNode: 0,
    pinning: 0,
    mapExtra: 0,
    inner: undefined,
  };
  /** `int (*name)[N]` encodes N. */
  const intField = (id: number): number | undefined => {
    const p = skipModsAndTypedefs(types, id);
    const arr = p?.kind === 'PTR' ? types[p.type] : undefined;
    return arr?.kind === 'ARRAY' ? arr.nelems : undefined;
  };
  for (const m of def.members) {
    const ints: Record<string, keyof MapDef> = {
      type: 'type',
      max_entries: 'maxEntries',
      map_flags: 'flags',
      numa_node: 'numaNode',
      key_size: 'keySize',
      value_size: 'valueSize',
      pinning: 'pinning',
      map_extra: 'mapExtra',
    };
    const field = ints[m.name];
    if (field !== undefined) {
      const n = intField(m.type);
      if (n === undefined) return `field '${m.name}' is not an int-encoding pointer`;
      (out[field] as number) = n;
    } else if (m.name === 'key' || m.name === 'value') {
      const p = skipModsAndTypedefs(types, m.type);
      if (p?.kind !== 'PTR') return `field '${m.name}' is not a pointer`;
      const size = typeSize(types, p.type);
      if (size === undefined) return `field '${m.name}' points to a type without a size`;
      if (m.name === 'key') {
        out.keyType = p.type;
        out.keySize = size;
      } else {
        out.valueType = p.type;
        out.valueSize = size;
      }
    } else if (m.name === 'values') {
      const arr = skipModsAndTypedefs(types, m.type);
      const p = arr?.kind === 'ARRAY' ? skipModsAndTypedefs(types, arr.type) : undefined;
      const innerDef = p?.kind === 'PTR' ? skipModsAndTypedefs(types, p.type) : undefined;
      if (innerDef?.kind === 'STRUCT' || innerDef?.kind === 'UNION') {
        const r = parseMapDef(types, innerDef.id, true);
        if (typeof r === 'string') return `inner map: ${r}`;
        out.inner = r;
      }
    } else {
      return `unknown field '${m.name}'`;
    }
  }
  return out;
}

/** Why two definitions of map `sym` disagree, or undefined when they match. */
export function mapDefMismatch(
  sym: string,
  a: TypeTable,
  d1: MapDef,
  b: TypeTable,
  d2: MapDef,
): string | undefined {
  if (d1.type !== d2.type) return 'map type mismatch';
  if (d1.keySize !== d2.keySize) return 'map key_size mismatch';
  if (!!d1.keyType !== !!d2.keyType) return 'map key type mismatch';
  if (d1.keyType && btfMismatch(sym, true, a, d1.keyType, b, d2.keyType) !== undefined)
    return 'map key type mismatch';
  if (d1.valueSize !== d2.valueSize) return 'map value_size mismatch';
  if (!!d1.valueType !== !!d2.valueType) return 'map value type mismatch';
  if (d1.valueType && btfMismatch(sym, true, a, d1.valueType, b, d2.valueType) !== undefined)
    return 'map value type mismatch';
  if (d1.maxEntries !== d2.maxEntries) return 'map max_entries mismatch';
  if (d1.flags !== d2.flags) return 'map map_flags mismatch';
  if (d1.numaNode !== d2.numaNode) return 'map numa_node mismatch';
  if (d1.pinning !== d2.pinning) return 'map pinning mismatch';
  if (!!d1.inner !== !!d2.inner) return 'map inner map mismatch';
  if (d1.inner && d2.inner) {
    const why = mapDefMismatch(`${sym}.inner`, a, d1.inner, b, d2.inner);
    if (why !== undefined) return `inner map: ${why}`;
  }
  return undefined;
}
