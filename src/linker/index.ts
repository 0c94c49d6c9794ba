// Static linking of BPF objects and BTF deduplication, as libbpf's bpf_linker and btf__dedup.
export { linkObjects, type LinkInput, type LinkOptions } from './link.js';
export { dedupBtf, dedupTypes, type DedupOptions, type DedupResult } from './dedup.js';
export { LinkError } from './errors.js';
