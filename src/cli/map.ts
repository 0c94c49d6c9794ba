// `ebpf map dump|get|update|delete`: a pinned or numbered map, keys and values through its BTF,
// printed the way `bpftool map` prints them (`--json`: bpftool -j's `formatted` part).
import { formatEntry, hexList, JsonObject, JsonToken, writeJson, type Json } from '../exports/btf.js';
import { NotFoundError } from '../index.js';
import { UpdateFlags, type BpfMap } from '../exports/map.js';
import { hex, parse, positionals, UsageError, type Command } from './common.js';
import { openMap } from './handles.js';

const usage = `usage: ebpf map dump MAP [-j]
       ebpf map get MAP (key BYTES | --key-json JSON) [-j]
       ebpf map update MAP (key BYTES | --key-json JSON) (value BYTES | --value-json JSON) [any|noexist|exist] [-j]
       ebpf map delete MAP (key BYTES | --key-json JSON) [-j]
       ebpf map pin MAP PATH [-j]

  MAP     pinned PATH | id N
  BYTES   bytes as bpftool takes them: 1 2 0x0a 0 ..., or 'hex 01 02 0a 00'
  --key-json, --value-json
          the key or value as JSON shaped like the BTF type ({"saddr": 1, "daddr": 2})
  PATH    where to pin, in a bpffs (directories made; bpffs mounted at /sys/fs/bpf when none
          is and you are root)
  -j, --json
          JSON: for each entry {key, value} as bpftool -j map dump's "formatted" (hex byte
          lists for a map without BTF; per-CPU maps give "values": [{cpu, value}]); update and
          delete print null, pin {id, pinnedAt}`;

/** bpftool's byte list: numbers in C notation (0x.. hex, 0.. octal, decimal), or `hex` then bare hex. */
function parseBytes(words: string[], what: string): Uint8Array {
  const hex = words[0] === 'hex';
  const list = hex ? words.slice(1).flatMap((w) => w.match(/.{1,2}/g) ?? []) : words;
  return new Uint8Array(
    list.map((w) => {
      const n = hex ? parseInt(w, 16) : /^0[0-7]+$/.test(w) ? parseInt(w, 8) : Number(w);
      if (!/^(0x)?[0-9a-f]+$/i.test(w) || !Number.isInteger(n) || n < 0 || n > 255) {
        throw new UsageError(`${what}: '${w}' is not a byte`);
      }
      return n;
    }),
  );
}

/** Splits `key ... value ... [flag]` into its parts. */
function keyValueWords(rest: string[]): { key?: string[]; value?: string[]; flag?: string } {
  const out: { key?: string[]; value?: string[]; flag?: string } = {};
  let cur: string[] | undefined;
  for (const w of rest) {
    if (w === 'key') cur = out.key = [];
    else if (w === 'value') cur = out.value = [];
    else if (w === 'any' || w === 'noexist' || w === 'exist') out.flag = w;
    else if (cur) cur.push(w);
    else throw new UsageError(`unexpected '${w}'`);
  }
  return out;
}

function sized(bytes: Uint8Array, size: number, what: string): Uint8Array {
  if (bytes.length !== size) throw new UsageError(`${what} has ${bytes.length} bytes, the map wants ${size}`);
  return bytes;
}

function jsonArg(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new UsageError(`--${what}-json: ${(e as Error).message}`);
  }
}

/** An entry's formatted JSON: through BTF when the map has it, else hex byte lists. */
function entryJson(map: BpfMap, key: Uint8Array, value: Uint8Array, plain: boolean): Json {
  const info = map.info();
  const values = map.perCpu
    ? Array.from({ length: map.cpus }, (_, cpu) =>
        value.subarray(cpu * map.valueStride, cpu * map.valueStride + map.valueSize),
      )
    : value.subarray(0, map.valueSize);
  if (map.btf && info.btfValueTypeId) {
    return formatEntry(map.btf, info.btfKeyTypeId, info.btfValueTypeId, key, values, { plain });
  }
  const o = new JsonObject();
  if (map.keySize > 0) o.add('key', hexList(key));
  if (Array.isArray(values)) {
    o.add(
      'values',
      values.map((v, cpu) =>
        new JsonObject().add('cpu', new JsonToken(String(cpu))).add('value', hexList(v)),
      ),
    );
  } else o.add('value', hexList(values));
  return o;
}

const hexText = (b: Uint8Array): string => hex(b, ' ');

/** bpftool's text for one entry of a map without BTF. */
function plainEntry(map: BpfMap, key: Uint8Array, value: Uint8Array): string {
  if (map.perCpu) {
    let s = `key:\n${hexText(key)}\n`;
    for (let cpu = 0; cpu < map.cpus; cpu++) {
      const v = value.subarray(cpu * map.valueStride, cpu * map.valueStride + map.valueSize);
      s += `value (CPU ${String(cpu).padStart(2, '0')}): ${hexText(v)}\n`;
    }
    return s;
  }
  const v = value.subarray(0, map.valueSize);
  if (map.keySize > 16 || map.valueSize > 16) return `key:\n${hexText(key)}\nvalue:\n${hexText(v)}\n`;
  return `key: ${hexText(key)}  value: ${hexText(v)}\n`;
}

function print(map: BpfMap, entries: [Uint8Array, Uint8Array][], json: boolean, single: boolean): void {
  if (json) {
    const list = entries.map(([k, v]) => entryJson(map, k, v, false));
    process.stdout.write(writeJson(single ? list[0]! : list) + '\n');
  } else if (map.btf && map.info().btfValueTypeId) {
    const list = entries.map(([k, v]) => entryJson(map, k, v, true));
    process.stdout.write(writeJson(single ? list[0]! : list, true) + '\n');
  } else {
    process.stdout.write(entries.map(([k, v]) => plainEntry(map, k, v)).join(''));
    if (!single) process.stdout.write(`Found ${entries.length} element${entries.length === 1 ? '' : 's'}\n`);
  }
}

function keyBytes(map: BpfMap, kv: { key?: string[] }, keyJson: string | undefined): Uint8Array {
  if (keyJson !== undefined) return map.keyCodec.encode(jsonArg(keyJson, 'key'));
  if (!kv.key) throw new UsageError('a key is needed: key BYTES or --key-json JSON');
  return sized(parseBytes(kv.key, 'key'), map.keySize, 'key');
}

const VERBS = ['dump', 'get', 'lookup', 'update', 'delete', 'pin'];

async function run(args: string[]): Promise<number> {
  const a = parse(args, { 'key-json': { type: 'string' }, 'value-json': { type: 'string' } });
  const [verb, ...words] = a.positionals;
  const json = a.json;
  if (verb === undefined) throw new UsageError(`which map command? ${VERBS.join(', ')}`);
  if (!VERBS.includes(verb)) throw new UsageError(`unknown map command '${verb}' (${VERBS.join(', ')})`);
  if (verb === 'pin') positionals(words, 3, 3, 'PATH, where to pin the map');
  const { map, rest } = openMap(words);
  using _m = map;
  if (verb === 'pin') {
    const [path] = positionals(rest, 1, 1, 'PATH, where to pin the map');
    map.pin(path!);
    if (json) process.stdout.write(JSON.stringify({ id: map.info().id, pinnedAt: path }) + '\n');
    else process.stdout.write(`map ${map.info().id} pinned at ${path}\n`);
    return 0;
  }
  const kv = keyValueWords(rest);
  switch (verb) {
    case 'dump': {
      if (rest.length > 0) throw new UsageError(`unexpected '${rest[0]}'`);
      print(map, [...map.rawEntries()], json, false);
      return 0;
    }
    case 'get':
    case 'lookup': {
      const key = keyBytes(map, kv, a.string('key-json'));
      const value = map.lookupBytes(key);
      if (value === undefined) throw new NotFoundError('key not found', { map: map.name });
      print(map, [[key, value]], json, true);
      return 0;
    }
    case 'update': {
      const key = keyBytes(map, kv, a.string('key-json'));
      const vj = a.string('value-json');
      let value: unknown;
      if (vj !== undefined) value = jsonArg(vj, 'value');
      else if (kv.value)
        value = sized(
          parseBytes(kv.value, 'value'),
          map.perCpu ? map.valueStride * map.cpus : map.valueSize,
          'value',
        );
      else throw new UsageError('a value is needed: value BYTES or --value-json JSON');
      const flag =
        kv.flag === 'noexist'
          ? UpdateFlags.NOEXIST
          : kv.flag === 'exist'
            ? UpdateFlags.EXIST
            : UpdateFlags.ANY;
      map.update(key, value, flag);
      if (json) process.stdout.write('null\n');
      return 0;
    }
    default: {
      const key = keyBytes(map, kv, a.string('key-json'));
      if (!map.delete(key)) throw new NotFoundError('key not found', { map: map.name });
      if (json) process.stdout.write('null\n');
      return 0;
    }
  }
}

export const command: Command = {
  summary: 'dump, get, update, delete or pin entries of a pinned map or a map by id (BTF-typed)',
  usage,
  run,
};
