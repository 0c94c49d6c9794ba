// How readers turn record bytes into values: a codec given directly, or one compiled from a BTF
// type named the way C spells it ('struct event', 'u64', a typedef) or given by id.
import type { Btf } from '../btf/btf.js';
import type { TypeKind } from '../btf/types.js';
import { EbpfError, NotFoundError } from '../errors.js';
import { codecFor, type Codec } from '../btf/codec.js';

const TAGGED: Record<string, TypeKind> = { struct: 'STRUCT', union: 'UNION', enum: 'ENUM' };

/** The codec for `type` in `btf`: an id, or a C name such as `struct event`. */
export function codecForType(btf: Btf, type: string | number): Codec {
  if (typeof type === 'number') return codecFor(btf, type, 'record');
  const m = /^(struct|union|enum)\s+([A-Za-z_]\w*)$/.exec(type.trim());
  if (m) {
    const kind = TAGGED[m[1]!]!;
    const found = btf.findByName(m[2]!, kind);
    // enum names may be ENUM64 as well.
    const all = found.length > 0 || kind !== 'ENUM' ? found : btf.findByName(m[2]!, 'ENUM64');
    const t = all[0];
    if (t === undefined)
      throw new NotFoundError(`no ${type} in BTF`, btf.file !== undefined ? { file: btf.file } : {});
    return codecFor(btf, t.id, 'record');
  }
  const t = btf
    .findByName(type.trim())
    .find((x) => x.kind !== 'FUNC' && x.kind !== 'VAR' && x.kind !== 'DATASEC');
  if (t === undefined)
    throw new NotFoundError(`no type '${type}' in BTF`, btf.file !== undefined ? { file: btf.file } : {});
  return codecFor(btf, t.id, 'record');
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
