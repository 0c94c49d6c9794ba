// Candidate search: target types of the same kind (ENUM and ENUM64 alike) whose name equals the
// local root type's name once both flavours (`___suffix`) are cut off. The first searches on a
// BTF scan its type records as libbpf does for each, later ones go through its name index (see
// Btf.indexesByEssentialName); names are compared as bytes in place, and no type is decoded
// unless its name matches.
import type { Btf } from '../btf/btf.js';
import { EbpfError } from '../errors.js';
import { BtfKind, type Type } from '../btf/types.js';
import { kindsCompatible } from './compat.js';
import { essentialName } from './names.js';
import type { CoreTarget, CoreTargetBtf } from './target.js';

export interface CoreCandidate {
  /** The BTF it was found in (vmlinux, a module, a file). */
  source: string;
  btf: Btf;
  id: number;
}

/** Per BTF: earlier searches, by kind and essential name. */
const searches = new WeakMap<Btf, Map<string, Type[]>>();

const KIND_NUMBERS: Readonly<Record<string, number>> = BtfKind;

/**
 * Types `btf` itself defines (not its base) of kind `kind` (ENUM also finds ENUM64 and back)
 * whose essential name is `essential`, in id order.
 */
export function typesByEssentialName(btf: Btf, essential: string, kind?: Type['kind']): Type[] {
  let memo = searches.get(btf);
  if (!memo) searches.set(btf, (memo = new Map()));
  const key = `${kind ?? ''}:${essential}`;
  let found = memo.get(key);
  if (!found) memo.set(key, (found = scan(btf, essential, kind)));
  return found;
}

/** The search for `essential` of `kind` as Btf.indexesByEssentialName takes it. */
function searchOf(
  btf: Btf,
  essential: string,
  kind: Type['kind'] | undefined,
): { essential: string; kinds: number; flavoured: (index: number) => boolean } {
  const k = kind === undefined ? -1 : KIND_NUMBERS[kind]!;
  const kinds =
    k < 0
      ? -1
      : k === BtfKind.ENUM || k === BtfKind.ENUM64
        ? (1 << BtfKind.ENUM) | (1 << BtfKind.ENUM64)
        : 1 << k;
  const flavoured = (i: number): boolean =>
    essentialName((btf.type(btf.firstTypeId + i) as Type).name) === essential;
  return { essential, kinds, flavoured };
}

function typesAt(btf: Btf, indexes: readonly number[]): Type[] {
  return indexes.map((i) => btf.type(btf.firstTypeId + i) as Type);
}

function scan(btf: Btf, essential: string, kind: Type['kind'] | undefined): Type[] {
  const s = searchOf(btf, essential, kind);
  return typesAt(btf, btf.indexesByEssentialName(s.essential, s.kinds, s.flavoured));
}

/**
 * Makes the candidate searches for the local types `localIds` in the target's main BTF at once,
 * in one pass over its records where each search alone would make one (findCandidates then finds
 * them done). Ids that are void, anonymous or not in `localBtf` are left to findCandidates, which
 * says what is wrong with them where it is asked.
 */
export function searchCandidatesAhead(localBtf: Btf, localIds: Iterable<number>, target: CoreTarget): void {
  const btf = target.main.btf;
  let memo = searches.get(btf);
  if (!memo) searches.set(btf, (memo = new Map()));
  const keys: string[] = [];
  const pending: ReturnType<typeof searchOf>[] = [];
  for (const id of localIds) {
    if (!Number.isInteger(id) || id <= 0 || id >= localBtf.firstTypeId + localBtf.typeCount) continue;
    let local: Type | { kind: 'VOID'; name?: string };
    try {
      local = localBtf.type(id);
    } catch (e) {
      if (e instanceof EbpfError) continue;
      throw e;
    }
    if (local.kind === 'VOID' || local.name === '') continue;
    const essential = essentialName(local.name);
    const key = `${local.kind}:${essential}`;
    if (memo.has(key) || keys.includes(key)) continue;
    keys.push(key);
    pending.push(searchOf(btf, essential, local.kind));
  }
  if (pending.length === 0) return;
  let found: Type[][];
  try {
    const indexes = btf.indexesByEssentialNames(pending);
    found = indexes.map((ix) => typesAt(btf, ix));
  } catch (e) {
    // Broken target BTF: each search alone then fails where its relocation asks, as it says.
    if (e instanceof EbpfError) return;
    throw e;
  }
  for (let q = 0; q < keys.length; q++) memo.set(keys[q]!, found[q]!);
}

function addFrom(local: Type, essential: string, where: CoreTargetBtf, out: CoreCandidate[]): void {
  for (const t of typesByEssentialName(where.btf, essential, local.kind)) {
    if (kindsCompatible(t, local)) out.push({ source: where.name, btf: where.btf, id: t.id });
  }
}

/**
 * Candidates for the local type `localId` in `target`: from its main BTF, or, only when that has
 * none, from its modules. An anonymous local type has none.
 */
export function findCandidates(localBtf: Btf, localId: number, target: CoreTarget): CoreCandidate[] {
  const local = localBtf.type(localId);
  if (local.kind === 'VOID' || local.name === '') return [];
  const essential = essentialName(local.name);
  const out: CoreCandidate[] = [];
  addFrom(local, essential, target.main, out);
  if (out.length > 0 || !target.modules) return out;
  for (const m of target.modules()) addFrom(local, essential, m, out);
  return out;
}
