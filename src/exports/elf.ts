/**
 * `ebpf/elf`: the ELF64 reader (both endians, bounds-checked): header, sections, symbols,
 * relocations, segments, and the ELF constants.
 * @module ebpf/elf
 */
export * from '../elf/index.js';
export type { BinaryReader } from '../internal/reader.js';
