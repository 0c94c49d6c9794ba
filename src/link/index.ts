// Attaching programs: the Link handle and one module per attach kind.
export * from './link.js';
export * from './netdev.js';
export * from './xdp.js';
export * from './tcx.js';
export * from './tc-filter.js';
export * from './tc.js';
export * from './tracepoint.js';
