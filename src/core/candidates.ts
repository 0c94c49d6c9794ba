// Candidate search: target types of the same kind (ENUM and ENUM64 alike) whose name equals the
// local root type's name once both flavours (`___suffix`) are cut off. Like libbpf, each search
// scans the target's type records, but comparing name bytes in place: no type is decoded and no
// string built unless its name starts with the wanted one. The record offsets are found once per BTF.
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

/** Name offset and kind of every type a BTF defines itself, by id - firstTypeId. */
interface NameIndex {
  nameOff: Uint32Array;
  kind: Uint8Array;
}

const indexes = new WeakMap<Btf, NameIndex>();
/** Per BTF: earlier searches, by kind and essential name. */
const searches = new WeakMap<Btf, Map<string, Type[]>>();

function recordSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.INT:
    case BtfKind.VAR:
    case BtfKind.DECL_TAG:
      return 16;
    case BtfKind.ARRAY:
      return 24;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
    case BtfKind.DATASEC:
    case BtfKind.ENUM64:
      return 12 + 12 * vlen;
    case BtfKind.ENUM:
    case BtfKind.FUNC_PROTO:
      return 12 + 8 * vlen;
    default:
      return 12;
  }
}

/** One pass over the type section (which Btf.parse already validated) for names and kinds. */
function nameIndex(btf: Btf): NameIndex {
  let idx = indexes.get(btf);
  if (idx) return idx;
  const n = btf.typeCount;
  idx = { nameOff: new Uint32Array(n), kind: new Uint8Array(n) };
  const view = new DataView(btf.bytes.buffer, btf.bytes.byteOffset, btf.bytes.byteLength);
  const le = btf.littleEndian;
  let off = btf.header.hdrLen + btf.header.typeOff;
  for (let i = 0; i < n; i++) {
    const info = view.getUint32(off + 4, le);
    const kind = (info >>> 24) & 0x1f;
    idx.nameOff[i] = view.getUint32(off, le);
    idx.kind[i] = kind;
    off += recordSize(kind, info & 0xffff);
  }
  indexes.set(btf, idx);
  return idx;
}

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
  const idx = nameIndex(btf);
  const want = new Uint8Array(essential.length);
  for (let i = 0; i < essential.length; i++) want[i] = essential.charCodeAt(i) & 0xff;
  const k = kind === undefined ? -1 : KIND_NUMBERS[kind]!;
  const isEnum = k === BtfKind.ENUM || k === BtfKind.ENUM64;
  const out: Type[] = [];
  for (let i = 0; i < idx.kind.length; i++) {
    const tk = idx.kind[i]!;
    if (k >= 0 && tk !== k && !(isEnum && (tk === BtfKind.ENUM || tk === BtfKind.ENUM64))) continue;
    const nameOff = idx.nameOff[i]!;
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
