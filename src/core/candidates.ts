// Candidate search: target types of the same kind (ENUM and ENUM64 alike) whose name equals the
// local root type's name once both flavours (`___suffix`) are cut off. Like libbpf, each search
// scans the target's type records, but comparing name bytes in place: no type is decoded and no
// string built unless its name starts with the wanted one.
import type { Btf } from '../btf/btf.js';
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

function scan(btf: Btf, essential: string, kind: Type['kind'] | undefined): Type[] {
  const want = new Uint8Array(essential.length);
  for (let i = 0; i < essential.length; i++) want[i] = essential.charCodeAt(i) & 0xff;
  const k = kind === undefined ? -1 : KIND_NUMBERS[kind]!;
  const isEnum = k === BtfKind.ENUM || k === BtfKind.ENUM64;
  const out: Type[] = [];
  for (let i = 0; i < btf.typeCount; i++) {
    const tk = btf.kindAt(i);
    if (k >= 0 && tk !== k && !(isEnum && (tk === BtfKind.ENUM || tk === BtfKind.ENUM64))) continue;
    const nameOff = btf.nameOffAt(i);
    if (nameOff === 0) continue;
    // Offsets below the table's start are the base's strings (split BTF).
    let table = btf.strings;
    while (nameOff < table.start && table.base) table = table.base;
    const bytes = table.bytes;
    const p = nameOff - table.start;
    if (p < 0 || p + want.length >= bytes.length) continue;
    let j = 0;
    while (j < want.length && bytes[p + j] === want[j]) j++;
    if (j < want.length) continue;
    const next = bytes[p + j];
    if (next !== 0 && next !== 0x5f) continue;
    const t = btf.type(btf.firstTypeId + i) as Type;
    if (next === 0x5f && essentialName(t.name) !== essential) continue;
    out.push(t);
  }
  return out;
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
