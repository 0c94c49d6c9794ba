// CO-RE relocation kinds by group (field, type, enum value), and the poison immediate libbpf uses.
import { CoreReloKind, type CoreReloKindName } from '../btf/ext.js';

export { CoreReloKind, type CoreReloKindName };

/** Immediate of the call that replaces an instruction whose relocation could not be resolved. */
export const POISON_IMM = 0xbad2310;

const NAMES: readonly string[] = (() => {
  const out: string[] = [];
  for (const [name, n] of Object.entries(CoreReloKind)) out[n] = name;
  return out;
})();

/** BPF_CORE_* name of a kind number, e.g. FIELD_BYTE_OFFSET; `kind#N` for an unknown one. */
export function kindName(kind: number): string {
  return NAMES[kind] ?? `kind#${kind}`;
}

/** libbpf's short spelling of a kind, as in its logs: byte_off, exists, enumval_value... */
const SHORT: Readonly<Record<number, string>> = {
  0: 'byte_off',
  1: 'byte_sz',
  2: 'field_exists',
  3: 'signed',
  4: 'lshift_u64',
  5: 'rshift_u64',
  6: 'local_type_id',
  7: 'target_type_id',
  8: 'type_exists',
  9: 'type_size',
  10: 'enumval_exists',
  11: 'enumval_value',
  12: 'type_matches',
};

export function kindShortName(kind: number): string {
  return SHORT[kind] ?? `unknown#${kind}`;
}

export function isFieldKind(kind: number): boolean {
  return kind >= CoreReloKind.FIELD_BYTE_OFFSET && kind <= CoreReloKind.FIELD_RSHIFT_U64;
}

export function isTypeKind(kind: number): boolean {
  return (
    kind === CoreReloKind.TYPE_ID_LOCAL ||
    kind === CoreReloKind.TYPE_ID_TARGET ||
    kind === CoreReloKind.TYPE_EXISTS ||
    kind === CoreReloKind.TYPE_SIZE ||
    kind === CoreReloKind.TYPE_MATCHES
  );
}

export function isEnumValueKind(kind: number): boolean {
  return kind === CoreReloKind.ENUMVAL_EXISTS || kind === CoreReloKind.ENUMVAL_VALUE;
}
