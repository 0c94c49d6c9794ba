// Finding a BTF type by the name C gives it (`struct event`, `enum color`, `u64`), and saying why
// when there is none: clang only emits BTF for types something global reaches.
import { readFileSync, statSync } from 'node:fs';
import { NotFoundError } from '../errors.js';
import type { Btf } from './btf.js';
import type { LineInfo } from './ext.js';
import type { Type, TypeKind } from './types.js';

/** A source line, as BTF.ext line_info keeps it. */
type LineText = Pick<LineInfo, 'fileName' | 'line' | 'lineText'>;

export interface CNameContext {
  /** The object's line_info lines: a miss then says where the source uses the name. */
  lines?: Iterable<LineText>;
  /** Names the file in messages (else the BTF's own file). */
  file?: string;
}

/** A C type name taken apart: `struct event` → tag STRUCT, name `event`; `u64` → no tag. */
export interface CTypeName {
  tag: 'struct' | 'union' | 'enum' | undefined;
  name: string;
}

const TAG_KINDS: Record<'struct' | 'union' | 'enum', readonly TypeKind[]> = {
  struct: ['STRUCT'],
  union: ['UNION'],
  enum: ['ENUM', 'ENUM64'],
};
/** What a bare name can be: anything that names a value type (not functions, variables, sections). */
const BARE_KINDS: readonly TypeKind[] = ['STRUCT', 'UNION', 'ENUM', 'ENUM64', 'TYPEDEF', 'INT', 'FLOAT'];

/** Parses `struct event`, `union u`, `enum e` or a bare identifier; undefined for anything else. */
export function parseCTypeName(text: string): CTypeName | undefined {
  const m = /^\s*(?:(struct|union|enum)\s+)?([A-Za-z_]\w*)\s*$/.exec(text);
  if (!m) return undefined;
  return { tag: m[1] as CTypeName['tag'], name: m[2]! };
}

const TAG_OF: Partial<Record<TypeKind, string>> = {
  STRUCT: 'struct',
  UNION: 'union',
  ENUM: 'enum',
  ENUM64: 'enum',
};

/** How C spells a named BTF type: `struct event`, `enum color`, `u64`. */
export function cSpelling(t: Type): string {
  const tag = t.kind === 'FWD' ? (t.union ? 'union' : 'struct') : TAG_OF[t.kind];
  return tag !== undefined ? `${tag} ${t.name}` : t.name;
}

/**
 * The type C calls `cname` (`struct event`, `enum color`, a typedef or base type by its bare
 * name; a bare name prefers a definition, the first in id order). A miss is a NotFoundError that
 * says why clang left the type out of BTF, how to keep it, and the closest names BTF does have.
 */
export function typeByCName(btf: Btf, cname: string, ctx: CNameContext = {}): Type {
  const parsed = parseCTypeName(cname);
  const file = ctx.file ?? btf.file;
  const where = file !== undefined ? { file } : {};
  if (parsed === undefined) {
    throw new NotFoundError(
      `'${cname}' is not a C type name (expected 'struct NAME', 'union NAME', 'enum NAME' or a typedef name)`,
      where,
    );
  }
  const kinds = parsed.tag !== undefined ? TAG_KINDS[parsed.tag] : BARE_KINDS;
  const named = btf.findByName(parsed.name);
  const found = named.find((t) => kinds.includes(t.kind));
  if (found !== undefined) return found;
  throw new NotFoundError(explainMiss(btf, parsed, named, ctx), where);
}

function explainMiss(btf: Btf, want: CTypeName, named: Type[], ctx: CNameContext): string {
  const spelled = want.tag !== undefined ? `${want.tag} ${want.name}` : want.name;
  const lines: string[] = [];
  const fwd = named.find(
    (t) => t.kind === 'FWD' && (want.tag === undefined || (want.tag === 'union') === t.union),
  );
  if (fwd !== undefined) {
    lines.push(
      `${spelled} is only declared in BTF (a forward declaration, [${fwd.id}]): nothing global reaches its definition, so its members are unknown.`,
    );
  } else {
    lines.push(`no ${spelled} in BTF.`);
  }
  lines.push(
    'clang emits BTF only for types reachable from global variables, maps and function signatures;',
    'a type used only in local variables, casts or sizeof() gets none.',
  );
  const seen = sourceUse(want, ctx.lines);
  if (seen !== undefined) {
    const text = `${seen.fileName}:${seen.line}: \`${seen.lineText.trim()}\``;
    lines.push(
      seen.definition
        ? `The source defines it (${text}), but nothing global refers to it.`
        : `The source uses it (${text}), but only where clang emits no BTF.`,
    );
  }
  // A bare name the source defines as a struct is referred to as `struct NAME`.
  const tag = want.tag ?? seen?.tag;
  const ref = tag !== undefined ? `${tag} ${want.name}` : want.name;
  lines.push(
    'To keep it in BTF, refer to it from something global, for example',
    `  ${ref} *unused_${want.name} __attribute__((unused));`,
    `or make it a hash or array map's key or value type (\`__type(value, ${ref})\`; ring buffers take none),`,
    "or a global function's parameter type.",
  );
  const close = closeNames(btf, want);
  if (close.length > 0) lines.push(`Close names in BTF: ${close.join(', ')}.`);
  return lines.join('\n  ');
}

/** The longest source file searched for a missing type's definition. */
const MAX_SOURCE_BYTES = 4 << 20;

/**
 * Where the source has the name: its definition in a source file line_info names (when that file
 * is readable here, as it is right after a build), else the first line_info line that mentions it.
 */
function sourceUse(
  want: CTypeName,
  lines: Iterable<LineText> | undefined,
): (LineText & { definition: boolean; tag?: string | undefined }) | undefined {
  if (lines === undefined) return undefined;
  const name = want.tag !== undefined ? `${want.tag}\\s+${want.name}` : `(?<![.>])${want.name}`;
  const use = new RegExp(`\\b${name}\\b`);
  const tagged = `^\\s*(?:typedef\\s+)?(${want.tag ?? 'struct|union|enum'})\\s+${want.name}\\s*(?:\\{|$)`;
  const definition = new RegExp(
    want.tag !== undefined ? tagged : `${tagged}|^\\s*(?:typedef\\b.*|\\}\\s*)\\b${want.name}\\s*;`,
  );
  const all = [...lines];
  for (const fileName of new Set(all.map((l) => l.fileName))) {
    let text: string;
    try {
      if (statSync(fileName).size > MAX_SOURCE_BYTES) continue;
      text = readFileSync(fileName, 'utf8');
    } catch {
      continue; // built elsewhere: only line_info's lines are known
    }
    const src = text.split('\n');
    for (let i = 0; i < src.length; i++) {
      const m = definition.exec(src[i]!);
      if (m) return { fileName, line: i + 1, lineText: src[i]!, definition: true, tag: m[1] };
    }
  }
  const l = all.find((x) => use.test(x.lineText));
  return l !== undefined ? { ...l, definition: false } : undefined;
}

const MAX_CLOSE = 6;

/**
 * Named struct/union/enum/typedef types (and base types for a bare name) whose name is within a
 * few edits of the one wanted, or contains it, or is it under another tag: closest first.
 */
export function closeNames(btf: Btf, want: CTypeName): string[] {
  const target = want.name.toLowerCase();
  const limit = Math.max(1, Math.floor(target.length / 3));
  const kinds: readonly string[] =
    want.tag !== undefined ? ['STRUCT', 'UNION', 'ENUM', 'ENUM64', 'TYPEDEF', 'FWD'] : [...BARE_KINDS, 'FWD'];
  const scored = new Map<string, number>();
  for (let id = btf.firstTypeId; id < btf.endTypeId; id++) {
    const t = btf.type(id);
    if (t.kind === 'VOID' || !('name' in t) || t.name === '') continue;
    if (!kinds.includes(t.kind)) continue;
    const name = t.name.toLowerCase();
    let score: number;
    if (name === target) score = 0;
    else if (target.length >= 3 && (name.includes(target) || target.includes(name))) {
      score = 1 + Math.abs(name.length - target.length) / 100;
    } else {
      const d = editDistance(name, target, limit);
      if (d > limit) continue;
      score = d;
    }
    const spelled = cSpelling(t);
    if (spelled === (want.tag !== undefined ? `${want.tag} ${want.name}` : want.name)) continue;
    const had = scored.get(spelled);
    if (had === undefined || score < had) scored.set(spelled, score);
  }
  return [...scored]
    .sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
    .slice(0, MAX_CLOSE)
    .map(([n]) => n);
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < best) best = v;
    }
    if (best > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length]!;
}
