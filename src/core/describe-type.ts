// Short C-like names of BTF types for CO-RE messages: `struct task_struct [118]`, `u32 *`.
import type { Btf } from '../btf/btf.js';
import { BtfError } from '../errors.js';

const KEYWORD: Readonly<Record<string, string>> = {
  STRUCT: 'struct',
  UNION: 'union',
  ENUM: 'enum',
  ENUM64: 'enum',
};

/** The type as C spells it (without the id); depth-limited for self-referencing chains. */
export function cTypeName(btf: Btf, id: number, depth = 0): string {
  if (depth > 16) return '...';
  let t;
  try {
    t = btf.type(id);
  } catch (e) {
    if (e instanceof BtfError) return `<bad type ${id}>`;
    throw e;
  }
  switch (t.kind) {
    case 'VOID':
      return 'void';
    case 'STRUCT':
    case 'UNION':
    case 'ENUM':
    case 'ENUM64':
      return `${KEYWORD[t.kind]} ${t.name === '' ? '(anon)' : t.name}`;
    case 'FWD':
      return `${t.union ? 'union' : 'struct'} ${t.name}`;
    case 'PTR':
      return `${cTypeName(btf, t.type, depth + 1)} *`;
    case 'ARRAY':
      return `${cTypeName(btf, t.type, depth + 1)}[${t.nelems}]`;
    case 'CONST':
    case 'VOLATILE':
    case 'RESTRICT':
      return `${t.kind.toLowerCase()} ${cTypeName(btf, t.type, depth + 1)}`;
    case 'TYPE_TAG':
      return cTypeName(btf, t.type, depth + 1);
    case 'FUNC_PROTO':
      return `${cTypeName(btf, t.returnType, depth + 1)} (*)(...)`;
    default:
      return t.name === '' ? t.kind.toLowerCase() : t.name;
  }
}

/** `struct sock [5123]`: the C name with the type id. */
export function typeLabel(btf: Btf, id: number): string {
  return `${cTypeName(btf, id)} [${id}]`;
}
