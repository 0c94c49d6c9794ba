/**
 * `ebpf/gen`: code generation from an object's BTF: the JavaScript shapes its codecs produce,
 * and TypeScript declarations for them (what `ebpf gen types` writes).
 * @module ebpf/gen
 */
export * from '../gen/index.js';
