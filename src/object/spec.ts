// The ObjectSpec data model: programs, maps and global variables read from an ELF object, as plain
// data a user can read and change before loading. References to maps and functions stay symbolic.
import type { Instruction } from '../asm/index.js';
import type { Btf } from '../btf/btf.js';
import type { BtfExt, LineInfo } from '../btf/ext.js';
import type { SectionMatchResult } from './sections.js';

/** What an instruction refers to, by name, until the loader resolves it. */
export type Reference =
  /** ld_imm64 of a map (BTF `.maps` or legacy `maps`): becomes BPF_PSEUDO_MAP_FD. */
  | { kind: 'map'; map: string }
  /**
   * ld_imm64 of an address inside a global-data map, or of an `__arena` global (then `map` is the
   * arena and `offset` counts from the start of `.addr_space.1`): becomes BPF_PSEUDO_MAP_VALUE + offset.
   */
  | { kind: 'data'; map: string; offset: number; symbol?: string }
  /** bpf-to-bpf call; the immediate already points at the linked copy of `target`. */
  | { kind: 'call'; target: string }
  /** ld_imm64 of a function address (BPF_PSEUDO_FUNC callback); the immediate is linked like a call. */
  | { kind: 'func'; target: string }
  /** Call of an extern function: a kernel function (kfunc) resolved against kernel BTF. */
  | { kind: 'kfunc'; name: string; weak: boolean }
  /** ld_imm64 of an extern `.ksyms` variable: a kernel symbol resolved against kernel BTF/kallsyms. */
  | { kind: 'ksym'; name: string; weak: boolean }
  /** ld_imm64 of an extern `.kconfig` variable: an offset in the `.kconfig` map. */
  | { kind: 'kconfig'; map: string; name: string; offset: number; weak: boolean };

/** An instruction of a program spec, with the reference the object's relocations gave it. */
export type SpecInstruction = Instruction & { reference?: Reference };

/** func_info re-based to the linked program: `insn` counts instructions from its start. */
export interface ProgramFuncInfo {
  insn: number;
  typeId: number;
}

/** line_info re-based to the linked program. */
export interface ProgramLineInfo extends Omit<LineInfo, 'insnOff'> {
  insn: number;
}

/** A CO-RE relocation record re-based to the linked program. */
export interface ProgramCoreRelo {
  insn: number;
  typeId: number;
  accessStr: string;
  kind: number;
}

/** A subprogram linked into a program, and where its copy starts. */
export interface LinkedFunction {
  name: string;
  /** Instruction index of its first instruction in the linked program. */
  start: number;
  /** Number of instruction slots. */
  length: number;
}

export interface ProgramSpec {
  /** The function symbol's name (kernel name is its first 15 characters). */
  name: string;
  /** The ELF section, without libbpf's leading `?` (see `autoload`). */
  sectionName: string;
  /** The section definition matched, undefined when the name is not in libbpf's table. */
  section: SectionMatchResult | undefined;
  /** BPF_PROG_TYPE_* value; 0 (UNSPEC) for an unknown section name. */
  type: number;
  /** BPF_* attach type given at load; 0 when the section defines none. */
  expectedAttachType: number;
  /** The attach target from the section name: `fentry/do_unlinkat` → `do_unlinkat`. */
  attachTo: string | undefined;
  /** BPF_F_SLEEPABLE at load. */
  sleepable: boolean;
  /** BPF_F_XDP_HAS_FRAGS at load. */
  xdpFrags: boolean;
  /** False for `SEC("?...")` programs, which libbpf does not load unless asked. */
  autoload: boolean;
  /** The symbol is STB_GLOBAL or STB_WEAK. */
  global: boolean;
  /** The program's code followed by every subprogram it uses, linked. */
  instructions: SpecInstruction[];
  /** The subprograms appended, in order (libbpf's order). */
  linked: LinkedFunction[];
  funcInfo: ProgramFuncInfo[];
  lineInfo: ProgramLineInfo[];
  coreRelos: ProgramCoreRelo[];
  license: string;
  kernelVersion: number;
  /** Where the program is in the object, for messages. */
  sectionIndex: number;
  /** Instruction index of the program in its section. */
  sectionOffset: number;
}

/** Where a map came from. */
export type MapSource = 'btf' | 'legacy' | 'data' | 'rodata' | 'bss' | 'kconfig' | 'struct_ops';

export interface MapSpec {
  /** The name libbpf gives the map (the kernel keeps the first 15 characters). */
  name: string;
  source: MapSource;
  /** For global-data maps, the ELF section (`.rodata`); for others, the definition's section. */
  sectionName: string;
  /** BPF_MAP_TYPE_* value. */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  numaNode: number;
  /** 0: none, 1: LIBBPF_PIN_BY_NAME; iproute2 maps keep theirs in `legacy.pinning`. */
  pinning: number;
  mapExtra: bigint;
  /** BTF ids of the key and value types in the object's BTF (0 when absent). */
  keyTypeId: number;
  valueTypeId: number;
  /** Inner map template for array/hash of maps defined with `__array(values, ...)`. */
  inner?: MapSpec;
  /** Initial contents by slot: program names (prog arrays) or map names (maps of maps). */
  initialSlots?: (string | undefined)[];
  /**
   * Initial value bytes of a global-data map (one entry), or of an arena's `__arena` globals
   * (`.addr_space.1`, copied into the arena's memory at load). Mutate to change before load.
   */
  contents?: Uint8Array;
  /**
   * struct_ops maps: the struct type's name (the kernel's `struct bpf_struct_ops_<name>` gives the
   * real value size at load) and which program each function-pointer member points at.
   */
  structOps?: { typeName: string; programs: Map<string, string> };
  /** iproute2 `struct bpf_elf_map` extras. */
  legacy?: { id: number; innerId: number; innerIdx: number; pinning: number };
}

/** How libbpf stores a `.kconfig` value, decided by the extern's C type. */
export type KconfigType = 'bool' | 'tristate' | 'char' | 'int' | 'char_array';

export interface KconfigExtern {
  type: KconfigType;
  size: number;
  align: number;
  /** Signed integer (range checks when the value is written). */
  signed: boolean;
  /** Offset in the `.kconfig` map. */
  offset: number;
}

export interface ExternSpec {
  name: string;
  kind: 'kconfig' | 'ksym';
  weak: boolean;
  /** The VAR (or, for kfuncs, FUNC) in the object's BTF. */
  btfId: number;
  /** Set for `.kconfig` externs. */
  kconfig?: KconfigExtern;
  /**
   * Set for `.ksyms` externs: `func` for kernel functions; `typeId` is the declared type with
   * modifiers and typedefs skipped (the FUNC_PROTO of a function), 0 for a typeless `void` ksym.
   */
  ksym?: { func: boolean; typeId: number };
}

/** A global variable in a data map, settable before load. */
export interface VariableSpec {
  name: string;
  /** The data map (MapSpec.name) holding it. */
  map: string;
  sectionName: string;
  offset: number;
  size: number;
  /** The variable's type id in the object's BTF (0 without BTF). */
  typeId: number;
  /** STB_GLOBAL or BTF linkage global; static variables are not exposed by libbpf's skeletons. */
  global: boolean;
  /** True for `.rodata*`: the program cannot change it, only user space before load. */
  readOnly: boolean;
  /** The current bytes (a view into the map's contents, so writes go to the map). */
  get(): Uint8Array;
  /** Replace the bytes; the length must equal `size`. */
  set(value: Uint8Array): void;
}

/**
 * A section's variables by name: reading a property decodes the variable's current value through
 * its BTF type (64-bit integers as bigint, structs as objects, char arrays as strings), assigning
 * encodes and stores it. A name the section does not have throws NotFoundError; a value that does
 * not fit the type throws the codec's CodecError. `T` lets a caller declare the shape it expects.
 */
export type Globals<T extends object = Record<string, unknown>> = T;

/**
 * What is known about one object's contents, at the type level: `ebpf gen types` (and `ebpf build
 * --types`) write one for an object, and an ObjectSpec or LoadedObject typed by it gives maps,
 * programs, global variables and record codecs their types without a cast. The default says
 * nothing: any name, values `unknown`.
 */
export interface ObjectTypes {
  /** Each map's key and value as its BpfMap decodes them. */
  maps: Record<string, { key: unknown; value: unknown }>;
  /** The program names (a union of string literals). */
  programs: string;
  /**
   * Each global-data section's variables (`.rodata`, `.data.custom`...). `.rodata`, `.data` and
   * `.bss` are always there, `never` when the object lacks them.
   */
  sections: Record<string, Record<string, unknown>>;
  /** Types by the name given to `--type` (`event`, `struct event`), as LoadedObject.codec decodes them. */
  records: Record<string, unknown>;
}

/**
 * The key of the type-level member that carries an object's ObjectTypes (it is never set at run
 * time; it lets loadObject(spec) infer the types of a typed spec).
 */
export const objectTypes: unique symbol = Symbol('ebpf.objectTypes');

/** A map name of `T`. */
export type MapName<T extends ObjectTypes> = keyof T['maps'] & string;
/** A global-data section of `T`. */
export type SectionName<T extends ObjectTypes> = keyof T['sections'] & string;
/** A record type name of `T`. */
export type RecordName<T extends ObjectTypes> = keyof T['records'] & string;
/** What ObjectSpec gains from globals-view.ts: section views as properties, and one for any section. */
export interface ObjectGlobals<T extends ObjectTypes = ObjectTypes> {
  /** `.rodata` variables (const volatile), set before load; NotFoundError if the object has none. */
  readonly rodata: Globals<T['sections']['.rodata']>;
  /** `.data` variables (initialised globals). */
  readonly data: Globals<T['sections']['.data']>;
  /** `.bss` variables (zero-initialised globals). */
  readonly bss: Globals<T['sections']['.bss']>;
  /** The variables of any global-data section, e.g. `.rodata.custom` or `.data.config`. */
  globals<S extends SectionName<T>>(section: S): Globals<T['sections'][S]>;
  /** The same, with the caller declaring the variables' types (unchecked). */
  globals<V extends object>(section: SectionName<T>): Globals<V>;
}

/**
 * An object read from ELF. Besides its data it has `rodata`, `data`, `bss` and `globals(section)`
 * (not enumerable): its global variables by name, typed through BTF, set before loading. `T`
 * (written by `ebpf gen types`) types them, and the LoadedObject that loadObject(spec) returns.
 */
export interface ObjectSpec<T extends ObjectTypes = ObjectTypes> extends ObjectGlobals<T> {
  /** Type-level only (see ObjectTypes): never present at run time. */
  readonly [objectTypes]?: T;
  /** libbpf's object name: the file's base name up to the first '.', at most 15 characters. */
  name: string;
  file: string | undefined;
  license: string;
  kernelVersion: number;
  littleEndian: boolean;
  btf: Btf | undefined;
  btfExt: BtfExt | undefined;
  programs: ProgramSpec[];
  maps: MapSpec[];
  variables: Map<string, VariableSpec>;
  /** Extern `__kconfig` and `__ksym` symbols in libbpf's order, resolved by the loader. */
  externs: ExternSpec[];
}
