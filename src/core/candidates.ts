// Candidate search: target types of the same kind (ENUM and ENUM64 alike) whose name equals the
// local root type's name once both flavours (`___suffix`) are cut off. Names are looked up through
// the BTF's name index; flavoured target names come from one pass over its string section.
import type { Btf } from '../btf/btf.js';
import type { Type } from '../btf/types.js';
import { kindsCompatible } from './compat.js';
import { essentialName, essentialNameLength } from './names.js';
import type { CoreTarget, CoreTargetBtf } from './target.js';

export interface CoreCandidate {
  /** The BTF it was found in (vmlinux, a module, a file). */
  source: string;
  btf: Btf;
  id: number;
}

/** Per BTF: essential name → the flavoured full names in its string section. */
const flavoured = new WeakMap<Btf, Map<string, string[]>>();

function flavouredNames(btf: Btf): Map<string, string[]> {
  let m = flavoured.get(btf);
  if (m) return m;
  m = new Map();
  const bytes = btf.strings.bytes;
  const text = new TextDecoder('latin1').decode(bytes);
  for (let at = text.indexOf('___'); at >= 0;) {
    const start = text.lastIndexOf('\0', at) + 1;
    let end = text.indexOf('\0', at);
    if (end < 0) end = text.length;
    const name = text.slice(start, end);
    const n = essentialNameLength(name);
    if (n < name.length && n > 0) {
      const e = name.slice(0, n);
      const list = m.get(e);
      if (!list) m.set(e, [name]);
      else if (!list.includes(name)) list.push(name);
    }
    at = text.indexOf('___', end);
  }
  flavoured.set(btf, m);
  return m;
}

/** Types `btf` itself defines (not its base) whose essential name is `essential`, in id order. */
export function typesByEssentialName(btf: Btf, essential: string): Type[] {
  const out: Type[] = [];
  const own = (t: Type): boolean => t.id >= btf.firstTypeId && essentialName(t.name) === essential;
  for (const t of btf.findByName(essential)) if (own(t)) out.push(t);
  for (const full of flavouredNames(btf).get(essential) ?? []) {
    for (const t of btf.findByName(full)) if (own(t)) out.push(t);
  }
  if (out.length > 1) out.sort((a, b) => a.id - b.id);
  return out;
}

function addFrom(local: Type, essential: string, where: CoreTargetBtf, out: CoreCandidate[]): void {
  for (const t of typesByEssentialName(where.btf, essential)) {
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
