/**
 * `ebpf/object`: an ELF object as an `ObjectSpec` (programs, maps, global variables, externs)
 * before anything reaches the kernel, and the section-name table libbpf uses.
 * @module ebpf/object
 */
export * from '../object/index.js';
export type { Externs } from '../object/externs.js';
