/**
 * `ebpf/link`: attaching programs: every link kind with its helpers (device and cgroup lookups,
 * uprobe target resolution, PMU types, link info by id).
 * @module ebpf/link
 */
export * from '../link/index.js';
