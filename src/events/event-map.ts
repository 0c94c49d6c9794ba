// The map an event reader reads from, as a reader needs it: its own duplicate of the map's
// descriptor (so that closing the object, or the caller's descriptor, leaves the reader working
// and its descriptor number reserved in the event loop's poller until the reader closes), name,
// type and size.
import { mapTypeName } from '../constants.js';
import { EbpfError } from '../errors.js';
import { mapGetInfo } from '../sys/bpf.js';
import { Fd } from '../sys/fd.js';
import { checkArgument } from '../internal/options.js';

/** A map handle (BpfMap, or anything with an `fd`), an Fd, or a descriptor number. */
export type EventMapLike = number | Fd | { readonly fd: Fd | number };

export interface EventMap {
  /** The reader's own descriptor for the map; the reader closes it. */
  readonly fd: Fd;
  readonly name: string;
  readonly type: number;
  readonly maxEntries: number;
}

function fdNumber(m: EventMapLike): number {
  const isFd = (x: unknown): boolean =>
    typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0x7fffffff;
  checkArgument(
    'open',
    'map',
    m,
    'a map: a BpfMap, an Fd or a descriptor number',
    isFd(m) ||
      m instanceof Fd ||
      (typeof m === 'object' &&
        m !== null &&
        (isFd((m as { fd?: unknown }).fd) || (m as { fd?: unknown }).fd instanceof Fd)),
  );
  if (typeof m === 'number') return m;
  const fd = m instanceof Fd ? m : m.fd;
  if (typeof fd === 'number') return fd;
  if (fd.closed) throw new EbpfError('the map is closed');
  return fd.fd;
}

/**
 * Checks that `m` is a map of type `want` and takes a duplicate of its descriptor, which the
 * caller owns from then on (and closes on its own errors).
 */
export function eventMap(m: EventMapLike, want: number): EventMap {
  const n = fdNumber(m);
  const { info, name } = mapGetInfo(n);
  if (info.type !== want) {
    throw new EbpfError(`is a ${mapTypeName(info.type)}, not a ${mapTypeName(want)}`, { map: name });
  }
  return { fd: Fd.dup(n), name, type: info.type, maxEntries: info.max_entries };
}
