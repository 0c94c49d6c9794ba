// Resolving one relocation: parse the local spec, search the target for candidates, match each,
// require every match to agree, and compute the values to patch (or the reason there are none).
import type { Btf } from '../btf/btf.js';
import { computeValues, type CoreValues } from './calc.js';
import { findCandidates, type CoreCandidate } from './candidates.js';
import { typeLabel } from './describe-type.js';
import { CoreError } from './errors.js';
import { CoreReloKind, isFieldKind, kindName } from './kinds.js';
import { essentialName } from './names.js';
import { matchSpec } from './match.js';
import { parseSpec, type CoreSpec } from './spec.js';
import type { CoreTarget } from './target.js';

/** The relocation as the object states it (re-based or not, the fields that matter here). */
export interface CoreRelocationRecord {
  typeId: number;
  accessStr: string;
  kind: number;
}

export interface CoreResolution {
  local: CoreSpec;
  /** Every target type found by name and kind. */
  candidates: CoreCandidate[];
  /** The first candidate that matched, with its spec; undefined when none did. */
  target: { candidate: CoreCandidate; spec: CoreSpec } | undefined;
  /** How many candidates matched (all agree). */
  matched: number;
  /** Why the others did not match. */
  misses: { candidate: CoreCandidate; reason: string }[];
  values: CoreValues;
  /** When there is no target: what was missing, in words. */
  reason: string | undefined;
}

/** Candidates already searched, per local type id; share it between relocations of one object. */
export type CandidateCache = Map<number, CoreCandidate[]>;

export interface ResolveOptions {
  /** Byte order of the program; default the local BTF's. */
  littleEndian?: boolean;
  cache?: CandidateCache;
}

const KIND_WORDS: Readonly<Record<string, string>> = {
  STRUCT: 'struct',
  UNION: 'union',
  ENUM: 'enum',
  ENUM64: 'enum',
  TYPEDEF: 'typedef',
  FWD: 'forward declaration',
};

function describeResult(spec: CoreSpec, values: CoreValues): string {
  if (isFieldKind(spec.kind))
    return `offset ${spec.bitOffset / 8}${values.poison ? '' : `, value ${values.new}`}`;
  return `value ${values.new}`;
}

/** Resolve a relocation of `localBtf` against `target`. Throws CoreError for hard failures. */
export function resolveRelocation(
  localBtf: Btf,
  relo: CoreRelocationRecord,
  target: CoreTarget,
  opts: ResolveOptions = {},
): CoreResolution {
  const littleEndian = opts.littleEndian ?? localBtf.littleEndian;
  const local = parseSpec(localBtf, relo.typeId, relo.accessStr, relo.kind);
  const where = { typeId: relo.typeId };

  if (relo.kind === CoreReloKind.TYPE_ID_LOCAL) {
    // The id is the object's own; it may have moved during linking, so it is never checked.
    const id = BigInt(relo.typeId);
    return {
      local,
      candidates: [],
      target: undefined,
      matched: 0,
      misses: [],
      values: {
        orig: id,
        new: id,
        poison: false,
        validate: false,
        origSize: 0,
        newSize: 0,
        failMemSizeAdjust: false,
      },
      reason: undefined,
    };
  }

  const localType = localBtf.nonVoid(relo.typeId);
  if (localType.name === '') {
    throw new CoreError(`${kindName(relo.kind)} relocation of an anonymous type is not supported`, where);
  }
  let candidates = opts.cache?.get(relo.typeId);
  if (!candidates) {
    candidates = findCandidates(localBtf, relo.typeId, target);
    opts.cache?.set(relo.typeId, candidates);
  }

  let chosen: { candidate: CoreCandidate; spec: CoreSpec; values: CoreValues } | undefined;
  let matched = 0;
  const misses: { candidate: CoreCandidate; reason: string }[] = [];
  for (const c of candidates) {
    const m = matchSpec(local, c.btf, c.id);
    if (!m.matched) {
      misses.push({ candidate: c, reason: m.reason });
      continue;
    }
    const values = computeValues(local, m.spec, littleEndian);
    matched++;
    if (!chosen) {
      chosen = { candidate: c, spec: m.spec, values };
      continue;
    }
    if (m.spec.bitOffset !== chosen.spec.bitOffset) {
      throw new CoreError(
        `${kindName(relo.kind)} '${relo.accessStr}' of ${typeLabel(localBtf, relo.typeId)} is ambiguous: ` +
          `${typeLabel(chosen.candidate.btf, chosen.candidate.id)} in ${chosen.candidate.source} puts it at bit ${chosen.spec.bitOffset}, ` +
          `${typeLabel(c.btf, c.id)} in ${c.source} at bit ${m.spec.bitOffset}`,
        where,
      );
    }
    if (values.poison !== chosen.values.poison || values.new !== chosen.values.new) {
      throw new CoreError(
        `${kindName(relo.kind)} '${relo.accessStr}' of ${typeLabel(localBtf, relo.typeId)} is ambiguous: ` +
          `${typeLabel(chosen.candidate.btf, chosen.candidate.id)} in ${chosen.candidate.source} gives ${describeResult(chosen.spec, chosen.values)}, ` +
          `${typeLabel(c.btf, c.id)} in ${c.source} gives ${describeResult(m.spec, values)}`,
        where,
      );
    }
  }

  if (chosen) {
    return {
      local,
      candidates,
      target: { candidate: chosen.candidate, spec: chosen.spec },
      matched,
      misses,
      values: chosen.values,
      reason: undefined,
    };
  }

  const values = computeValues(local, undefined, littleEndian);
  let reason: string;
  if (candidates.length === 0) {
    const what = KIND_WORDS[localType.kind] ?? localType.kind.toLowerCase();
    reason = `no candidate: no ${what} named '${essentialName(localType.name)}' in ${target.main.name}${target.modules ? ' or module BTF' : ''}`;
  } else if (misses.length === 1) {
    reason = misses[0]!.reason;
  } else {
    reason = `none of ${candidates.length} candidates matched: ${misses.map((m) => m.reason).join('; ')}`;
  }
  return { local, candidates, target: undefined, matched: 0, misses, values, reason };
}
