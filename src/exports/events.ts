/**
 * `ebpf/events`: ring buffer and perf buffer readers on the event loop, with the record layout
 * constants and the codec for event structs.
 * @module ebpf/events
 */
export * from '../events/index.js';
