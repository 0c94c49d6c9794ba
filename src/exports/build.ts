/**
 * `ebpf/build`: compiling BPF C with clang as `ebpf build` does (libbpf-bootstrap's flags, either
 * byte order), and the vmlinux.h it compiles against, written from kernel BTF and cached.
 * @module ebpf/build
 */
export * from '../build/index.js';
