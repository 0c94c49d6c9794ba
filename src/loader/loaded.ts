// LoadedObject: what loadObject returns. Owns the descriptors of the object's BTF, maps and
// programs; close() (or `using`) releases them all. Pins stay until removed with unpin().
import type { ProgType } from '../constants.js';
import { EbpfError, NotFoundError } from '../errors.js';
import { removePin } from '../internal/pin.js';
import { BpfMap } from '../map/map.js';
import { typeByCName } from '../btf/c-name.js';
import { codecFor, type Codec } from '../btf/codec.js';
import type {
  Globals,
  MapName,
  ObjectGlobals,
  ObjectTypes,
  RecordName,
  SectionName,
} from '../object/spec.js';
import { objectTypes } from '../object/spec.js';
import type { MapSpec, ObjectSpec, ProgramSpec } from '../object/index.js';
import { Program, type ProgramOptions } from '../program/program.js';
import { JUST_LOADED } from '../program/from-load.js';
import type { Fd } from '../sys/fd.js';
import { ARENA_SECTION } from '../object/globals.js';
import { munmap } from '../sys/mmap.js';
import { loadedGlobals } from './globals.js';

export interface LoadedMapRecord {
  spec: MapSpec;
  fd: Fd;
  /** The name the kernel holds (at most 15 characters). */
  kernelName: string;
  pinnedAt: string | undefined;
  /** True when the map was an existing pin, opened rather than created. */
  reused: boolean;
  /**
   * An arena this load created: its memory, mapped at the arena's user address before the
   * programs were loaded (the kernel needs that address by then), and where in it the `__arena`
   * globals start.
   */
  arena?: { memory: ArrayBuffer; globalsOffset: number };
  /**
   * struct_ops maps whose programs all loaded: the kernel value (`bpf_struct_ops_<name>`, program
   * descriptors in its function pointers), whether the map is a link map (BPF_F_LINK), and whether
   * the value is in the map already (link maps get it at load; plain ones when registered).
   */
  structOps?: { value: Uint8Array; link: boolean; ready: boolean };
}

export interface LoadedProgramRecord {
  spec: ProgramSpec;
  fd: Fd;
  kernelName: string;
  pinnedAt: string | undefined;
}

/**
 * A loaded object. `T` (an ObjectTypes that `ebpf gen types` writes) types its maps, programs,
 * global variables and record codecs; loadObject(spec) carries it over from a typed spec.
 */
export class LoadedObject<T extends ObjectTypes = ObjectTypes> implements Disposable, ObjectGlobals<T> {
  /** Type-level only (see ObjectTypes): never present at run time. */
  declare readonly [objectTypes]?: T;
  readonly spec: ObjectSpec<T>;
  /** Every map by its libbpf name: descriptor, spec, pin. `map(name)` gives a typed BpfMap handle. */
  readonly maps: ReadonlyMap<string, LoadedMapRecord>;
  readonly programs: ReadonlyMap<T['programs'], Program>;
  /** Program records: spec, kernel name and pin. */
  readonly programRecords: ReadonlyMap<T['programs'], LoadedProgramRecord>;
  /** Verifier logs of programs loaded with a log level. */
  readonly logs: ReadonlyMap<string, string>;
  readonly btfFd: Fd | undefined;
  readonly #handles = new Map<string, BpfMap>();
  #closed = false;
  readonly #globals = new Map<string, Globals>();

  constructor(
    spec: ObjectSpec<T>,
    btfFd: Fd | undefined,
    maps: Map<string, LoadedMapRecord>,
    programs: Map<string, LoadedProgramRecord>,
    logs: Map<string, string>,
  ) {
    this.spec = spec;
    this.btfFd = btfFd;
    this.maps = maps;
    this.programRecords = programs;
    this.logs = logs;
    const handles = new Map<string, Program>();
    for (const [name, r] of programs)
      handles.set(
        name,
        Program.fromFd(r.fd, { name, type: r.spec.type as ProgType, [JUST_LOADED]: true } as ProgramOptions),
      );
    this.programs = handles;
  }

  /** The program named `name`; NotFoundError when the object has none loaded by that name. */
  program(name: T['programs']): Program {
    const p = this.programs.get(name);
    if (p === undefined) throw new NotFoundError(`no loaded program '${name}'`, { program: name });
    if (this.#closed) throw new EbpfError('object is closed', { program: name });
    return p;
  }

  /** A BpfMap handle over the loaded map (sharing its descriptor), typed by the object's BTF. */
  map<N extends MapName<T>>(name: N): BpfMap<T['maps'][N]['key'], T['maps'][N]['value']>;
  /** The same, with the caller declaring key and value types (unchecked). */
  map<K, V>(name: MapName<T>): BpfMap<K, V>;
  map(name: string): BpfMap {
    return this.#map(name);
  }

  #map(name: string): BpfMap {
    let h = this.#handles.get(name);
    if (h === undefined) {
      const r = this.maps.get(name);
      if (r === undefined) throw new NotFoundError(`no map '${name}'`, { map: name });
      if (this.#closed) throw new EbpfError('object is closed', { map: name });
      h = BpfMap.fromFd(r.fd, this.spec.btf !== undefined ? { btf: this.spec.btf } : {});
      if (r.arena !== undefined && r.arena.memory.byteLength > 0) h.adoptMemory(r.arena.memory);
      this.#handles.set(name, h);
    } else if (this.#closed) throw new EbpfError('object is closed', { map: name });
    return h;
  }

  /**
   * The codec of a BTF type named as C does (`struct event`, `event`, a typedef): what a record
   * read from a ring or perf buffer decodes to (`RingBuffer.open(obj.map('rb')).decodeWith(
   * obj.codec('event'))`). A name the object's BTF lacks is a NotFoundError saying why (clang
   * emits BTF only for types something global reaches) and the names close to it.
   */
  codec<N extends RecordName<T>>(type: N): Codec<T['records'][N]> {
    const btf = this.spec.btf;
    const where = this.spec.file !== undefined ? { file: this.spec.file } : {};
    if (btf === undefined)
      throw new NotFoundError(`no ${type} in BTF: the object has no BTF (build with -g)`, where);
    const lines = [...(this.spec.btfExt?.lineInfo.values() ?? [])].flat();
    return codecFor(btf, typeByCName(btf, type, { lines, ...where }).id, 'record') as Codec<T['records'][N]>;
  }

  /** `.rodata` variables as loaded (read-only: the map is frozen); NotFoundError if there is none. */
  get rodata(): Globals<T['sections']['.rodata']> {
    return this.#view('.rodata') as Globals<T['sections']['.rodata']>;
  }

  /** `.data` variables, read and written live (mmap'd where the map allows it). */
  get data(): Globals<T['sections']['.data']> {
    return this.#view('.data') as Globals<T['sections']['.data']>;
  }

  /** `.bss` variables, read and written live. */
  get bss(): Globals<T['sections']['.bss']> {
    return this.#view('.bss') as Globals<T['sections']['.bss']>;
  }

  /** The variables of any global-data section (`.data.custom`...), read and written live. */
  globals<S extends SectionName<T>>(section: S): Globals<T['sections'][S]>;
  globals<V extends object>(section: SectionName<T>): Globals<V>;
  globals(section: string): Globals {
    return this.#view(section);
  }

  /**
   * The `__arena` globals (clang's `address_space(1)` variables, in `.addr_space.1`), read and
   * written live in the arena's memory; NotFoundError if the object has none. `obj.map(name)
   * .memory()` is the whole arena.
   */
  get arena(): Globals<T['sections']['.addr_space.1']> {
    return this.#view(ARENA_SECTION) as Globals<T['sections']['.addr_space.1']>;
  }

  #view(section: string): Globals {
    let g = this.#globals.get(section);
    if (g === undefined) {
      const arenaOffset =
        section === ARENA_SECTION
          ? [...this.maps.values()].find((m) => m.arena !== undefined)?.arena?.globalsOffset
          : undefined;
      g = loadedGlobals<Globals>(
        this.spec as unknown as ObjectSpec,
        (name) => this.#map(name),
        section,
        arenaOffset,
      );
      this.#globals.set(section, g);
    }
    return g;
  }

  /** Every path this load pinned (maps and programs). */
  get pins(): string[] {
    const out: string[] = [];
    for (const m of this.maps.values()) if (m.pinnedAt !== undefined && !m.reused) out.push(m.pinnedAt);
    for (const p of this.programRecords.values()) if (p.pinnedAt !== undefined) out.push(p.pinnedAt);
    return out;
  }

  /** Removes the pins this load made (maps it reused stay pinned). */
  unpin(): void {
    for (const path of this.pins) removePin(path);
    for (const m of this.maps.values()) if (!m.reused) m.pinnedAt = undefined;
    for (const p of this.programRecords.values()) p.pinnedAt = undefined;
  }

  /** Closes every descriptor; pinned objects live on in bpffs. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const p of this.programs.values()) p.close();
    // Handles share the records' descriptors, but may also hold a mapping (globals) to unmap.
    for (const h of this.#handles.values()) h.close();
    for (const m of this.maps.values()) {
      // An arena no handle adopted is still mapped here.
      if (m.arena !== undefined && m.arena.memory.byteLength > 0) munmap(m.arena.memory);
      m.fd.close();
    }
    this.btfFd?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
