// Matching a local spec against one candidate root type in the target: members are found by
// name (looking through anonymous members), array bounds rechecked, and the target's own spec
// (indexes and bit offset) built along the way. A miss says why, for `core explain`.
import type { Btf } from '../btf/btf.js';
import { typeLabel } from './describe-type.js';
import { CoreError } from './errors.js';
import { fieldsAreCompat, typesAreCompat, typesMatch } from './compat.js';
import { CoreReloKind, isEnumValueKind, isFieldKind, isTypeKind } from './kinds.js';
import { essentialName } from './names.js';
import {
  CORE_SPEC_MAX_LEN,
  isFlexArray,
  resolveSize,
  skipModsAndTypedefs,
  type CoreAccessor,
  type CoreSpec,
} from './spec.js';

export type MatchResult = { matched: true; spec: CoreSpec } | { matched: false; reason: string };

const miss = (reason: string): MatchResult => ({ matched: false, reason });

/** Find the local member `name` in target type `targId`, descending into anonymous members. */
function matchMember(
  local: Btf,
  localAcc: CoreAccessor,
  targ: Btf,
  targId: number,
  spec: CoreSpec,
): { found: true; next: number } | { found: false; reason: string } {
  const tt = skipModsAndTypedefs(targ, targId);
  if (tt.kind !== 'STRUCT' && tt.kind !== 'UNION') {
    return { found: false, reason: `${typeLabel(targ, tt.id)} is not a struct or union` };
  }
  const lt = local.type(localAcc.typeId);
  if (lt.kind !== 'STRUCT' && lt.kind !== 'UNION') throw new CoreError('local accessor is not a member');
  const lm = lt.members[localAcc.idx]!;
  let incompatible: string | undefined;
  for (let i = 0; i < tt.members.length; i++) {
    const m = tt.members[i]!;
    if (spec.raw.length === CORE_SPEC_MAX_LEN) throw new CoreError('target access nests too deep');
    spec.bitOffset += m.bitsOffset;
    spec.raw.push(i);
    if (m.name === '') {
      const inner = matchMember(local, localAcc, targ, m.type, spec);
      if (inner.found) return inner;
      if (!inner.reason.startsWith('no member')) incompatible ??= inner.reason;
    } else if (m.name === lm.name) {
      if (fieldsAreCompat(local, lm.type, targ, m.type)) {
        spec.accessors.push({ typeId: tt.id, idx: i, name: m.name });
        return { found: true, next: m.type };
      }
      spec.bitOffset -= m.bitsOffset;
      spec.raw.pop();
      return {
        found: false,
        reason: `member '${lm.name}' of ${typeLabel(targ, tt.id)} is ${typeLabel(targ, m.type)}, incompatible with local ${typeLabel(local, lm.type)}`,
      };
    }
    spec.bitOffset -= m.bitsOffset;
    spec.raw.pop();
  }
  return { found: false, reason: incompatible ?? `no member '${lm.name}' in ${typeLabel(targ, tt.id)}` };
}

/** Match `local` against candidate `targId` of `targ`. */
export function matchSpec(local: CoreSpec, targ: Btf, targId: number): MatchResult {
  const spec: CoreSpec = {
    btf: targ,
    rootTypeId: targId,
    kind: local.kind,
    raw: [],
    accessors: [],
    bitOffset: 0,
  };

  if (isTypeKind(local.kind)) {
    const ok =
      local.kind === CoreReloKind.TYPE_MATCHES
        ? typesMatch(local.btf, local.rootTypeId, targ, targId)
        : typesAreCompat(local.btf, local.rootTypeId, targ, targId);
    if (!ok) {
      return miss(
        `${typeLabel(targ, targId)} ${local.kind === CoreReloKind.TYPE_MATCHES ? 'does not match' : 'is not compatible with'} local ${typeLabel(local.btf, local.rootTypeId)}`,
      );
    }
    spec.raw.push(0);
    return { matched: true, spec };
  }

  if (isEnumValueKind(local.kind)) {
    const tt = skipModsAndTypedefs(targ, targId);
    if (tt.kind !== 'ENUM' && tt.kind !== 'ENUM64') return miss(`${typeLabel(targ, targId)} is not an enum`);
    const want = essentialName(local.accessors[0]!.name ?? '');
    const idx = tt.values.findIndex((v) => essentialName(v.name) === want);
    if (idx < 0) return miss(`no enumerator ${want} in ${typeLabel(targ, tt.id)}`);
    spec.accessors.push({ typeId: tt.id, idx, name: tt.values[idx]!.name });
    spec.raw.push(idx);
    return { matched: true, spec };
  }

  if (!isFieldKind(local.kind)) throw new CoreError(`unknown relocation kind ${local.kind}`);
  let id = targId;
  for (let i = 0; i < local.accessors.length; i++) {
    const la = local.accessors[i]!;
    if (la.name !== undefined) {
      const r = matchMember(local.btf, la, targ, id, spec);
      if (!r.found) return miss(r.reason);
      id = r.next;
      continue;
    }
    if (i > 0) {
      const tt = skipModsAndTypedefs(targ, id);
      if (tt.kind !== 'ARRAY') return miss(`${typeLabel(targ, tt.id)} is not an array`);
      const flex = isFlexArray(targ, spec.accessors[spec.accessors.length - 1], tt.nelems);
      if (!flex && la.idx >= tt.nelems) {
        return miss(`index ${la.idx} is past the end of ${typeLabel(targ, tt.id)} (${tt.nelems} elements)`);
      }
      id = skipModsAndTypedefs(targ, tt.type).id;
    }
    if (spec.raw.length === CORE_SPEC_MAX_LEN) throw new CoreError('target access nests too deep');
    spec.accessors.push({ typeId: id, idx: la.idx, name: undefined });
    spec.raw.push(la.idx);
    const size = resolveSize(targ, id);
    if (size === undefined) throw new CoreError(`${typeLabel(targ, id)} has no size`, { typeId: id });
    spec.bitOffset += la.idx * size * 8;
  }
  return { matched: true, spec };
}
