// BTF deduplication with btf__dedup's semantics: one copy of each string, one type per
// structurally equivalent type graph (forward declarations resolved against full definitions),
// survivors renumbered in their original order. The linker runs it over the merged BTF.
//
// Phases, in libbpf's order (so the same input gives the same ids and the same string table):
//  1. strings: the table is rebuilt from the strings the types (then .BTF.ext) refer to, in the
//     order they are first referred to;
//  2. primitive types (INT, ENUM, FWD, FLOAT) by value; an enum forward declaration meets its enum;
//  3. STRUCT/UNION by walking both type graphs side by side under a hypothetical mapping that
//     a contradiction refutes; a successful walk also records FWD -> STRUCT resolutions;
//  4. a FWD whose name names exactly one canonical struct (or union) resolves to it (libbpf
//     1.1.0 on; optional, as older libbpf, and so bpftool 7.1's, lacks it);
//  5. reference types (PTR, TYPEDEF, modifiers, ARRAY, FUNC, FUNC_PROTO, tags) once what they
//     refer to is canonical, so plain equality suffices;
//  6. canonical types kept in id order, every reference rewritten.
// VAR and DATASEC are never merged.
import { BtfError, NotSupportedError } from '../errors.js';
import type { Btf } from '../btf/btf.js';
import { BtfBuilder } from '../btf/builder.js';
import { StringTableBuilder } from '../btf/strings.js';
import { BtfKind, type Type } from '../btf/types.js';
import { mapTypeRefs } from '../btf/walk.js';

const UNPROCESSED = 0xffffffff;
const IN_PROGRESS = 0xfffffffe;
const MAX_ID = 0x7fffffff;

export interface DedupOptions {
  /**
   * The string table, in order, when it is already free of duplicates (BTF built from scratch,
   * as the linker's): libbpf keeps such a table as it is, unused strings included, instead of
   * rebuilding it from the references.
   */
  strings?: Iterable<string>;
  /** Strings .BTF.ext refers to, in libbpf's visiting order; kept after the types' strings. */
  extStrings?: Iterable<string>;
  /**
   * Resolve a FWD that no struct comparison resolved to the one canonical struct (or union) of
   * its name, when there is exactly one (default true, as libbpf since 1.1.0; bpftool 7.1, built
   * with the libbpf of Linux 6.1, does not).
   */
  fwdByName?: boolean;
  /** Byte order of the output (default little endian). */
  littleEndian?: boolean;
  /** For error messages. */
  file?: string;
}

export interface DedupResult {
  /** The deduplicated BTF (header, types, strings). */
  bytes: Uint8Array;
  /** Old type id -> new type id (index 0 is void). */
  remap: Uint32Array;
  /** Types in, types out (not counting void). */
  typesIn: number;
  typesOut: number;
  /** Offset in the output's string section of a string the types or extStrings referred to. */
  stringOffset(s: string): number;
}

/** Every string a type refers to, in the order libbpf visits them (name first, then members). */
export function typeStrings(t: Type): string[] {
  const out = [t.name];
  switch (t.kind) {
    case 'STRUCT':
    case 'UNION':
      for (const m of t.members) out.push(m.name);
      break;
    case 'ENUM':
    case 'ENUM64':
      for (const v of t.values) out.push(v.name);
      break;
    case 'FUNC_PROTO':
      for (const p of t.params) out.push(p.name);
      break;
    default:
      break;
  }
  return out;
}

/** Calls `visit` on every type id a type refers to, in libbpf's order, storing what it returns. */
export const mapTypeIds: (t: Type, visit: (id: number) => number) => void = mapTypeRefs;

/** A deep copy, so dedup can rewrite references without touching the caller's types. */
export function cloneType<T extends Type>(t: T): T {
  const c = { ...t } as Type;
  switch (c.kind) {
    case 'STRUCT':
    case 'UNION':
      c.members = c.members.map((m) => ({ ...m }));
      break;
    case 'ENUM':
    case 'ENUM64':
      c.values = c.values.map((v) => ({ ...v }));
      break;
    case 'FUNC_PROTO':
      c.params = c.params.map((p) => ({ ...p }));
      break;
    case 'DATASEC':
      c.vars = c.vars.map((v) => ({ ...v }));
      break;
    default:
      break;
  }
  return c as T;
}

/** The kind_flag bit as the record stores it. */
function kflag(t: Type): boolean {
  switch (t.kind) {
    case 'STRUCT':
    case 'UNION':
      return t.kindFlag || t.members.some((m) => m.bitfieldSize !== 0);
    case 'ENUM':
    case 'ENUM64':
      return t.signed;
    case 'FWD':
      return t.union;
    case 'DECL_TAG':
    case 'TYPE_TAG':
      return t.kindFlag === true;
    default:
      return false;
  }
}

function vlen(t: Type): number {
  switch (t.kind) {
    case 'STRUCT':
    case 'UNION':
      return t.members.length;
    case 'ENUM':
    case 'ENUM64':
      return t.values.length;
    case 'FUNC_PROTO':
      return t.params.length;
    case 'DATASEC':
      return t.vars.length;
    case 'FUNC':
      return t.linkage;
    default:
      return 0;
  }
}

/** The record's info word: kind, vlen, kind_flag. */
function info(t: Type): number {
  return ((kflag(t) ? 1 : 0) * 2 ** 31 + BtfKind[t.kind] * 2 ** 24 + vlen(t)) >>> 0;
}

/** The record's size/type word. */
function sizeOrType(t: Type): number {
  switch (t.kind) {
    case 'INT':
    case 'ENUM':
    case 'ENUM64':
    case 'STRUCT':
    case 'UNION':
    case 'DATASEC':
    case 'FLOAT':
      return t.size;
    case 'FUNC_PROTO':
      return t.returnType;
    case 'ARRAY':
    case 'FWD':
      return 0;
    default:
      return t.type;
  }
}

function equalCommon(a: Type, b: Type): boolean {
  return a.name === b.name && info(a) === info(b) && sizeOrType(a) === sizeOrType(b);
}
const commonKey = (t: Type): string => `${t.name}\0${info(t)}\0${sizeOrType(t)}`;

/** The word after an INT or DECL_TAG record's header. */
function extraWord(t: Type): number {
  if (t.kind === 'INT') return t.encoding * 2 ** 24 + t.bitsOffset * 2 ** 16 + t.bits;
  if (t.kind === 'DECL_TAG') return t.componentIdx;
  return 0;
}

function equalIntTag(a: Type, b: Type): boolean {
  return equalCommon(a, b) && extraWord(a) === extraWord(b);
}

const isEnum = (t: Type): t is Extract<Type, { kind: 'ENUM' | 'ENUM64' }> =>
  t.kind === 'ENUM' || t.kind === 'ENUM64';
const isEnumFwd = (t: Type): boolean => isEnum(t) && t.values.length === 0;

function equalEnum(a: Type, b: Type): boolean {
  if (!equalCommon(a, b) || !isEnum(a) || !isEnum(b)) return false;
  return a.values.every((v, i) => v.name === b.values[i]!.name && v.value === b.values[i]!.value);
}

/** An enum forward declaration (no values) matches any enum or enum64 of its name. */
function compatEnum(a: Type, b: Type): boolean {
  if (!isEnumFwd(a) && !isEnumFwd(b)) return equalEnum(a, b);
  return a.name === b.name && isEnum(a) && isEnum(b);
}

function shallowEqualStruct(a: Type, b: Type): boolean {
  if (!equalCommon(a, b)) return false;
  if ((a.kind !== 'STRUCT' && a.kind !== 'UNION') || (b.kind !== 'STRUCT' && b.kind !== 'UNION'))
    return false;
  return a.members.every(
    (m, i) =>
      m.name === b.members[i]!.name &&
      m.bitsOffset === b.members[i]!.bitsOffset &&
      m.bitfieldSize === b.members[i]!.bitfieldSize,
  );
}

function equalArray(a: Type, b: Type): boolean {
  return (
    a.kind === 'ARRAY' &&
    b.kind === 'ARRAY' &&
    equalCommon(a, b) &&
    a.type === b.type &&
    a.indexType === b.indexType &&
    a.nelems === b.nelems
  );
}

function equalFnProto(a: Type, b: Type): boolean {
  if (!equalCommon(a, b) || a.kind !== 'FUNC_PROTO' || b.kind !== 'FUNC_PROTO') return false;
  return a.params.every((p, i) => p.name === b.params[i]!.name && p.type === b.params[i]!.type);
}

/** Names, info and parameter names, but not the return type (checked by the graph walk). */
function compatFnProto(a: Type, b: Type): boolean {
  if (a.kind !== 'FUNC_PROTO' || b.kind !== 'FUNC_PROTO') return false;
  if (a.name !== b.name || info(a) !== info(b)) return false;
  return a.params.every((p, i) => p.name === b.params[i]!.name);
}

function structKey(t: Type): string {
  let k = 'S' + commonKey(t);
  if (t.kind === 'STRUCT' || t.kind === 'UNION') {
    for (const m of t.members) k += `\0${m.name}\0${m.bitsOffset}\0${m.bitfieldSize}`;
  }
  return k;
}

/**
 * Deduplicate `types` (ids 1..types.length in order; not split BTF). The input is not modified.
 */
export function dedupTypes(input: readonly Type[], opts: DedupOptions = {}): DedupResult {
  const n = input.length + 1;
  const types: (Type | undefined)[] = [undefined, ...input.map((t) => cloneType(t))];
  const loc = (id: number): { typeId: number; file?: string } =>
    opts.file !== undefined ? { typeId: id, file: opts.file } : { typeId: id };
  const type = (id: number): Type => {
    const t = types[id];
    if (t === undefined) throw new BtfError(`type id ${id} does not exist (last is ${n - 1})`, loc(id));
    return t;
  };
  for (let id = 1; id < n; id++) {
    mapTypeIds(type(id), (ref) => {
      if (ref >= n) throw new BtfError(`refers to type id ${ref}, past the last (${n - 1})`, loc(id));
      return ref;
    });
  }

  // 1. Strings: first-reference order over every type (duplicates included), then .BTF.ext.
  const strs = new StringTableBuilder();
  for (const s of opts.strings ?? []) strs.add(s);
  for (let id = 1; id < n; id++) for (const s of typeStrings(type(id))) strs.add(s);
  for (const s of opts.extStrings ?? []) strs.add(s);

  const map = new Uint32Array(n).fill(UNPROCESSED);
  const hypot = new Uint32Array(n).fill(UNPROCESSED);
  let hypotList: number[] = [];
  map[0] = 0;
  for (let id = 1; id < n; id++) {
    const k = type(id).kind;
    if (k === 'VAR' || k === 'DATASEC') map[id] = id;
  }
  // Candidates by signature.
  const table = new Map<string, number[]>();
  const none: readonly number[] = [];
  // Looked at from the end: newest first, as libbpf's hash buckets are.
  const candidates = (key: string): readonly number[] => table.get(key) ?? none;
  const addCandidate = (key: string, id: number): void => {
    const l = table.get(key);
    if (l) l.push(id);
    else table.set(key, [id]);
  };
  const isMapped = (id: number): boolean => map[id]! <= MAX_ID;
  const resolve = (id: number): number => {
    while (isMapped(id) && map[id] !== id) id = map[id]!;
    return id;
  };
  const resolveFwd = (id: number): number => {
    if (id === 0 || type(id).kind !== 'FWD') return id;
    const r = resolve(id);
    return type(r).kind === 'FWD' ? id : r;
  };

  // 2. Primitive types.
  for (let id = 1; id < n; id++) {
    const t = type(id);
    let canon = id;
    let key: string;
    switch (t.kind) {
      case 'INT':
        key = 'I' + commonKey(t) + '\0' + extraWord(t);
        for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
          const c = l[i]!;
          if (equalIntTag(t, type(c))) {
            canon = c;
            break;
          }
        }
        break;
      case 'ENUM':
      case 'ENUM64':
        key = 'E' + t.name;
        for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
          const c = l[i]!;
          const ct = type(c);
          if (equalEnum(t, ct)) {
            canon = c;
            break;
          }
          if (compatEnum(t, ct)) {
            if (isEnumFwd(t)) {
              canon = c;
              break;
            }
            // A canonical enum forward declaration now resolves to this full enum.
            map[c] = id;
          }
        }
        break;
      case 'FWD':
      case 'FLOAT':
        key = 'F' + commonKey(t);
        for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
          const c = l[i]!;
          if (equalCommon(t, type(c))) {
            canon = c;
            break;
          }
        }
        break;
      default:
        continue;
    }
    map[id] = canon;
    if (canon === id) addCandidate(key, id);
  }

  // 3. Structs and unions: the hypothetical-equivalence walk.
  const identicalArrays = (a: number, b: number): boolean => equalArray(type(a), type(b));
  const identicalStructs = (a: number, b: number): boolean => {
    const ta = type(a);
    const tb = type(b);
    if ((ta.kind !== 'STRUCT' && ta.kind !== 'UNION') || ta.kind !== tb.kind) return false;
    if (!shallowEqualStruct(ta, tb) || tb.kind !== ta.kind) return false;
    return ta.members.every((m, i) => {
      const mb = (tb as typeof ta).members[i]!.type;
      return m.type === mb || identicalArrays(m.type, mb) || identicalStructs(m.type, mb);
    });
  };
  const isEquiv = (candId: number, canonId: number): boolean => {
    if (resolve(candId) === resolve(canonId)) return true;
    canonId = resolveFwd(canonId);
    const h = hypot[canonId]!;
    if (h <= MAX_ID) {
      // The compiler sometimes emits identical arrays or structs twice within one unit.
      return h === candId || identicalArrays(h, candId) || identicalStructs(h, candId);
    }
    hypot[canonId] = candId;
    hypotList.push(canonId);
    if (candId === 0 || canonId === 0) return false; // void against a type
    const cand = type(candId);
    const canon = type(canonId);
    if (cand.name !== canon.name) return false;
    if ((cand.kind === 'FWD') !== (canon.kind === 'FWD')) {
      const fwd = cand.kind === 'FWD' ? cand : canon;
      const real = cand.kind === 'FWD' ? canon : cand;
      return fwd.kind === 'FWD' && real.kind === (fwd.union ? 'UNION' : 'STRUCT');
    }
    if (cand.kind !== canon.kind) return false;
    switch (cand.kind) {
      case 'INT':
        return equalIntTag(cand, canon);
      case 'ENUM':
      case 'ENUM64':
        return compatEnum(cand, canon);
      case 'FWD':
      case 'FLOAT':
        return equalCommon(cand, canon);
      case 'CONST':
      case 'VOLATILE':
      case 'RESTRICT':
      case 'PTR':
      case 'TYPEDEF':
      case 'FUNC':
      case 'TYPE_TAG':
        if (info(cand) !== info(canon)) return false;
        return isEquiv(cand.type, (canon as typeof cand).type);
      case 'ARRAY': {
        const c = canon as typeof cand;
        if (!equalCommon(cand, c) || cand.nelems !== c.nelems) return false;
        return isEquiv(cand.indexType, c.indexType) && isEquiv(cand.type, c.type);
      }
      case 'STRUCT':
      case 'UNION': {
        if (!shallowEqualStruct(cand, canon)) return false;
        const c = canon as typeof cand;
        return cand.members.every((m, i) => isEquiv(m.type, c.members[i]!.type));
      }
      case 'FUNC_PROTO': {
        if (!compatFnProto(cand, canon)) return false;
        const c = canon as typeof cand;
        if (!isEquiv(cand.returnType, c.returnType)) return false;
        return cand.params.every((p, i) => isEquiv(p.type, c.params[i]!.type));
      }
      default:
        throw new BtfError(`${cand.kind} cannot be part of a struct's type graph`, loc(candId));
    }
  };
  const mergeHypot = (): void => {
    for (const canonId of hypotList) {
      const t = resolve(hypot[canonId]!);
      const c = resolve(canonId);
      const tk = type0(t);
      const ck = type0(c);
      if (tk !== 'FWD' && ck === 'FWD') map[c] = t;
      if (tk === 'FWD' && ck !== 'FWD') map[t] = c;
      // Structs of the walked graph whose canonical is settled can be settled now too.
      if ((tk === 'STRUCT' || tk === 'UNION') && ck !== 'FWD' && isMapped(c) && !isMapped(t)) map[t] = c;
    }
  };
  const type0 = (id: number): string => (id === 0 ? 'VOID' : type(id).kind);
  const clearHypot = (): void => {
    for (const id of hypotList) hypot[id] = UNPROCESSED;
    hypotList = [];
  };
  for (let id = 1; id < n; id++) {
    if (isMapped(id)) continue;
    const t = type(id);
    if (t.kind !== 'STRUCT' && t.kind !== 'UNION') continue;
    const key = structKey(t);
    let canon = id;
    for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
      const c = l[i]!;
      // Guards against a FWD in the same bucket, which the walk would call equivalent.
      if (!shallowEqualStruct(t, type(c))) continue;
      clearHypot();
      if (!isEquiv(id, c)) continue;
      mergeHypot();
      canon = c;
      break;
    }
    map[id] = canon;
    if (canon === id) addCandidate(key, id);
  }
  clearHypot();

  // 4. A FWD still on its own resolves to the one canonical struct or union of its name.
  const byName = new Map<string, number>();
  const fwdByName = opts.fwdByName ?? true;
  for (let id = 1; id < n; id++) {
    const t = type(id);
    if ((t.kind !== 'STRUCT' && t.kind !== 'UNION') || map[id] !== id) continue;
    byName.set(t.name, byName.has(t.name) ? 0 : id);
  }
  for (let id = 1; id < n; id++) {
    const t = type(id);
    if (!fwdByName || t.kind !== 'FWD' || map[id] !== id) continue;
    const c = byName.get(t.name);
    if (c === undefined || c === 0) continue;
    if (type(c).kind === (t.union ? 'UNION' : 'STRUCT')) map[id] = c;
  }

  // 5. Reference types, depth first down to what is already canonical.
  const refType = (id: number): number => {
    if (map[id] === IN_PROGRESS) throw new BtfError('reference type loop', loc(id));
    if (isMapped(id)) return resolve(id);
    const t = type(id);
    map[id] = IN_PROGRESS;
    let canon = id;
    let key: string;
    switch (t.kind) {
      case 'CONST':
      case 'VOLATILE':
      case 'RESTRICT':
      case 'PTR':
      case 'TYPEDEF':
      case 'FUNC':
      case 'TYPE_TAG':
        t.type = refType(t.type);
        key = 'R' + commonKey(t);
        for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
          const c = l[i]!;
          if (equalCommon(t, type(c))) {
            canon = c;
            break;
          }
        }
        break;
      case 'DECL_TAG':
        t.type = refType(t.type);
        key = 'D' + commonKey(t) + '\0' + extraWord(t);
        for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
          const c = l[i]!;
          if (equalIntTag(t, type(c))) {
            canon = c;
            break;
          }
        }
        break;
      case 'ARRAY':
        t.type = refType(t.type);
        t.indexType = refType(t.indexType);
        key = `A${commonKey(t)}\0${t.type}\0${t.indexType}\0${t.nelems}`;
        for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
          const c = l[i]!;
          if (equalArray(t, type(c))) {
            canon = c;
            break;
          }
        }
        break;
      case 'FUNC_PROTO':
        t.returnType = refType(t.returnType);
        for (const p of t.params) p.type = refType(p.type);
        key = 'P' + commonKey(t) + t.params.map((p) => `\0${p.name}\0${p.type}`).join('');
        for (let l = candidates(key), i = l.length - 1; i >= 0; i--) {
          const c = l[i]!;
          if (equalFnProto(t, type(c))) {
            canon = c;
            break;
          }
        }
        break;
      default:
        throw new BtfError(`${t.kind} left unresolved by deduplication`, loc(id));
    }
    map[id] = canon;
    if (canon === id) addCandidate(key, id);
    return canon;
  };
  for (let id = 1; id < n; id++) refType(id);

  // 6. Keep canonical types in id order and rewrite every reference.
  const remap = new Uint32Array(n);
  const kept: Type[] = [];
  for (let id = 1; id < n; id++) {
    if (map[id] !== id) continue;
    kept.push(type(id));
    remap[id] = kept.length;
  }
  for (let id = 1; id < n; id++) remap[id] = remap[resolve(id)]!;
  const b = new BtfBuilder({ littleEndian: opts.littleEndian ?? true, stringTable: strs });
  for (const t of kept) {
    mapTypeIds(t, (ref) => remap[ref]!);
    t.id = remap[t.id]!;
    b.add(t);
  }
  const stringOffset = (s: string): number => {
    const size = strs.size;
    const off = strs.add(s);
    if (strs.size !== size) throw new BtfError(`string '${s}' was not given to deduplication`);
    return off;
  };
  return { bytes: b.build(), remap, typesIn: n - 1, typesOut: kept.length, stringOffset };
}

/** Deduplicate a parsed BTF (raw, or an object's .BTF) to new raw BTF bytes, as btf__dedup would. */
export function dedupBtf(btf: Btf, opts: Pick<DedupOptions, 'fwdByName'> = {}): DedupResult {
  if (btf.base) {
    throw new NotSupportedError('deduplicating split BTF against its base is not supported', {
      ...(btf.file !== undefined ? { file: btf.file } : {}),
    });
  }
  return dedupTypes([...btf.types()], {
    ...opts,
    littleEndian: btf.littleEndian,
    ...(btf.file !== undefined ? { file: btf.file } : {}),
  });
}
