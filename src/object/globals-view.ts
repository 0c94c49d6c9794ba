// Global variables as JS properties, typed through the object's BTF: `spec.rodata.min_len = 64`
// before load (encoded into the data map's initial bytes); the loader reuses the view over maps.
import type { Btf } from '../btf/btf.js';
import { EbpfError, NotFoundError, type Location } from '../errors.js';
import { codecFor, rawCodec, type Codec } from '../btf/codec.js';
import { MapType } from '../constants.js';
import { ARENA_SECTION } from './globals.js';
import type { Globals, MapSpec, ObjectGlobals, ObjectSpec, VariableSpec } from './spec.js';

/** One variable of a view: where it lies in its section and how its bytes become a value. */
export interface GlobalVariable {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly codec: Codec;
  readonly spec: VariableSpec;
}

/** How a view reads and writes its variables: initial bytes of a spec, or a loaded map. */
export interface GlobalAccess {
  read(v: GlobalVariable): unknown;
  write(v: GlobalVariable, value: unknown): void;
}

/**
 * Which maps hold global variables a user sets or reads (.kconfig is the loader's to fill): data
 * sections' maps, and the arena holding `__arena` globals.
 */
export function isGlobalsMap(m: MapSpec): boolean {
  return (
    m.source === 'data' ||
    m.source === 'rodata' ||
    m.source === 'bss' ||
    (m.type === MapType.ARENA && m.contents !== undefined)
  );
}

/** The section whose variables a globals map holds: `.addr_space.1` for the arena. */
export function globalsSection(m: MapSpec): string {
  return m.type === MapType.ARENA ? ARENA_SECTION : m.sectionName;
}

/** The map holding `section`; NotFoundError naming the sections the object has. */
export function globalsMap(spec: Pick<ObjectSpec, 'maps' | 'file' | 'name'>, section: string): MapSpec {
  const m = spec.maps.find((x) => isGlobalsMap(x) && globalsSection(x) === section);
  if (m !== undefined) return m;
  const have = spec.maps.filter(isGlobalsMap).map(globalsSection);
  throw new NotFoundError(
    `object '${spec.name}' has no global-data section '${section}' (it has: ${have.join(', ') || 'none'})`,
    spec.file !== undefined ? { file: spec.file, section } : { section },
  );
}

/**
 * The variables of `section` a view exposes, with their codecs: the global ones, as libbpf's
 * skeletons do (a static variable may have been folded into the code, so setting it could do
 * nothing). Without BTF a variable's value is its bytes.
 */
export function globalVariables(
  spec: Pick<ObjectSpec, 'variables' | 'btf'>,
  section: string,
): { exposed: GlobalVariable[]; hidden: string[] } {
  const exposed: GlobalVariable[] = [];
  const hidden: string[] = [];
  for (const v of spec.variables.values()) {
    if (v.sectionName !== section) continue;
    if (!v.global) {
      hidden.push(v.name);
      continue;
    }
    exposed.push({ name: v.name, offset: v.offset, size: v.size, codec: codecOf(spec.btf, v), spec: v });
  }
  return { exposed, hidden };
}

function codecOf(btf: Btf | undefined, v: VariableSpec): Codec {
  if (btf === undefined || v.typeId === 0) return rawCodec(v.size, v.name);
  const c = codecFor(btf, v.typeId, v.name);
  // A flexible array or an unsized type: the bytes are all a codec can promise.
  return c.size === v.size ? c : rawCodec(v.size, v.name);
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');
/** Names a caller may probe without meaning a variable: promise resolution and JSON.stringify. */
const PROBED = new Set(['then', 'toJSON']);

/**
 * A view of `variables` through `access`. Properties are the variables (enumerable, in section
 * order); any other name read or assigned throws NotFoundError naming the section and listing
 * what it has. `where` locates those errors.
 */
export function globalsView<T extends object = Record<string, unknown>>(
  section: string,
  variables: { exposed: GlobalVariable[]; hidden: string[] },
  access: GlobalAccess,
  where: Location,
): Globals<T> {
  const target: Record<string, unknown> = {};
  const sorted = [...variables.exposed].sort((a, b) => a.offset - b.offset);
  for (const v of sorted) {
    Object.defineProperty(target, v.name, {
      enumerable: true,
      get: () => access.read(v),
      set: (x: unknown) => access.write(v, x),
    });
  }
  // console.log shows the values rather than [Getter/Setter] (util.inspect looks through proxies).
  Object.defineProperty(target, INSPECT, {
    value: () => Object.fromEntries(sorted.map((v) => [v.name, access.read(v)])),
  });
  const notFound = (name: string): NotFoundError => {
    const why = variables.hidden.includes(name)
      ? `'${name}' is static in ${section} (not visible outside the object, as in libbpf skeletons)`
      : `no variable '${name}' in ${section}`;
    const names = sorted.map((v) => v.name);
    return new NotFoundError(`${why}; it has: ${names.join(', ') || 'no variables'}`, where);
  };
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (typeof prop === 'string' && !(prop in t) && !PROBED.has(prop)) throw notFound(prop);
      return Reflect.get(t, prop, receiver) as unknown;
    },
    set(t, prop, value, receiver) {
      if (typeof prop !== 'string' || !Object.hasOwn(t, prop)) throw notFound(String(prop));
      return Reflect.set(t, prop, value, receiver);
    },
    defineProperty(_t, prop) {
      throw notFound(String(prop));
    },
    deleteProperty(_t, prop) {
      throw new EbpfError(`cannot delete variable '${String(prop)}' of ${section}`, where);
    },
  }) as Globals<T>;
}

/** Reads and writes the initial bytes of a data map spec, which the loader writes at creation. */
function specAccess(): GlobalAccess {
  return {
    read: (v) => v.codec.decode(v.spec.get()),
    write(v, x) {
      v.spec.set(v.codec.encode(x));
    },
  };
}

const views = new WeakMap<object, Map<string, Globals>>();

/**
 * The variables of `section` (`.rodata`, `.data`, `.bss`, `.data.custom`...) of an ObjectSpec,
 * to read and set before loading: a write changes the map's `contents`, which the loader writes
 * when it creates the map (and then freezes, for `.rodata*`). Throws NotFoundError when the object
 * has no such section.
 */
export function specGlobals<T extends object = Record<string, unknown>>(
  spec: GlobalsSpec,
  section: string,
): Globals<T> {
  let bySection = views.get(spec);
  if (bySection === undefined) views.set(spec, (bySection = new Map()));
  let view = bySection.get(section);
  if (view === undefined) {
    const map = globalsMap(spec, section);
    const where: Location = {
      section,
      map: map.name,
      ...(spec.file !== undefined ? { file: spec.file } : {}),
    };
    view = globalsView<Globals>(section, globalVariables(spec, section), specAccess(), where);
    bySection.set(section, view);
  }
  return view as Globals<T>;
}

type GlobalsSpec = Pick<ObjectSpec, 'maps' | 'variables' | 'btf' | 'file' | 'name'>;

// The getters withGlobals gives every spec: the same three functions for all, reading `this`.
// A getter made per spec (a closure over it) would give each spec its own hidden class, which V8
// keeps in the old generation: the spec, and everything a parse built, would then survive every
// young collection until a full one. Measured: 3,000 parses of testdata/maps-el.o promoted 363 MB
// with closures, 60 MB with these, and each parse took 0.82 against 0.58 ms.
const rodataGetter = function (this: GlobalsSpec): Globals {
  return specGlobals(this, '.rodata');
};
const dataGetter = function (this: GlobalsSpec): Globals {
  return specGlobals(this, '.data');
};
const bssGetter = function (this: GlobalsSpec): Globals {
  return specGlobals(this, '.bss');
};

/**
 * Gives a freshly built ObjectSpec its `rodata`, `data`, `bss` and `globals()` members. They are
 * not enumerable, so the spec still compares, spreads and prints as the plain data it is.
 */
export function withGlobals<S extends GlobalsSpec>(spec: S): S & ObjectGlobals {
  Object.defineProperties(spec, {
    rodata: { get: rodataGetter },
    data: { get: dataGetter },
    bss: { get: bssGetter },
    // A value, not a getter: a method taken off the spec (`const { globals } = spec`) still works.
    globals: { value: (section: string) => specGlobals(spec, section) },
  });
  return spec as S & ObjectGlobals;
}
