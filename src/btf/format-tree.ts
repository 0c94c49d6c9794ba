// A nested, human-readable view of BTF: a root type and everything it refers to, one type a line,
// each composite type expanded once and referred back to afterwards.
import type { Btf } from './btf.js';
import { typeRefs } from './walk.js';
import { funcLinkageName, varLinkageName } from './format-raw.js';
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, type Type, type Void } from './types.js';

export interface TreeOptions {
  /** Only trees rooted at types with this name; default every DATASEC and FUNC (the entry points). */
  type?: string;
  /** Stop expanding below this depth (default 32), printing '…'. */
  maxDepth?: number;
}

interface Edge {
  label: string;
  id: number;
}

const q = (name: string): string => (name === '' ? '(anon)' : `'${name}'`);

function intAttrs(t: Extract<Type, { kind: 'INT' }>): string {
  const enc = [];
  if (t.encoding & BTF_INT_SIGNED) enc.push('signed');
  if (t.encoding & BTF_INT_CHAR) enc.push('char');
  if (t.encoding & BTF_INT_BOOL) enc.push('bool');
  if (enc.length === 0) enc.push('unsigned');
  const bits = t.bits !== t.size * 8 || t.bitsOffset ? ` bits=${t.bits}@${t.bitsOffset}` : '';
  return `size=${t.size} ${enc.join(' ')}${bits}`;
}

/** The text after "[id] KIND name" for one type. */
function attrs(t: Type): string {
  switch (t.kind) {
    case 'INT':
      return intAttrs(t);
    case 'ARRAY':
      return `nr_elems=${t.nelems}`;
    case 'STRUCT':
    case 'UNION':
    case 'DATASEC':
    case 'FLOAT':
      return `size=${t.size}`;
    case 'ENUM':
    case 'ENUM64':
      return `size=${t.size} ${t.signed ? 'signed' : 'unsigned'}`;
    case 'FWD':
      return `fwd ${t.union ? 'union' : 'struct'}`;
    case 'FUNC':
      return `${funcLinkageName(t.linkage)} proto=[${t.type}]`;
    case 'VAR':
      return varLinkageName(t.linkage);
    case 'DECL_TAG':
      return `component_idx=${t.componentIdx}`;
    default:
      return '';
  }
}

function bitPos(bitsOffset: number, bitfieldSize: number): string {
  if (bitfieldSize === 0 && bitsOffset % 8 === 0) return `+${bitsOffset / 8}`;
  const pos = `+${Math.floor(bitsOffset / 8)}.${bitsOffset % 8}`;
  return bitfieldSize ? `${pos}:${bitfieldSize}` : pos;
}

/** Children of a type, each with the label of the edge that leads to it. */
function edges(btf: Btf, t: Type): Edge[] {
  switch (t.kind) {
    case 'ARRAY':
      // The element only: the index type is an int every array shares.
      return [{ label: '', id: t.type }];
    case 'STRUCT':
    case 'UNION':
      return t.members.map((m) => ({
        label: `${m.name === '' ? '(anon)' : m.name} ${bitPos(m.bitsOffset, m.bitfieldSize)}`,
        id: m.type,
      }));
    case 'FUNC': {
      const proto = btf.type(t.type);
      if (proto.kind !== 'FUNC_PROTO') return [{ label: 'proto', id: t.type }];
      return protoEdges(proto);
    }
    case 'FUNC_PROTO':
      return protoEdges(t);
    case 'DATASEC':
      return t.vars.map((v) => ({ label: `+${v.offset} size=${v.size}`, id: v.type }));
    default:
      // Kinds that refer to one type (pointers, qualifiers, typedefs, VARs, tags) or to none.
      return typeRefs(t).map((id) => ({ label: '', id }));
  }
}

function protoEdges(p: Extract<Type, { kind: 'FUNC_PROTO' }>): Edge[] {
  const out: Edge[] = [{ label: 'returns', id: p.returnType }];
  p.params.forEach((a, i) => {
    // A trailing unnamed void parameter is how BTF spells '...'.
    if (a.type === 0 && a.name === '' && i === p.params.length - 1) out.push({ label: '...', id: -1 });
    else out.push({ label: `arg ${a.name === '' ? i : a.name}`, id: a.type });
  });
  return out;
}

/** Types worth expanding once and then referring back to. */
function isComposite(t: Type | Void): boolean {
  switch (t.kind) {
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
    case 'ENUM64':
    case 'FUNC':
    case 'FUNC_PROTO':
    case 'DATASEC':
      return true;
    default:
      return false;
  }
}

/**
 * Render trees rooted at the named type(s), or at every DATASEC and FUNC. Composite types are
 * expanded the first time they appear; later (and cyclic) references print `^ see above`.
 */
export function formatTree(btf: Btf, opts: TreeOptions = {}): string {
  const maxDepth = opts.maxDepth ?? 32;
  let roots: Type[];
  if (opts.type !== undefined) {
    roots = btf.findByName(opts.type);
    if (roots.length === 0) {
      const asId = Number(opts.type);
      if (Number.isInteger(asId) && asId > 0 && asId < btf.endTypeId) roots = [btf.type(asId) as Type];
    }
  } else {
    roots = [...btf.findByKind('DATASEC'), ...btf.findByKind('FUNC')];
  }
  const shown = new Set<number>();
  const lines: string[] = [];

  const describe = (t: Type): string => {
    const a = attrs(t);
    return `[${t.id}] ${t.kind} ${q(t.name)}${a ? ' ' + a : ''}`;
  };

  const node = (
    id: number,
    label: string,
    prefix: string,
    childPrefix: string,
    depth: number,
    maps = false,
  ): void => {
    const head = prefix + (label ? `${label}: ` : '');
    if (id === -1) {
      lines.push(prefix + label);
      return;
    }
    let t = btf.type(id);
    if (t.kind === 'VOID') {
      lines.push(`${head}void`);
      return;
    }
    let line = head + describe(t);
    const chain: Type[] = [t];
    // A chain of single links (pointer to const to typedef ...) reads best on one line.
    for (let hops = 0; !isComposite(t); hops++) {
      const kids = edges(btf, t);
      if (kids.length !== 1 || kids[0]!.label !== '') break;
      if (hops > 64) {
        lines.push(`${line} -> … (loop)`);
        return;
      }
      const next = btf.type(kids[0]!.id);
      if (next.kind === 'VOID') {
        lines.push(`${line} -> void`);
        return;
      }
      line += ` -> ${describe(next)}`;
      t = next;
      chain.push(next);
    }
    // libbpf's __uint(name, N) map attributes are spelled int (*name)[N]: show the N they encode.
    const [c0, c1, c2] = chain;
    if (maps && chain.length === 3 && c0!.kind === 'PTR' && c1!.kind === 'ARRAY' && c2!.kind === 'INT') {
      line = `${prefix}${label} = ${c1!.nelems}: ${line.slice(head.length)}`;
    }
    if (isComposite(t) && shown.has(t.id)) {
      lines.push(`${line} ^ see above`);
      return;
    }
    const kids = edges(btf, t);
    const values = t.kind === 'ENUM' || t.kind === 'ENUM64' ? t.values : [];
    if (depth >= maxDepth && kids.length + values.length > 0) {
      lines.push(`${line} …`);
      return;
    }
    if (isComposite(t)) shown.add(t.id);
    lines.push(line);
    const total = kids.length + values.length;
    let i = 0;
    for (const v of values) {
      const last = ++i === total;
      lines.push(`${childPrefix}${last ? '└── ' : '├── '}${v.name} = ${v.value}`);
    }
    const inMaps = maps || (t.kind === 'DATASEC' && t.name === '.maps');
    for (const k of kids) {
      const last = ++i === total;
      const pre = childPrefix + (last ? '└── ' : '├── ');
      node(k.id, k.label, pre, childPrefix + (last ? '    ' : '│   '), depth + 1, inMaps);
    }
  };

  for (const r of roots) {
    node(r.id, '', '', '', 0);
    lines.push('');
  }
  return lines.join('\n');
}
