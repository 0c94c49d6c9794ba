/**
 * `ebpf/btf`: BTF: the type model, the lazy parser, the builder, `.BTF.ext` records, the raw, C and
 * tree formatters, kernel BTF (vmlinux and modules), and the codecs that turn map and global
 * values into JavaScript values by their BTF type.
 * @module ebpf/btf
 */
export * from '../btf/index.js';
export * from '../btf/codec.js';
export type { TypedArrayName } from '../btf/value-rules.js';
export type { TypeLookup } from '../btf/format-c-layout.js';
