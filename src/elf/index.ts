// The ELF step of the pipeline: bytes → sections, symbols, relocations.
export * from './constants.js';
export * from './elf.js';
