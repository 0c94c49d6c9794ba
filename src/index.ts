// The public API of the `ebpf` package: every step of the pipeline, from bytes to attached programs.
export * from './errors.js';
export * from './constants.js';
export * from './elf/index.js';
export * from './asm/index.js';
export * from './btf/index.js';
export * from './core/index.js';
export * from './object/index.js';
export { Fd, SyscallError, errnoName, E } from './sys/index.js';
export * from './features/index.js';
export * from './loader/index.js';
export * from './map/index.js';
export * from './program/index.js';
export * from './link/index.js';
export * from './events/index.js';
export * from './gen/index.js';
