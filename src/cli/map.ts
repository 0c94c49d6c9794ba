// `ebpf map dump|get|update|delete`: a pinned or numbered map, keys and values through its BTF,
// printed the way `bpftool map` prints them (`--json`: bpftool -j's `formatted` part).
import { CodecError } from '../btf/codec.js';
import { formatEntry, hexList, JsonObject, JsonToken, writeJson, type Json } from '../btf/format-value.js';
import { BpfMap, UpdateFlags } from '../map/map.js';
import { EbpfError, NotFoundError } from '../errors.js';
import { parseArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf map dump MAP [--json]
       ebpf map get MAP (key BYTES | --key-json JSON) [--json]
       ebpf map update MAP (key BYTES | --key-json JSON) (value BYTES | --value-json JSON) [any|noexist|exist]
       ebpf map delete MAP (key BYTES | --key-json JSON)

  MAP     pinned PATH | id N
  BYTES   bytes as bpftool takes them: 1 2 0x0a 0 ..., or 'hex 01 02 0a 00'
  --key-json, --value-json
          the key or value as JSON shaped like the BTF type ({"saddr": 1, "daddr": 2})
  --json  JSON: for each entry {key, value} as bpftool -j map dump's "formatted" (hex byte
          lists for a map without BTF; per-CPU maps give "values": [{cpu, value}])`;

class UsageError extends EbpfError {}

function openMap(words: string[]): { map: BpfMap; rest: string[] } {
  const [how, what, ...rest] = words;
  if (how === 'pinned' && what !== undefined) return { map: BpfMap.fromPin(what), rest };
  if (how === 'id' && what !== undefined) {
    const id = Number(what);
    if (!Number.isInteger(id) || id <= 0) throw new UsageError(`bad map id '${what}'`);
    return { map: BpfMap.fromId(id), rest };
  }
  throw new UsageError(`expected 'pinned PATH' or 'id N', got '${words.slice(0, 2).join(' ')}'`);
}

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

const hexText = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');

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

async function run(args: string[]): Promise<number> {
  const a = parseArgs(args, ['key-json', 'value-json'], ['json', 'j']);
  const [verb, ...words] = a.positionals;
  const json = a.flags.has('json') || a.flags.has('j');
  if (verb === undefined || !['dump', 'get', 'lookup', 'update', 'delete'].includes(verb)) {
    process.stderr.write(usage + '\n');
    return 2;
  }
  try {
    const { map, rest } = openMap(words);
    using _m = map;
    const kv = keyValueWords(rest);
    switch (verb) {
      case 'dump': {
        if (rest.length > 0) throw new UsageError(`unexpected '${rest[0]}'`);
        print(map, [...map.rawEntries()], json, false);
        return 0;
      }
      case 'get':
      case 'lookup': {
        const key = keyBytes(map, kv, a.options.get('key-json'));
        const value = map.lookupBytes(key);
        if (value === undefined) throw new NotFoundError('key not found', { map: map.name });
        print(map, [[key, value]], json, true);
        return 0;
      }
      case 'update': {
        const key = keyBytes(map, kv, a.options.get('key-json'));
        const vj = a.options.get('value-json');
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
      case 'delete': {
        const key = keyBytes(map, kv, a.options.get('key-json'));
        if (!map.delete(key)) throw new NotFoundError('key not found', { map: map.name });
        if (json) process.stdout.write('null\n');
        return 0;
      }
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`ebpf map ${verb}: ${e.message}\n${usage}\n`);
      return 2;
    }
    if (e instanceof CodecError) {
      process.stderr.write(`ebpf map ${verb}: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  return 2;
}

export const command: Command = {
  summary: 'dump, get, update or delete entries of a pinned map or a map by id (BTF-typed)',
  usage,
  run,
};
