// What a map's type implies for the loader and for the handles: whether it carries BTF key/value
// types, whether values are per CPU, whether values are descriptors. One table, used by the loader,
// BpfMap and the type generator, so that they cannot disagree.
import { MapType } from './constants.js';

/** Map types created without BTF key/value types, as libbpf creates them. */
export const MAP_TYPES_WITHOUT_BTF: ReadonlySet<number> = new Set<number>([
  MapType.PERF_EVENT_ARRAY,
  MapType.CGROUP_ARRAY,
  MapType.STACK_TRACE,
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
  MapType.DEVMAP,
  MapType.DEVMAP_HASH,
  MapType.CPUMAP,
  MapType.XSKMAP,
  MapType.SOCKMAP,
  MapType.SOCKHASH,
  MapType.QUEUE,
  MapType.STACK,
  MapType.ARENA,
]);

/**
 * Map types the loader tries with BTF but the kernel refuses (map_check_no_btf), so they are
 * retried and end up without it, as in libbpf.
 */
export const MAP_TYPES_REFUSING_BTF: ReadonlySet<number> = new Set<number>([
  MapType.PROG_ARRAY,
  MapType.REUSEPORT_SOCKARRAY,
]);

/** Map types whose value is one slot per possible CPU. */
export const PERCPU_MAP_TYPES: ReadonlySet<number> = new Set<number>([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
]);

/** Map types whose values are written as descriptors and read back as object ids. */
export const FD_VALUE_MAP_TYPES: ReadonlySet<number> = new Set<number>([
  MapType.PROG_ARRAY,
  MapType.PERF_EVENT_ARRAY,
  MapType.CGROUP_ARRAY,
  MapType.ARRAY_OF_MAPS,
  MapType.HASH_OF_MAPS,
]);
