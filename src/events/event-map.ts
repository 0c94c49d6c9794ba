// The map an event reader reads from, as a reader needs it: its descriptor (checked still open
// at each use when it comes from a handle), name, type and size. The reader does not own it.
import { mapTypeName } from '../constants.js';
import { EbpfError } from '../errors.js';
import { mapGetInfo } from '../sys/bpf.js';
import { Fd } from '../sys/fd.js';
import { checkArgument } from '../internal/options.js';

/** A map handle (BpfMap, or anything with an `fd`), an Fd, or a descriptor number. */
export type EventMapLike = number | Fd | { readonly fd: Fd | number };

export interface EventMap {
  /** The descriptor, or undefined once its owner closed it. */
  fd(): number | undefined;
  readonly name: string;
  readonly type: number;
  readonly maxEntries: number;
}

function fdGetter(m: EventMapLike): () => number | undefined {
  const fdNumber = (x: unknown): boolean =>
    typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0x7fffffff;
  checkArgument(
    'open',
    'map',
    m,
    'a map: a BpfMap, an Fd or a descriptor number',
    fdNumber(m) ||
      m instanceof Fd ||
      (typeof m === 'object' &&
        m !== null &&
        (fdNumber((m as { fd?: unknown }).fd) || (m as { fd?: unknown }).fd instanceof Fd)),
  );
  if (typeof m === 'number') return () => m;
  const fd = m instanceof Fd ? m : m.fd;
  if (typeof fd === 'number') return () => fd;
  return () => (fd.closed ? undefined : fd.fd);
}

/** Reads the map's info and checks that it is of type `want`. */
export function eventMap(m: EventMapLike, want: number): EventMap {
  const fd = fdGetter(m);
  const n = fd();
  if (n === undefined) throw new EbpfError('the map is closed');
  const { info, name } = mapGetInfo(n);
  if (info.type !== want) {
    throw new EbpfError(`is a ${mapTypeName(info.type)}, not a ${mapTypeName(want)}`, { map: name });
  }
  return { fd, name, type: info.type, maxEntries: info.max_entries };
}
