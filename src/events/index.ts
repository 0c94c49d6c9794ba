// Event streams from BPF programs: ring buffers and perf buffers read on Node's event loop.
export { EventReader, type EventHandler, type WaitOptions } from './reader.js';
export {
  RingBuffer,
  BPF_RINGBUF_BUSY_BIT,
  BPF_RINGBUF_DISCARD_BIT,
  BPF_RINGBUF_HDR_SZ,
  type RecordView,
} from './ring-buffer.js';
export { RingBuffers } from './ring-buffers.js';
export { UserRingBuffer, type UserRecord } from './user-ring-buffer.js';
export {
  PerfBuffer,
  PERF_EVENT_MMAP_PAGE,
  type PerfBufferOptions,
  type PerfRecord,
  type SampleView,
} from './perf-buffer.js';
export { type EventMapLike } from './event-map.js';
export { codecForType, decodeRecord } from './decode.js';
export { recordSizes, recordType, type RecordTypeGuess } from './record-type.js';
