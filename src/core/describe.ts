// Explaining relocations: the access written as C (`s->__sk_common.skc_cookie`, `t->comm[3]`),
// what it resolved to in the target, and the instruction before and after, as text or JSON.
import { formatInstruction, type Instruction } from '../asm/index.js';
import type { Btf } from '../btf/btf.js';
import type { AppliedCoreRelocation } from './apply.js';
import { cTypeName, typeLabel } from './describe-type.js';
import { isEnumValueKind, isFieldKind } from './kinds.js';
import { essentialName } from './names.js';
import { resolveSize, skipModsAndTypedefs, type CoreSpec } from './spec.js';

/** A variable name for the root pointer: the first letter of the type's name. */
function rootVariable(btf: Btf, id: number): string {
  const name = essentialName(skipModsAndTypedefs(btf, id).name || btf.type(id).name);
  const m = /[a-z]/i.exec(name);
  return m ? m[0].toLowerCase() : 'p';
}

/** The access of a spec as C: field accesses through the root pointer, enum values, types. */
export function accessAsC(spec: CoreSpec): string {
  const btf = spec.btf;
  if (isEnumValueKind(spec.kind)) {
    const acc = spec.accessors[0];
    return acc ? `${acc.name ?? `#${acc.idx}`}` : cTypeName(btf, spec.rootTypeId);
  }
  if (!isFieldKind(spec.kind)) return cTypeName(btf, spec.rootTypeId);
  const v = rootVariable(btf, spec.rootTypeId);
  const first = spec.raw[0] ?? 0;
  let out = first === 0 ? v : `${v}[${first}]`;
  let sep = first === 0 ? '->' : '.';
  let id = spec.rootTypeId;
  for (let i = 1; i < spec.raw.length; i++) {
    const t = skipModsAndTypedefs(btf, id);
    const idx = spec.raw[i]!;
    if (t.kind === 'STRUCT' || t.kind === 'UNION') {
      const m = t.members[idx];
      if (!m) return `${out}${sep}<member #${idx}>`;
      // Anonymous members are transparent in C.
      if (m.name !== '') {
        out += `${sep}${m.name}`;
        sep = '.';
      }
      id = m.type;
    } else if (t.kind === 'ARRAY') {
      out += `[${idx}]`;
      sep = '.';
      id = t.type;
    } else {
      return `${out}<#${idx}>`;
    }
  }
  return spec.raw.length === 1 && first === 0 ? `*${v}` : out;
}

/** Where a field spec lands: byte offset, size, and for bitfields the bit position. */
export interface FieldPlace {
  offset: number;
  size: number | undefined;
  bitOffset?: number;
  bitSize?: number;
}

export function fieldPlace(spec: CoreSpec): FieldPlace {
  const acc = spec.accessors[spec.accessors.length - 1];
  const place: FieldPlace = { offset: Math.floor(spec.bitOffset / 8), size: undefined };
  if (!acc) return place;
  if (acc.name === undefined) {
    place.size = resolveSize(spec.btf, acc.typeId);
    return place;
  }
  const t = spec.btf.type(acc.typeId);
  if (t.kind !== 'STRUCT' && t.kind !== 'UNION') return place;
  const m = t.members[acc.idx];
  if (!m) return place;
  place.size = resolveSize(spec.btf, m.type);
  if (m.bitfieldSize > 0) {
    place.bitOffset = spec.bitOffset;
    place.bitSize = m.bitfieldSize;
  }
  return place;
}

function placeText(p: FieldPlace): string {
  if (p.bitSize !== undefined)
    return `bits ${p.bitOffset}..${(p.bitOffset ?? 0) + p.bitSize - 1} (byte ${p.offset})`;
  return `offset ${p.offset}${p.size !== undefined ? `, size ${p.size}` : ''}`;
}

function insnText(insns: readonly Instruction[]): string {
  return insns.map((i) => formatInstruction(i).text).join('; ');
}

/** The C form of the relocation's local access, e.g. `t->real_parent`. */
export function localAccess(r: AppliedCoreRelocation): string {
  if (r.resolution) return accessAsC(r.resolution.local);
  return `${cTypeName(r.localBtf, r.relo.typeId)} '${r.relo.accessStr}'`;
}

function valueText(r: AppliedCoreRelocation): string {
  const res = r.resolution;
  if (!res) return '';
  if (res.values.poison) return 'poisoned';
  return `${res.values.orig} -> ${res.values.new}`;
}

/**
 * Text for one relocation, several lines:
 *   core_task insn 3: FIELD_BYTE_OFFSET t->real_parent (struct task_struct [5], "0:2")
 *     target:  vmlinux struct task_struct [118] "0:81": offset 2384, size 8
 *     value:   8 -> 2384
 *     insn:    r1 = *(u64 *)(r6 + 0x8)  =>  r1 = *(u64 *)(r6 + 0x950)
 */
export function formatCoreRelocation(r: AppliedCoreRelocation): string {
  const lines: string[] = [];
  const local = `${typeLabel(r.localBtf, r.relo.typeId)}, "${r.relo.accessStr}"`;
  lines.push(`${r.program} insn ${r.insn}: ${r.kind} ${localAccess(r)} (${local})`);
  const res = r.resolution;
  if (r.error) {
    lines.push(`  error:   ${r.error.detail}`);
  } else if (res) {
    const t = res.target;
    if (t) {
      const spec = t.spec;
      let what = `${t.candidate.source} ${typeLabel(t.candidate.btf, t.candidate.id)}`;
      if (isFieldKind(spec.kind))
        what += ` "${spec.raw.join(':')}" ${accessAsC(spec)}: ${placeText(fieldPlace(spec))}`;
      else if (isEnumValueKind(spec.kind)) what += ` ${accessAsC(spec)}`;
      if (res.matched > 1) what += ` (${res.matched} candidates agree)`;
      lines.push(`  target:  ${what}`);
    } else if (r.relo.kind === 6) {
      lines.push(`  target:  none needed (the object's own type id)`);
    } else {
      lines.push(`  target:  not found: ${res.reason ?? 'no match'}`);
    }
    lines.push(`  value:   ${valueText(r)}`);
  }
  if (r.before)
    lines.push(
      `  insn:    ${insnText([r.before])}  =>  ${r.after.length ? insnText(r.after) : '(unchanged)'}`,
    );
  return lines.join('\n');
}

export interface CoreRelocationJson {
  program: string;
  insn: number;
  kind: string;
  kindNumber: number;
  localType: { id: number; name: string };
  accessStr: string;
  access: string;
  target: {
    source: string;
    typeId: number;
    type: string;
    accessStr: string;
    access: string;
    offset?: number;
    size?: number;
    bitOffset?: number;
    bitSize?: number;
  } | null;
  candidates: number;
  matched: number;
  resolved: boolean;
  /** Values as decimal strings (they may be 64-bit). */
  orig: string | null;
  new: string | null;
  poisoned: boolean;
  reason: string | null;
  error: string | null;
  before: string | null;
  after: string[];
}

/** One relocation as plain JSON data. */
export function coreRelocationJson(r: AppliedCoreRelocation): CoreRelocationJson {
  const res = r.resolution;
  const t = res?.target;
  let target: CoreRelocationJson['target'] = null;
  if (t) {
    target = {
      source: t.candidate.source,
      typeId: t.candidate.id,
      type: cTypeName(t.candidate.btf, t.candidate.id),
      accessStr: t.spec.raw.join(':'),
      access: accessAsC(t.spec),
    };
    if (isFieldKind(t.spec.kind)) {
      const p = fieldPlace(t.spec);
      target.offset = p.offset;
      if (p.size !== undefined) target.size = p.size;
      if (p.bitSize !== undefined) {
        target.bitOffset = p.bitOffset!;
        target.bitSize = p.bitSize;
      }
    }
  }
  return {
    program: r.program,
    insn: r.insn,
    kind: r.kind,
    kindNumber: r.relo.kind,
    localType: { id: r.relo.typeId, name: cTypeName(r.localBtf, r.relo.typeId) },
    accessStr: r.relo.accessStr,
    access: localAccess(r),
    target,
    candidates: res?.candidates.length ?? 0,
    matched: res?.matched ?? 0,
    resolved: t !== undefined || r.relo.kind === 6,
    orig: res ? res.values.orig.toString() : null,
    new: res && !res.values.poison ? res.values.new.toString() : null,
    poisoned: r.poisoned,
    reason: res?.reason ?? null,
    error: r.error ? r.error.detail : null,
    before: r.before ? formatInstruction(r.before).text : null,
    after: r.after.map((i) => formatInstruction(i).text),
  };
}
