// The BTF type model: one discriminated union on `kind`, with kernel kind numbers kept by name.
// Types refer to each other by id (number); the Btf container resolves ids to types lazily.

/** BTF_KIND_* from include/uapi/linux/btf.h. */
export const BtfKind = {
  UNKN: 0,
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;
export type BtfKindName = keyof typeof BtfKind;

/** BTF_INT_* encoding bits. */
export const BTF_INT_SIGNED = 1 << 0;
export const BTF_INT_CHAR = 1 << 1;
export const BTF_INT_BOOL = 1 << 2;

/** BTF_FUNC_* linkage / BTF_VAR_* linkage. */
export const FuncLinkage = { STATIC: 0, GLOBAL: 1, EXTERN: 2 } as const;
export const VarLinkage = { STATIC: 0, GLOBAL_ALLOCATED: 1, GLOBAL_EXTERN: 2 } as const;

interface Base {
  /** Type id in the BTF that holds it (0 is void and never a Type). */
  id: number;
  /** Empty string when anonymous. */
  name: string;
}

export interface Void {
  kind: 'VOID';
  id: 0;
  name: '';
}
export interface Int extends Base {
  kind: 'INT';
  size: number;
  /** BTF_INT_SIGNED | BTF_INT_CHAR | BTF_INT_BOOL */
  encoding: number;
  bitsOffset: number;
  bits: number;
}
export interface Ptr extends Base {
  kind: 'PTR';
  type: number;
}
export interface Array extends Base {
  kind: 'ARRAY';
  type: number;
  indexType: number;
  nelems: number;
}
export interface Member {
  name: string;
  type: number;
  /** Offset of the member in bits from the start of the struct. */
  bitsOffset: number;
  /** Bitfield size in bits; 0 when not a bitfield. */
  bitfieldSize: number;
}
export interface Struct extends Base {
  kind: 'STRUCT' | 'UNION';
  size: number;
  /** True when BTF info's kind_flag is set (members carry bitfield sizes). */
  kindFlag: boolean;
  members: Member[];
}
export interface EnumValue {
  name: string;
  /** ENUM: a 32-bit value (signed or unsigned per `signed`); ENUM64: full 64-bit. */
  value: bigint;
}
export interface Enum extends Base {
  kind: 'ENUM' | 'ENUM64';
  size: number;
  signed: boolean;
  values: EnumValue[];
}
export interface Fwd extends Base {
  kind: 'FWD';
  /** true: forward-declared union; false: struct. */
  union: boolean;
}
export interface Typedef extends Base {
  kind: 'TYPEDEF';
  type: number;
}
export interface Modifier extends Base {
  kind: 'VOLATILE' | 'CONST' | 'RESTRICT';
  type: number;
}
export interface Func extends Base {
  kind: 'FUNC';
  /** FUNC_PROTO id. */
  type: number;
  linkage: number;
}
export interface Param {
  name: string;
  type: number;
}
export interface FuncProto extends Base {
  kind: 'FUNC_PROTO';
  returnType: number;
  params: Param[];
}
export interface Var extends Base {
  kind: 'VAR';
  type: number;
  linkage: number;
}
export interface VarSecinfo {
  type: number;
  offset: number;
  size: number;
}
export interface Datasec extends Base {
  kind: 'DATASEC';
  size: number;
  vars: VarSecinfo[];
}
export interface Float extends Base {
  kind: 'FLOAT';
  size: number;
}
export interface DeclTag extends Base {
  kind: 'DECL_TAG';
  type: number;
  /** -1 when the tag applies to the type itself, otherwise member/param index. */
  componentIdx: number;
  /** kind_flag: the tag is an `__attribute__((...))` text rather than a btf_decl_tag (Linux 6.14+). */
  kindFlag?: boolean;
}
export interface TypeTag extends Base {
  kind: 'TYPE_TAG';
  type: number;
  /** kind_flag: the tag is an `__attribute__((...))` text rather than a btf_type_tag (Linux 6.14+). */
  kindFlag?: boolean;
}

export type Type =
  | Int
  | Ptr
  | Array
  | Struct
  | Enum
  | Fwd
  | Typedef
  | Modifier
  | Func
  | FuncProto
  | Var
  | Datasec
  | Float
  | DeclTag
  | TypeTag;

export type TypeKind = Type['kind'];
export const VOID: Void = { kind: 'VOID', id: 0, name: '' };
