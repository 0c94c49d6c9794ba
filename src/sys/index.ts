// The kernel interface in one import: descriptors, errors, bpf commands, mappings, readiness.
export * from './bpf.js';
export * from './cpus.js';
export * from './errno.js';
export * from './error.js';
export * from './fd.js';
export * from './mmap.js';
export * from './object-kind.js';
export * from './perf.js';
export * from './poll.js';
export * from './rlimit.js';
export { BpfCmd, bpfCmdName } from './bpf-attr.generated.js';
export * from './kernel-btf.js';
