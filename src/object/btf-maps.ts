// BTF-defined maps: the variables of the `.maps` DATASEC, whose struct members encode the map's
// attributes (`__uint(type, ...)` as a pointer to an array of that many elements, `__type(key, T)`
// as a pointer to T, `__array(values, ...)` for inner maps and initial slots), read as libbpf does.
import type { Btf } from '../btf/btf.js';
import type { Member, Type } from '../btf/types.js';
import { VarLinkage } from '../btf/types.js';
import { BtfError, type Location } from '../errors.js';
import { MapType } from '../constants.js';
import { MapDefinitionError } from './errors.js';
import type { MapSpec } from './spec.js';

/** libbpf's `enum libbpf_pin_type`. */
export const LIBBPF_PIN_NONE = 0;
export const LIBBPF_PIN_BY_NAME = 1;

export interface BtfMapDef {
  spec: MapSpec;
  /** Byte range of the definition in the `.maps` section (for `.rel.maps` initial slots). */
  offset: number;
  size: number;
  /** Byte offset of the `values` member in the definition, when there is one. */
  valuesOffset: number | undefined;
}

export interface BtfMapOptions {
  /** Page size for rounding ring buffer sizes as libbpf does (default 4096). */
  pageSize?: number;
  location?: Location;
}

function isMapInMap(type: number): boolean {
  return type === MapType.ARRAY_OF_MAPS || type === MapType.HASH_OF_MAPS;
}

/** Skip typedefs and qualifiers, as libbpf's skip_mods_and_typedefs. */
function skipMods(btf: Btf, id: number): Type | undefined {
  const t = btf.resolve(id);
  return t.kind === 'VOID' ? undefined : t;
}

class DefParser {
  constructor(
    private readonly btf: Btf,
    private readonly loc: Location,
  ) {}

  fail(map: string, msg: string): never {
    throw new MapDefinitionError(msg, { ...this.loc, map });
  }

  /** `__uint(name, val)` is `int (*name)[val]`: the value is the array's element count. */
  int(map: string, m: Member): number {
    const t = skipMods(this.btf, m.type);
    if (t?.kind !== 'PTR') this.fail(map, `attribute '${m.name}': expected PTR, got ${t?.kind ?? 'VOID'}`);
    const arr = this.btf.type(t.type);
    if (arr.kind !== 'ARRAY') this.fail(map, `attribute '${m.name}': expected ARRAY, got ${arr.kind}`);
    return arr.nelems;
  }

  /** `__ulong(name, val)`: a pointer to an array, or an enum with one value. */
  long(map: string, m: Member): bigint {
    const t = skipMods(this.btf, m.type);
    if (t?.kind === 'PTR') return BigInt(this.int(map, m));
    if (t?.kind !== 'ENUM' && t?.kind !== 'ENUM64') {
      this.fail(map, `attribute '${m.name}': expected ENUM or ENUM64, got ${t?.kind ?? 'VOID'}`);
    }
    if (t.values.length !== 1) this.fail(map, `attribute '${m.name}': invalid __ulong`);
    return BigInt.asUintN(64, t.values[0]!.value);
  }

  /** `__type(key, T)` is `T *key`: the pointee's id and size. */
  typed(map: string, m: Member): { id: number; size: number } {
    const t = this.btf.type(m.type);
    if (t.kind !== 'PTR') this.fail(map, `${m.name} spec is not PTR: ${t.kind}`);
    let size: number;
    try {
      size = this.btf.sizeof(t.type);
    } catch (e) {
      if (e instanceof BtfError)
        this.fail(map, `can't determine ${m.name} size for type [${t.type}]: ${e.message}`);
      throw e;
    }
    return { id: t.type, size };
  }

  parse(
    name: string,
    def: Type,
    opts: BtfMapOptions,
    outer: boolean,
  ): { spec: MapSpec; valuesMember: Member | undefined } {
    if (def.kind !== 'STRUCT') this.fail(name, `unexpected def kind ${def.kind}`);
    const spec: MapSpec = {
      name,
      source: 'btf',
      sectionName: '.maps',
      type: MapType.UNSPEC,
      keySize: 0,
      valueSize: 0,
      maxEntries: 0,
      flags: 0,
      numaNode: 0,
      pinning: LIBBPF_PIN_NONE,
      mapExtra: 0n,
      keyTypeId: 0,
      valueTypeId: 0,
    };
    let valuesMember: Member | undefined;
    const setSize = (what: 'keySize' | 'valueSize', size: number): void => {
      if (spec[what] !== 0 && spec[what] !== size) {
        this.fail(name, `conflicting ${what === 'keySize' ? 'key' : 'value'} size ${spec[what]} != ${size}`);
      }
      spec[what] = size;
    };
    def.members.forEach((m, i) => {
      switch (m.name) {
        case 'type':
          spec.type = this.int(name, m);
          break;
        case 'max_entries':
          spec.maxEntries = this.int(name, m);
          break;
        case 'map_flags':
          spec.flags = this.int(name, m);
          break;
        case 'numa_node':
          spec.numaNode = this.int(name, m);
          break;
        case 'key_size':
          setSize('keySize', this.int(name, m));
          break;
        case 'key': {
          const k = this.typed(name, m);
          setSize('keySize', k.size);
          spec.keyTypeId = k.id;
          break;
        }
        case 'value_size':
          setSize('valueSize', this.int(name, m));
          break;
        case 'value': {
          const v = this.typed(name, m);
          setSize('valueSize', v.size);
          spec.valueTypeId = v.id;
          break;
        }
        case 'values': {
          const mim = isMapInMap(spec.type);
          const progArray = spec.type === MapType.PROG_ARRAY;
          const desc = mim ? 'map-in-map inner' : 'prog-array value';
          if (!outer) this.fail(name, 'multi-level inner maps not supported');
          if (i !== def.members.length - 1) this.fail(name, `'values' member should be last`);
          if (!mim && !progArray) this.fail(name, 'should be map-in-map or prog-array');
          setSize('valueSize', 4);
          const arr = this.btf.type(m.type);
          if (arr.kind !== 'ARRAY' || arr.nelems !== 0)
            this.fail(name, `${desc} spec is not a zero-sized array`);
          const ptr = skipMods(this.btf, arr.type);
          if (ptr?.kind !== 'PTR')
            this.fail(name, `${desc} def is of unexpected kind ${ptr?.kind ?? 'VOID'}`);
          const target = skipMods(this.btf, ptr.type);
          valuesMember = m;
          if (progArray) {
            if (target?.kind !== 'FUNC_PROTO') {
              this.fail(name, `prog-array value def is of unexpected kind ${target?.kind ?? 'VOID'}`);
            }
            break;
          }
          if (target?.kind !== 'STRUCT') {
            this.fail(name, `map-in-map inner def is of unexpected kind ${target?.kind ?? 'VOID'}`);
          }
          spec.inner = this.parse(`${name}.inner`, target, opts, false).spec;
          break;
        }
        case 'pinning': {
          if (!outer) this.fail(name, "inner def can't be pinned");
          const v = this.int(name, m);
          if (v !== LIBBPF_PIN_NONE && v !== LIBBPF_PIN_BY_NAME)
            this.fail(name, `invalid pinning value ${v}`);
          spec.pinning = v;
          break;
        }
        case 'map_extra':
          spec.mapExtra = this.long(name, m);
          break;
        default:
          // libbpf's default (strict) mode refuses what it does not understand.
          this.fail(name, `unknown field '${m.name}'`);
      }
    });
    if (spec.type === MapType.UNSPEC) this.fail(name, "map type isn't specified");
    if (spec.type === MapType.RINGBUF || spec.type === MapType.USER_RINGBUF) {
      // The kernel refuses both (EINVAL, in libbpf too): say so here, where the definition is.
      if (spec.keySize !== 0 || spec.valueSize !== 0) {
        this.fail(
          name,
          'a ring buffer has no key or value: drop its __type(key/value, ...) (to keep a record type in BTF, ' +
            'refer to it from a global: `struct event *unused __attribute__((unused));`)',
        );
      }
      spec.maxEntries = ringbufSize(spec.maxEntries, opts.pageSize ?? 4096);
    }
    return { spec, valuesMember };
  }
}

/** libbpf rounds a ring buffer's size up to a power-of-two number of pages. */
export function ringbufSize(size: number, pageSize: number): number {
  if (size === 0) return 0;
  if (size % pageSize === 0 && Number.isInteger(Math.log2(size / pageSize))) return size;
  for (let mul = 1; mul * pageSize <= 0xffffffff; mul *= 2) {
    if (mul * pageSize > size) return mul * pageSize;
  }
  return size;
}

/**
 * Read every map of the `.maps` DATASEC. `sectionSize` bounds the definitions (libbpf calls a
 * definition past the section's end corrupted).
 */
export function parseBtfMaps(
  btf: Btf,
  sectionSize: number,
  symbolOffset: (name: string) => number | undefined,
  opts: BtfMapOptions = {},
): BtfMapDef[] {
  const loc: Location = { ...(opts.location ?? {}), section: '.maps' };
  const sec = btf.findByKind('DATASEC').find((d) => d.name === '.maps');
  if (sec === undefined) throw new MapDefinitionError("DATASEC '.maps' not found in BTF", loc);
  const parser: DefParser = new DefParser(btf, loc);
  const out: BtfMapDef[] = [];
  sec.vars.forEach((vi, i) => {
    const v = btf.type(vi.type);
    const name = v.name;
    if (name === '') throw new MapDefinitionError(`map #${i}: empty name`, loc);
    if (v.kind !== 'VAR') parser.fail(name, `unexpected var kind ${v.kind}`);
    // clang leaves DATASEC size and offsets 0 in objects (libbpf fixes them from ELF symbols).
    let offset = vi.offset;
    if (sec.size === 0) {
      const o = symbolOffset(name);
      if (o === undefined) parser.fail(name, `no ELF symbol for map variable`);
      offset = o;
    }
    if (offset + vi.size > sectionSize)
      parser.fail(name, 'BTF data is corrupted (definition past section end)');
    if (v.linkage !== VarLinkage.GLOBAL_ALLOCATED) {
      parser.fail(name, `unsupported map linkage ${v.linkage === VarLinkage.STATIC ? 'static' : 'extern'}`);
    }
    const def = btf.resolve(v.type);
    if (def.kind !== 'STRUCT') parser.fail(name, `unexpected def kind ${def.kind}`);
    if (def.size > vi.size) parser.fail(name, 'invalid def size');
    const { spec, valuesMember } = parser.parse(name, def, opts, true);
    out.push({
      spec,
      offset,
      size: vi.size,
      valuesOffset: valuesMember === undefined ? undefined : valuesMember.bitsOffset / 8,
    });
  });
  return out;
}
