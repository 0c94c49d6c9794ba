/**
 * `ebpf/loader`: loading an `ObjectSpec` into the kernel: options, the loaded object, trace
 * events, load errors, and what the loader probes.
 * @module ebpf/loader
 */
export * from '../loader/index.js';
