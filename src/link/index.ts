// Attaching programs: the Link handle and one module per attach kind.
export * from './link.js';
export * from './netdev.js';
export * from './xdp.js';
export * from './tcx.js';
export * from './tc-filter.js';
export * from './tc.js';
export * from './tracepoint.js';
export * from './probe-link.js';
export * from './uprobe-target.js';
export * from './uprobe.js';
export * from './kprobe.js';
export * from './cgroup.js';
export * from './auto.js';
export * from './usdt-notes.js';
export * from './usdt-args.js';
export * from './usdt.js';
export * from './uprobe-multi.js';
