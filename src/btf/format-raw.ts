// bpftool's raw BTF text (`bpftool btf dump file X`), line for line, and its JSON form (`-j`).
import type { Btf } from './btf.js';
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, type Type } from './types.js';

function intEncoding(e: number): string {
  switch (e) {
    case 0:
      return '(none)';
    case BTF_INT_SIGNED:
      return 'SIGNED';
    case BTF_INT_CHAR:
      return 'CHAR';
    case BTF_INT_BOOL:
      return 'BOOL';
    default:
      return 'UNKN';
  }
}

export function funcLinkageName(l: number): string {
  return ['static', 'global', 'extern'][l] ?? '(unknown)';
}

export function varLinkageName(l: number): string {
  return ['static', 'global', 'extern'][l] ?? '(unknown)';
}

const anon = (name: string): string => (name === '' ? '(anon)' : name);

/** One type in bpftool's raw format (possibly several lines, joined by '\n'). */
export function formatRawType(btf: Btf, t: Type): string {
  let s = `[${t.id}] ${t.kind} '${anon(t.name)}'`;
  switch (t.kind) {
    case 'INT':
      s += ` size=${t.size} bits_offset=${t.bitsOffset} nr_bits=${t.bits} encoding=${intEncoding(t.encoding)}`;
      break;
    case 'PTR':
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
    case 'TYPE_TAG':
      s += ` type_id=${t.type}`;
      break;
    case 'ARRAY':
      s += ` type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
      break;
    case 'STRUCT':
    case 'UNION':
      s += ` size=${t.size} vlen=${t.members.length}`;
      for (const m of t.members) {
        s += `\n\t'${anon(m.name)}' type_id=${m.type} bits_offset=${m.bitsOffset}`;
        if (m.bitfieldSize) s += ` bitfield_size=${m.bitfieldSize}`;
      }
      break;
    case 'ENUM':
    case 'ENUM64': {
      s += ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`;
      const suffix = t.kind === 'ENUM64' ? (t.signed ? 'LL' : 'ULL') : '';
      for (const v of t.values) s += `\n\t'${anon(v.name)}' val=${v.value}${suffix}`;
      break;
    }
    case 'FWD':
      s += ` fwd_kind=${t.union ? 'union' : 'struct'}`;
      break;
    case 'FUNC':
      s += ` type_id=${t.type} linkage=${funcLinkageName(t.linkage)}`;
      break;
    case 'FUNC_PROTO':
      s += ` ret_type_id=${t.returnType} vlen=${t.params.length}`;
      for (const p of t.params) s += `\n\t'${anon(p.name)}' type_id=${p.type}`;
      break;
    case 'VAR':
      s += ` type_id=${t.type}, linkage=${varLinkageName(t.linkage)}`;
      break;
    case 'DATASEC':
      s += ` size=${t.size} vlen=${t.vars.length}`;
      for (const v of t.vars) {
        s += `\n\ttype_id=${v.type} offset=${v.offset} size=${v.size}`;
        const target = safeType(btf, v.type);
        if (target) s += ` (${target.kind} '${anon(target.name)}')`;
      }
      break;
    case 'FLOAT':
      s += ` size=${t.size}`;
      break;
    case 'DECL_TAG':
      s += ` type_id=${t.type} component_idx=${t.componentIdx}`;
      break;
  }
  return s;
}

function safeType(btf: Btf, id: number): Type | undefined {
  if (id === 0 || id >= btf.endTypeId) return undefined;
  const t = btf.type(id);
  return t.kind === 'VOID' ? undefined : t;
}

/**
 * The whole BTF as `bpftool btf dump file X` prints it (for split BTF, only the types it adds,
 * as `bpftool btf dump file X base Y` does). Ends with a newline.
 */
export function formatRaw(btf: Btf): string {
  const parts: string[] = [];
  for (const t of btf.types()) parts.push(formatRawType(btf, t));
  return parts.length ? parts.join('\n') + '\n' : '';
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** One type as `bpftool -j btf dump` writes it. */
export function rawTypeJson(btf: Btf, t: Type): { [k: string]: JsonValue } {
  const o: { [k: string]: JsonValue } = { id: t.id, kind: t.kind, name: anon(t.name) };
  switch (t.kind) {
    case 'INT':
      o.size = t.size;
      o.bits_offset = t.bitsOffset;
      o.nr_bits = t.bits;
      o.encoding = intEncoding(t.encoding);
      break;
    case 'PTR':
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
    case 'TYPE_TAG':
      o.type_id = t.type;
      break;
    case 'ARRAY':
      o.type_id = t.type;
      o.index_type_id = t.indexType;
      o.nr_elems = t.nelems;
      break;
    case 'STRUCT':
    case 'UNION':
      o.size = t.size;
      o.vlen = t.members.length;
      o.members = t.members.map((m) => {
        const j: { [k: string]: JsonValue } = {
          name: anon(m.name),
          type_id: m.type,
          bits_offset: m.bitsOffset,
        };
        if (m.bitfieldSize) j.bitfield_size = m.bitfieldSize;
        return j;
      });
      break;
    case 'ENUM':
    case 'ENUM64':
      o.encoding = t.signed ? 'SIGNED' : 'UNSIGNED';
      o.size = t.size;
      o.vlen = t.values.length;
      // JSON numbers lose precision past 2^53; such values are written as strings.
      o.values = t.values.map((v) => ({
        name: anon(v.name),
        val: Number.isSafeInteger(Number(v.value)) ? Number(v.value) : v.value.toString(),
      }));
      break;
    case 'FWD':
      o.fwd_kind = t.union ? 'union' : 'struct';
      break;
    case 'FUNC':
      o.type_id = t.type;
      o.linkage = funcLinkageName(t.linkage);
      break;
    case 'FUNC_PROTO':
      o.ret_type_id = t.returnType;
      o.vlen = t.params.length;
      o.params = t.params.map((p) => ({ name: anon(p.name), type_id: p.type }));
      break;
    case 'VAR':
      o.type_id = t.type;
      o.linkage = varLinkageName(t.linkage);
      break;
    case 'DATASEC':
      o.size = t.size;
      o.vlen = t.vars.length;
      o.vars = t.vars.map((v) => ({ type_id: v.type, offset: v.offset, size: v.size }));
      break;
    case 'FLOAT':
      o.size = t.size;
      break;
    case 'DECL_TAG':
      o.type_id = t.type;
      o.component_idx = t.componentIdx;
      break;
  }
  void btf;
  return o;
}

/** `{"types": [...]}` as `bpftool -j btf dump file X` prints it. */
export function rawJson(btf: Btf): { types: JsonValue[] } {
  const types: JsonValue[] = [];
  for (const t of btf.types()) types.push(rawTypeJson(btf, t));
  return { types };
}
