// Walking the BTF type graph, kind by kind, in one place: what qualifies another type, following
// qualifiers (and typedefs) to what they qualify, and the ids a type refers to. A new BTF kind is
// taught here and the formatters, codecs, CO-RE and the loader follow.
import type { Modifier, Type, TypeTag, Typedef, Var, Void } from './types.js';

/** Chains of qualifiers or typedefs longer than this are malformed BTF (a loop), not C. */
export const MAX_TYPE_CHAIN = 64;

/** const, volatile, restrict and type tags: kinds that only qualify the type they point to. */
export function isQualifier(t: Type | Void): t is Modifier | TypeTag {
  return t.kind === 'CONST' || t.kind === 'VOLATILE' || t.kind === 'RESTRICT' || t.kind === 'TYPE_TAG';
}

/** What skipQualifiers follows besides qualifiers. */
export interface SkipOptions {
  /** Typedefs too (libbpf's skip_mods_and_typedefs). */
  typedefs?: boolean;
  /** A VAR to its type too (for a DATASEC's variables). */
  vars?: boolean;
}

/** Whether skipQualifiers with `opts` steps over `t`. */
export function skips(t: Type | Void, opts: SkipOptions = {}): t is Modifier | TypeTag | Typedef | Var {
  return (
    isQualifier(t) ||
    (opts.typedefs === true && t.kind === 'TYPEDEF') ||
    (opts.vars === true && t.kind === 'VAR')
  );
}

/**
 * The type `id` stands for once qualifiers (and, per `opts`, typedefs and VARs) are followed.
 * Stops after MAX_TYPE_CHAIN steps and returns where it got to, which skips() then still accepts:
 * the caller refuses that as a loop in its own terms.
 */
export function skipQualifiers(
  type: (id: number) => Type | Void,
  id: number,
  opts: SkipOptions = {},
): Type | Void {
  let t = type(id);
  for (let i = 0; i < MAX_TYPE_CHAIN && skips(t, opts); i++) t = type(t.type);
  return t;
}

/**
 * Calls `visit` on every type id `t` refers to and stores what it returns in its place, in record
 * order (libbpf's): the pointee, qualified, aliased or tagged type; an array's element then index
 * type; members; a prototype's return then parameter types (0 for `...`); a FUNC's prototype; a
 * VAR's type; a DATASEC's variables.
 */
export function mapTypeRefs(t: Type | Void, visit: (id: number) => number): void {
  switch (t.kind) {
    case 'PTR':
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
    case 'TYPE_TAG':
    case 'FUNC':
    case 'VAR':
    case 'DECL_TAG':
      t.type = visit(t.type);
      return;
    case 'ARRAY':
      t.type = visit(t.type);
      t.indexType = visit(t.indexType);
      return;
    case 'STRUCT':
    case 'UNION':
      for (const m of t.members) m.type = visit(m.type);
      return;
    case 'FUNC_PROTO':
      t.returnType = visit(t.returnType);
      for (const p of t.params) p.type = visit(p.type);
      return;
    case 'DATASEC':
      for (const v of t.vars) v.type = visit(v.type);
      return;
    default:
      return;
  }
}

/** Every type id `t` refers to, in mapTypeRefs' order. */
export function typeRefs(t: Type | Void): number[] {
  const out: number[] = [];
  mapTypeRefs(t, (id) => {
    out.push(id);
    return id;
  });
  return out;
}
