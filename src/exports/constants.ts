/**
 * `ebpf/constants`: the kernel's numbers from `linux/bpf.h`: map, program, attach, link and
 * stats types with their names, and the raw `BPF_F_*` and `XDP_FLAGS_*` flags.
 * @module ebpf/constants
 */
export * from '../constants.js';
