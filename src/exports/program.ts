/**
 * `ebpf/program`: the program handle, test runs, and program info.
 * @module ebpf/program
 */
export * from '../program/index.js';
