/**
 * `ebpf/linker`: static linking of BPF objects (`linkObjects`, libbpf's `bpf_linker` semantics,
 * as `bpftool gen object`) and BTF deduplication (`dedupBtf`, as libbpf's `btf__dedup`).
 * @module ebpf/linker
 */
export * from '../linker/index.js';
