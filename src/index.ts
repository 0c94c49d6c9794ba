// The public API of the `ebpf` package.
export * from './loader/index.js';
export * from './events/index.js';
