/**
 * `ebpf/linker`: static linking of BPF objects (`linkObjects`, as libbpf's `bpf_linker` and
 * `bpftool gen object`) and BTF deduplication (`dedupBtf`, as libbpf's `btf__dedup`). Offline:
 * no kernel is needed.
 * @module ebpf/linker
 */
export * from '../linker/index.js';
