// Ring positions shared with the kernel (ring buffer consumer/producer, perf data_head/data_tail)
// are u64 byte counts that only grow. Readers keep their low 32 bits as numbers: rings are at most
// 2^32 bytes, so offsets in the ring and the distance between two positions fit in 32 bits,
// without a BigInt per record.

import { HOST_LITTLE_ENDIAN } from '../host.js';

/** Index of the low and high half of u64 number `i` in a Uint32Array over the same bytes. */
export function low(i: number): number {
  return 2 * i + (HOST_LITTLE_ENDIAN ? 0 : 1);
}
export function high(i: number): number {
  return 2 * i + (HOST_LITTLE_ENDIAN ? 1 : 0);
}

/**
 * Publishes position `to` (its low 32 bits) in u64 number `i`, moved on from `from`, with a
 * sequentially consistent store: of the low word alone while the high word stays as it is (the
 * kernel's u64 load then sees exactly the new position), of the whole u64 when the low word
 * wrapped. The caller is the only writer of this position.
 */
export function publishPosition(
  words: Uint32Array,
  wide: BigUint64Array,
  i: number,
  from: number,
  to: number,
): void {
  if (to >= from) {
    Atomics.store(words, low(i), to);
  } else {
    const hi = BigInt((words[high(i)]! + 1) >>> 0);
    Atomics.store(wide, i, (hi << 32n) | BigInt(to));
  }
}

/**
 * `max` records as an int32 loop limit: a count compared with Infinity (a double) costs V8 a
 * conversion and a float compare per record.
 */
export function batchLimit(max: number): number {
  return max >= 0x3fffffff ? 0x3fffffff : max > 0 ? Math.floor(max) : 0;
}
