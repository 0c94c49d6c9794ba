// Global variables of a data-section map (.data, .bss, .rodata...) as JS properties: each one
// reads and writes its bytes through its BTF codec, in mmap'd memory when the map allows it.
import type { Datasec } from '../btf/types.js';
import { BPF_F_MMAPABLE } from '../constants.js';
import { EbpfError, NotFoundError } from '../errors.js';
import { codecFor, type Codec, type TypeSource } from '../btf/codec.js';
import type { BpfMap } from './map.js';

/** One variable: its name, offset in the section, size and codec. */
export interface Variable {
  readonly name: string;
  readonly offset: number;
  readonly size: number;
  readonly codec: Codec;
}

/** Variables by name; reading a property decodes the current value, assigning encodes and writes it. */
export type Variables = Record<string, unknown>;

/**
 * A view of the variables in `datasec` (a DATASEC type, or its id in `btf`) held by `map`, an
 * array map of one element whose value is the section. With BPF_F_MMAPABLE (Linux 5.5) the
 * properties read and write the shared memory directly; otherwise each read is a lookup of key 0
 * and each write a lookup + update of the whole section. Writing a frozen map (.rodata after
 * load) fails with the kernel's EPERM.
 */
export function createVariables(map: BpfMap, btf: TypeSource, datasec: Datasec | number): Variables {
  const sec = typeof datasec === 'number' ? btf.type(datasec) : datasec;
  if (sec.kind !== 'DATASEC')
    throw new NotFoundError(`type is a ${sec.kind}, not a DATASEC`, { map: map.name });
  const vars: Variable[] = [];
  for (const vs of sec.vars) {
    const v = btf.type(vs.type);
    if (v.kind !== 'VAR') continue;
    vars.push({ name: v.name, offset: vs.offset, size: vs.size, codec: codecFor(btf, v.type, v.name) });
  }
  const out: Variables = {};
  const access = variableAccess(map);
  for (const v of vars) {
    Object.defineProperty(out, v.name, {
      enumerable: true,
      get: () => access.read(v),
      set: (x: unknown) => access.write(v, x),
    });
  }
  Object.defineProperty(out, VARIABLES, { value: vars });
  return out;
}

const VARIABLES = Symbol('variables');

/** The variables behind a view from createVariables (name, offset, size, codec). */
export function variablesOf(view: Variables): readonly Variable[] {
  return (view as { [VARIABLES]?: Variable[] })[VARIABLES] ?? [];
}

/** Reads and writes variables of a data-section map, whatever holds their name, offset and codec. */
export interface VariableAccess {
  read(v: VariableRef): unknown;
  write(v: VariableRef, x: unknown): void;
}

/** What reading or writing a variable needs: its name, offset and codec. */
export type VariableRef = Pick<Variable, 'name' | 'offset' | 'codec'>;

/**
 * How variables of `map` (a one-element array holding a section) are reached: its mmap'd memory
 * when it has BPF_F_MMAPABLE, else a lookup of key 0 per read and a lookup + update per write.
 */
export function variableAccess(map: BpfMap): VariableAccess {
  return (map.flags & BPF_F_MMAPABLE) !== 0 ? mmapAccess(map) : syscallAccess(map);
}

function mmapAccess(map: BpfMap): VariableAccess {
  let view: DataView | undefined;
  // The mapping is taken lazily and again after the map's close() detached it.
  const mem = (): DataView => {
    if (!view || view.buffer.byteLength === 0) view = new DataView(map.memory());
    return view;
  };
  return {
    read: (v) => v.codec.decodeView(mem(), v.offset),
    write(v, x) {
      const m = mem();
      // The memory of a frozen map is mapped read-only: a store there would kill the process.
      if (!map.memoryWritable)
        throw new EbpfError(`variable '${v.name}' is read-only (frozen map)`, { map: map.name });
      v.codec.encodeView(x, m, v.offset);
    },
  };
}

function syscallAccess(map: BpfMap): VariableAccess {
  const key = new Uint8Array(4);
  const section = (): DataView => {
    const bytes = map.lookupBytes(key);
    if (!bytes) throw new NotFoundError('data section map has no element 0', { map: map.name });
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  return {
    read: (v) => v.codec.decodeView(section(), v.offset),
    write(v, x) {
      const s = section();
      v.codec.encodeView(x, s, v.offset);
      map.update(key, new Uint8Array(s.buffer, s.byteOffset, map.valueSize));
    },
  };
}
