/**
 * `ebpf/map`: the map handle, its options, and typed global-variable views over array maps.
 * @module ebpf/map
 */
export * from '../map/map.js';
export * from '../map/variables.js';
