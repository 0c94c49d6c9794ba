/**
 * `ebpf/linker`: static linking of BPF objects into one (as `bpftool gen object`) and BTF
 * deduplication, offline.
 * @module ebpf/linker
 */
export * from '../linker/index.js';
