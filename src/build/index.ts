// Building BPF objects from C: clang with libbpf-bootstrap's flags, against a vmlinux.h written
// from kernel BTF by the project's own C formatter.
export * from './clang.js';
export * from './vmlinux.js';
