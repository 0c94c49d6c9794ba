// How readers turn record bytes into values: a codec given directly, or one compiled from a BTF
// type named the way C spells it ('struct event', 'u64', a typedef) or given by id.
import type { Btf } from '../btf/btf.js';
import { typeByCName, type CNameContext } from '../btf/c-name.js';
import { EbpfError } from '../errors.js';
import { codecFor, type Codec } from '../btf/codec.js';

/**
 * The codec for `type` in `btf`: an id, or a C name such as `struct event` (a miss says why clang
 * left the type out of BTF; see typeByCName).
 */
export function codecForType(btf: Btf, type: string | number, ctx: CNameContext = {}): Codec {
  if (typeof type === 'number') return codecFor(btf, type, 'record');
  return codecFor(btf, typeByCName(btf, type, ctx).id, 'record');
}

/** Decodes `length` bytes at `offset` of `view`, which must hold at least the codec's size. */
export function decodeRecord<T>(
  codec: Codec<T>,
  view: DataView,
  offset: number,
  length: number,
  where: { map?: string },
): T {
  if (length < codec.size) {
    throw new EbpfError(`record of ${length} bytes is shorter than its type (${codec.size} bytes)`, {
      ...where,
      ...(codec.typeId ? { typeId: codec.typeId } : {}),
    });
  }
  return codec.decodeView(view, offset);
}

/** Bytes of each slab records are copied into; larger records get their own buffer. */
const SLAB = 64 * 1024;
const OWN_BUFFER = 4096;

/**
 * Copies of records, carved out of shared slabs (as Buffer's pool does): V8 gives each typed
 * array over 64 bytes its own off-heap backing store, and allocating one per record cost ~1 µs
 * (bench ring-ondata-128). A record keeps its slab alive only as long as it is referenced.
 */
export class RecordCopier {
  #slab = new ArrayBuffer(0);
  #bytes = new Uint8Array(this.#slab);
  #used = 0;

  /** A copy of `length` bytes of `from` at `offset`, 8-byte aligned in its buffer. */
  copy(from: Uint8Array, offset: number, length: number): Uint8Array {
    if (length > OWN_BUFFER) return from.slice(offset, offset + length);
    if (this.#used + length > this.#slab.byteLength) {
      this.#slab = new ArrayBuffer(SLAB);
      this.#bytes = new Uint8Array(this.#slab);
      this.#used = 0;
    }
    const at = this.#used;
    const to = this.#bytes;
    if (length <= 64) {
      // A loop beats set(subarray()) for short records: no view to allocate.
      for (let i = 0; i < length; i++) to[at + i] = from[offset + i]!;
    } else {
      to.set(from.subarray(offset, offset + length), at);
    }
    this.#used = (at + length + 7) & ~7;
    return new Uint8Array(this.#slab, at, length);
  }
}
