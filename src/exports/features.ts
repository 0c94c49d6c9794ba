/**
 * `ebpf/features`: every kernel feature probe (each named with the kernel version that brought
 * it), the probes by map type, program type and helper, and kallsyms.
 * @module ebpf/features
 */
export * from '../features/index.js';
