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
