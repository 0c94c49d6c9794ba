// Sanitising BTF for an older kernel: each kind the kernel lacks is replaced as libbpf does
// (bpf_object__sanitize_btf), keeping type ids and string offsets so func/line info stay valid.
import type { Btf } from '../btf/btf.js';
import { BtfBuilder } from '../btf/builder.js';
import { FuncLinkage, type Type } from '../btf/types.js';
import type { BtfChange } from './btf-fixup.js';

/** What the kernel's BTF loader understands; each field names the kernel that added it. */
export interface BtfFeatures {
  /** FUNC and FUNC_PROTO (Linux 5.0). */
  func: boolean;
  /** FUNC with global linkage (Linux 5.6). */
  globalFunc: boolean;
  /** VAR and DATASEC (Linux 5.2). */
  datasec: boolean;
  /** FLOAT (Linux 5.13). */
  float: boolean;
  /** DECL_TAG (Linux 5.16). */
  declTag: boolean;
  /** TYPE_TAG (Linux 5.17). */
  typeTag: boolean;
  /** ENUM64 and signed ENUM (Linux 6.0). */
  enum64: boolean;
}

export const ALL_BTF_FEATURES: BtfFeatures = {
  func: true,
  globalFunc: true,
  datasec: true,
  float: true,
  declTag: true,
  typeTag: true,
  enum64: true,
};

/** True when some kind in BTF would need replacing for a kernel with these features. */
export function needsSanitizing(f: BtfFeatures): boolean {
  return !f.func || !f.globalFunc || !f.datasec || !f.float || !f.declTag || !f.typeTag || !f.enum64;
}

/**
 * Replaces, in the array (never mutating a type object), the types a kernel without `f` would refuse. Returns types to append
 * (libbpf's `enum64_placeholder` INT), which get the ids after the last type.
 */
export function sanitizeTypes(
  types: Type[],
  nextId: number,
  f: BtfFeatures,
  changes: BtfChange[] = [],
): Type[] {
  const extra: Type[] = [];
  let placeholder = 0;
  const first = types[0]?.id ?? nextId;
  const byId = (id: number): Type | undefined => types[id - first];
  const note = (t: Type, to: string): void => {
    changes.push({ typeId: t.id, what: `${t.kind}${t.name ? ` '${t.name}'` : ''} → ${to}` });
  };
  for (let i = 0; i < types.length; i++) {
    const t = types[i]!;
    const id = t.id;
    if ((!f.datasec && t.kind === 'VAR') || (!f.declTag && t.kind === 'DECL_TAG')) {
      // Size 1: a larger INT could be bigger than the variable and fail validation.
      note(t, 'INT (1 byte)');
      types[i] = { kind: 'INT', id, name: t.name, size: 1, encoding: 0, bitsOffset: 0, bits: 8 };
    } else if (!f.datasec && t.kind === 'DATASEC') {
      const name = t.name.replace(/\./g, '_');
      note(t, `STRUCT '${name}'`);
      types[i] = {
        kind: 'STRUCT',
        id,
        name,
        size: t.size,
        kindFlag: false,
        members: t.vars.map((v) => ({
          name: byId(v.type)?.name ?? '',
          type: v.type,
          bitsOffset: v.offset * 8,
          bitfieldSize: 0,
        })),
      };
    } else if (!f.func && t.kind === 'FUNC_PROTO') {
      note(t, 'ENUM');
      types[i] = {
        kind: 'ENUM',
        id,
        name: t.name,
        size: 4,
        signed: false,
        values: t.params.map((p) => ({ name: p.name, value: BigInt(p.type) })),
      };
    } else if (!f.func && t.kind === 'FUNC') {
      note(t, 'TYPEDEF');
      types[i] = { kind: 'TYPEDEF', id, name: t.name, type: t.type };
    } else if (!f.globalFunc && t.kind === 'FUNC' && t.linkage !== FuncLinkage.STATIC) {
      note(t, 'FUNC with static linkage');
      types[i] = { ...t, linkage: FuncLinkage.STATIC };
    } else if (!f.float && t.kind === 'FLOAT') {
      note(t, `anonymous STRUCT of ${t.size} bytes`);
      types[i] = { kind: 'STRUCT', id, name: '', size: t.size, kindFlag: false, members: [] };
    } else if (!f.typeTag && t.kind === 'TYPE_TAG') {
      note(t, 'CONST');
      types[i] = { kind: 'CONST', id, name: '', type: t.type };
    } else if (!f.enum64 && t.kind === 'ENUM' && t.signed) {
      note(t, 'ENUM without the signed flag');
      types[i] = { ...t, signed: false };
    } else if (!f.enum64 && t.kind === 'ENUM64') {
      if (placeholder === 0) {
        placeholder = nextId + extra.length;
        extra.push({
          kind: 'INT',
          id: placeholder,
          name: 'enum64_placeholder',
          size: 1,
          encoding: 0,
          bitsOffset: 0,
          bits: 8,
        });
      }
      note(t, 'UNION of enum64_placeholder');
      types[i] = {
        kind: 'UNION',
        id,
        name: t.name,
        size: t.size,
        kindFlag: false,
        members: t.values.map((v) => ({ name: v.name, type: placeholder, bitsOffset: 0, bitfieldSize: 0 })),
      };
    }
  }
  return extra;
}

/** Encodes types (ids from 1) over the original string section, so string offsets keep their meaning. */
export function buildBtf(btf: Btf, types: readonly Type[]): Uint8Array {
  const b = new BtfBuilder({ littleEndian: btf.littleEndian, strings: btf.strings.bytes });
  for (const t of types) b.add(t);
  return b.build();
}
