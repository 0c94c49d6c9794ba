// `ebpf run`'s event streams: every ring buffer and perf buffer map of the object read while it
// runs, one line per record, decoded through the BTF type its programs send (see
// events/record-type.ts) or the one `--record MAP=TYPE` names, else shown as hex.
import { inspect } from 'node:util';
import type { Codec } from '../exports/btf.js';
import { MapType } from '../exports/constants.js';
import {
  decodeRecord,
  PerfBuffer,
  recordSizes,
  recordType,
  RingBuffer,
  type EventReader,
  type PerfRecord,
} from '../exports/events.js';
import { EbpfError } from '../index.js';
import type { LoadedObject } from '../exports/loader.js';
import { hex, toJson, UsageError } from './common.js';

/** `--record MAP=TYPE` options as a map from map name to C type name. */
export function parseRecordOptions(values: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1)
      throw new UsageError(`--record wants MAP=TYPE (as --record events='struct event'), not '${v}'`);
    out.set(v.slice(0, eq), v.slice(eq + 1).trim());
  }
  return out;
}

/** One streamed map: how its records are shown. */
export interface EventStream {
  map: string;
  kind: 'ringbuf' | 'perf_event_array';
  /** The C type records decode as, or undefined for hex. */
  type: string | undefined;
  /** Where the type came from, or why there is none. */
  how: string;
}

export interface EventStreams {
  readonly streams: readonly EventStream[];
  /** Maps that could not be read, with the reason. */
  readonly failed: readonly { map: string; reason: string }[];
  /** Prints what is still in the buffers, then closes the readers. Idempotent. */
  close(): void;
}

const show = (x: unknown): string =>
  inspect(x, { breakLength: Infinity, compact: true, depth: 6, maxArrayLength: 32, maxStringLength: 120 });

/** The codec for `map`'s records and how it was chosen. */
function chooseType(
  obj: LoadedObject,
  map: string,
  named: string | undefined,
  sizes: ReturnType<typeof recordSizes>,
): { codec?: Codec; type?: string; how: string } {
  if (named !== undefined) return { codec: obj.codec(named), type: named, how: '--record' };
  const guess = recordType(obj.spec, map, sizes);
  if (guess.typeId !== undefined) {
    return {
      codec: obj.codec(guess.name),
      type: guess.name,
      how: `the ${guess.size}-byte records its programs send`,
    };
  }
  const why =
    guess.sizes.length === 0
      ? 'no program sends it records of a constant size'
      : guess.candidates.length > 1
        ? `${guess.candidates.join(', ')} all have the ${guess.sizes[0]} bytes its programs send`
        : guess.sizes.length > 1
          ? `its programs send records of ${guess.sizes.join(', ')} bytes`
          : `no named struct in BTF has the ${guess.sizes[0]} bytes its programs send`;
  return { how: `hex: ${why} (name one with --record ${map}=TYPE)` };
}

/**
 * Starts reading every ring buffer and perf buffer map of `obj`, writing a line per record
 * through `write`: text, or JSON objects with --json ({map, record} or {map, hex}; perf samples
 * add cpu; lost samples are {map, cpu, lost}). A record shorter than its type is shown as hex.
 */
export function startEventStreams(
  obj: LoadedObject,
  records: ReadonlyMap<string, string>,
  json: boolean,
  write: (line: string) => void,
): EventStreams {
  const sizes = recordSizes(obj.spec);
  const streams: EventStream[] = [];
  const failed: { map: string; reason: string }[] = [];
  const readers: { reader: EventReader<unknown>; take: (r: unknown) => void }[] = [];
  for (const name of records.keys()) {
    const t = obj.maps.get(name)?.spec.type;
    if (t !== MapType.RINGBUF && t !== MapType.PERF_EVENT_ARRAY)
      throw new UsageError(
        `--record ${name}=...: the object has no ring buffer or perf buffer map '${name}'`,
      );
  }
  try {
    for (const [name, r] of obj.maps) {
      const type = r.spec.type;
      if (type !== MapType.RINGBUF && type !== MapType.PERF_EVENT_ARRAY) continue;
      const kind = type === MapType.RINGBUF ? 'ringbuf' : 'perf_event_array';
      const { codec, type: cType, how } = chooseType(obj, name, records.get(name), sizes);
      const line = (cpu: number | undefined, bytes: Uint8Array): string => {
        let value: unknown;
        if (codec !== undefined) {
          try {
            value = decodeRecord(
              codec,
              new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
              0,
              bytes.byteLength,
              {
                map: name,
              },
            );
          } catch (e) {
            if (!(e instanceof EbpfError)) throw e;
          }
        }
        const at = cpu === undefined ? {} : { cpu };
        if (json)
          return JSON.stringify(
            value !== undefined
              ? { map: name, ...at, record: toJson(value) }
              : { map: name, ...at, hex: hex(bytes) },
          );
        const where = cpu === undefined ? name : `${name} cpu ${cpu}`;
        return value !== undefined
          ? `${where}: ${show(value)}`
          : `${where}: ${hex(bytes, ' ')} (${bytes.byteLength} bytes)`;
      };
      let reader: EventReader<unknown>;
      let take: (rec: unknown) => void;
      try {
        if (kind === 'ringbuf') {
          reader = RingBuffer.open(obj.map(name)) as EventReader<unknown>;
          take = (rec) => write(line(undefined, rec as Uint8Array));
        } else {
          reader = PerfBuffer.open(obj.map(name)) as EventReader<unknown>;
          take = (rec) => {
            const p = rec as PerfRecord;
            if (p.kind === 'sample') write(line(p.cpu, p.data));
            else
              write(
                json
                  ? JSON.stringify({ map: name, cpu: p.cpu, lost: p.lost.toString() })
                  : `${name} cpu ${p.cpu}: ${p.lost} samples lost`,
              );
          };
        }
      } catch (e) {
        if (!(e instanceof EbpfError)) throw e;
        failed.push({ map: name, reason: e.message });
        continue;
      }
      // Waiting on the readers must not keep `ebpf run` alive once it stops.
      reader.unref();
      reader.onData(take);
      readers.push({ reader, take });
      streams.push({ map: name, kind, type: cType, how });
    }
  } catch (e) {
    for (const r of readers) r.reader.close();
    throw e;
  }
  return {
    streams,
    failed,
    close(): void {
      const open = readers.splice(0);
      for (const { reader, take } of open) {
        try {
          for (const rec of reader.readAvailable()) take(rec);
        } finally {
          reader.close();
        }
      }
    },
  };
}
