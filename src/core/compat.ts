// When a target type can stand for a local one: field compatibility (a member found by name),
// type compatibility (type-based relocations) and the stricter "type matches" (TYPE_MATCHES).
// The rules are libbpf's (relo_core.c), so both accept the same kernels.
import type { Btf } from '../btf/btf.js';
import { BTF_INT_SIGNED, type Type, type Void } from '../btf/types.js';
import { CoreError } from './errors.js';
import { essentialNameLength } from './names.js';
import { skipModsAndTypedefs } from './spec.js';

const MAX_DEPTH = 32;

export type AnyType = Type | Void;

function isEnum(t: AnyType): t is Extract<Type, { kind: 'ENUM' | 'ENUM64' }> {
  return t.kind === 'ENUM' || t.kind === 'ENUM64';
}

function isComposite(t: AnyType): boolean {
  return t.kind === 'STRUCT' || t.kind === 'UNION';
}

/** Kinds that CO-RE treats as the same: equal, or ENUM and ENUM64. */
export function kindsCompatible(a: AnyType, b: AnyType): boolean {
  return a.kind === b.kind || (isEnum(a) && isEnum(b));
}

function essentialNamesEqual(a: string, b: string): boolean {
  const la = essentialNameLength(a);
  return la === essentialNameLength(b) && a.slice(0, la) === b.slice(0, la);
}

/**
 * A member found by name in the target is usable for the local member: composites against
 * composites, same kind otherwise; enums and forward declarations also by name (unless anonymous);
 * integers unless they are old bitfield-like ints (non-zero int offset); arrays by element.
 */
export function fieldsAreCompat(local: Btf, localId: number, targ: Btf, targId: number): boolean {
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const lt = skipModsAndTypedefs(local, localId);
    const tt = skipModsAndTypedefs(targ, targId);
    if (isComposite(lt) && isComposite(tt)) return true;
    if (!kindsCompatible(lt, tt)) return false;
    switch (lt.kind) {
      case 'PTR':
      case 'FLOAT':
        return true;
      case 'FWD':
      case 'ENUM':
      case 'ENUM64': {
        const ln = lt.name;
        const tn = tt.name;
        return essentialNameLength(ln) === 0 || essentialNameLength(tn) === 0 || essentialNamesEqual(ln, tn);
      }
      case 'INT':
        return lt.bitsOffset === 0 && tt.kind === 'INT' && tt.bitsOffset === 0;
      case 'ARRAY':
        if (tt.kind !== 'ARRAY') return false;
        localId = lt.type;
        targId = tt.type;
        continue;
      default:
        return false;
    }
  }
  throw new CoreError('type nesting too deep comparing fields', { typeId: localId });
}

/**
 * Type-based relocations (exists, size, target id): the target, found by name, has the same kind
 * after typedefs; pointers, arrays and function prototypes compare what they point to.
 */
export function typesAreCompat(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  level = MAX_DEPTH,
): boolean {
  if (!kindsCompatible(local.type(localId), targ.type(targId))) return false;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const lt = skipModsAndTypedefs(local, localId);
    const tt = skipModsAndTypedefs(targ, targId);
    if (!kindsCompatible(lt, tt)) return false;
    switch (lt.kind) {
      case 'VOID':
      case 'STRUCT':
      case 'UNION':
      case 'ENUM':
      case 'ENUM64':
      case 'FWD':
        return true;
      case 'INT':
        return lt.bitsOffset === 0 && tt.kind === 'INT' && tt.bitsOffset === 0;
      case 'PTR':
        if (tt.kind !== 'PTR') return false;
        localId = lt.type;
        targId = tt.type;
        continue;
      case 'ARRAY':
        if (tt.kind !== 'ARRAY') return false;
        localId = lt.type;
        targId = tt.type;
        continue;
      case 'FUNC_PROTO': {
        if (tt.kind !== 'FUNC_PROTO' || lt.params.length !== tt.params.length) return false;
        for (let i = 0; i < lt.params.length; i++) {
          if (level <= 0) throw new CoreError('function prototypes nest too deep', { typeId: lt.id });
          const lp = skipModsAndTypedefs(local, lt.params[i]!.type);
          const tp = skipModsAndTypedefs(targ, tt.params[i]!.type);
          if (!typesAreCompat(local, lp.id, targ, tp.id, level - 1)) return false;
        }
        localId = skipModsAndTypedefs(local, lt.returnType).id;
        targId = skipModsAndTypedefs(targ, tt.returnType).id;
        continue;
      }
      default:
        return false;
    }
  }
  throw new CoreError('type nesting too deep comparing types', { typeId: localId });
}

/** Names for TYPE_MATCHES: an anonymous target matches only an anonymous local; else flavour-less equality. */
function namesMatch(localName: string, targName: string): boolean {
  if (targName === '') return localName === '';
  return essentialNamesEqual(localName, targName);
}

function enumsMatch(
  lt: Extract<Type, { kind: 'ENUM' | 'ENUM64' }>,
  tt: Extract<Type, { kind: 'ENUM' | 'ENUM64' }>,
): boolean {
  if (lt.size !== tt.size || lt.values.length > tt.values.length) return false;
  return lt.values.every((lv) => tt.values.some((tv) => namesMatch(lv.name, tv.name)));
}

/**
 * TYPE_MATCHES (bpf_core_type_matches): a stricter, recursive check. Every local member must have
 * a same-named target member whose type matches; ints match in size and signedness; enums when
 * every local enumerator is in the target; arrays in length; behind a pointer, a struct matches
 * a forward declaration of the same kind.
 */
export function typesMatch(
  local: Btf,
  localId: number,
  targ: Btf,
  targId: number,
  behindPtr = false,
  level = MAX_DEPTH,
): boolean {
  if (level <= 0) throw new CoreError('types nest too deep for a match', { typeId: localId });
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const lt = skipModsAndTypedefs(local, localId);
    const tt = skipModsAndTypedefs(targ, targId);
    if (!namesMatch(lt.name, tt.name)) return false;
    switch (lt.kind) {
      case 'VOID':
        return tt.kind === 'VOID';
      case 'FWD':
        if (behindPtr) {
          if (tt.kind === 'FWD') return lt.union === tt.union;
          return (tt.kind === 'STRUCT' && !lt.union) || (tt.kind === 'UNION' && lt.union);
        }
        return tt.kind === 'FWD' && lt.union === tt.union;
      case 'ENUM':
      case 'ENUM64':
        return isEnum(tt) && enumsMatch(lt, tt);
      case 'STRUCT':
      case 'UNION':
        if (behindPtr) {
          if (lt.kind === tt.kind) return true;
          if (tt.kind !== 'FWD') return false;
          return (lt.kind === 'UNION') === tt.union;
        }
        if (lt.kind !== tt.kind || (tt.kind !== 'STRUCT' && tt.kind !== 'UNION')) return false;
        if (lt.members.length > tt.members.length) return false;
        for (const lm of lt.members) {
          let matched = false;
          for (const tm of tt.members) {
            if (!namesMatch(lm.name, tm.name)) continue;
            if (typesMatch(local, lm.type, targ, tm.type, behindPtr, level - 1)) {
              matched = true;
              break;
            }
          }
          if (!matched) return false;
        }
        return true;
      case 'INT':
        return (
          tt.kind === 'INT' &&
          lt.size === tt.size &&
          (lt.encoding & BTF_INT_SIGNED) === (tt.encoding & BTF_INT_SIGNED)
        );
      case 'PTR':
        if (tt.kind !== 'PTR') return false;
        behindPtr = true;
        localId = lt.type;
        targId = tt.type;
        continue;
      case 'ARRAY':
        if (tt.kind !== 'ARRAY' || lt.nelems !== tt.nelems) return false;
        localId = lt.type;
        targId = tt.type;
        continue;
      case 'FUNC_PROTO':
        if (tt.kind !== 'FUNC_PROTO' || lt.params.length !== tt.params.length) return false;
        for (let i = 0; i < lt.params.length; i++) {
          if (!typesMatch(local, lt.params[i]!.type, targ, tt.params[i]!.type, behindPtr, level - 1))
            return false;
        }
        localId = lt.returnType;
        targId = tt.returnType;
        continue;
      default:
        return false;
    }
  }
  throw new CoreError('types nest too deep for a match', { typeId: localId });
}
