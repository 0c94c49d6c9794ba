// Global data: `.data*`, `.rodata*` and `.bss*` sections become one-entry array maps (libbpf's
// "internal maps"), named as libbpf names them, with their variables located through BTF DATASECs.
import type { Btf } from '../btf/btf.js';
import { VarLinkage } from '../btf/types.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType, BPF_OBJ_NAME_LEN } from '../constants.js';
import {
  STB_GLOBAL,
  STB_WEAK,
  SHT_NOBITS,
  SHT_PROGBITS,
  STT_OBJECT,
  STV_HIDDEN,
  STV_INTERNAL,
  type ElfFile,
  type ElfSection,
} from '../elf/index.js';
import { ObjectError } from './errors.js';
import type { MapSource, MapSpec, VariableSpec } from './spec.js';

/**
 * libbpf's internal map name: as much of the object name as fits before the section name, which
 * keeps at least 7 characters (so `.bss` still leaves only 8 for the object); sections with a
 * second dot (`.rodata.str1.1`, `.data.custom`) get no prefix; at most 15 characters; characters
 * the kernel refuses become '_'.
 */
export function internalMapName(objectName: string, sectionName: string): string {
  const max = BPF_OBJ_NAME_LEN - 1;
  const sfxLen = Math.min(Math.max(7, sectionName.length), max);
  const pfxLen = sectionName.indexOf('.', 1) !== -1 ? 0 : Math.min(max - sfxLen, objectName.length);
  const name = (objectName.slice(0, pfxLen) + sectionName.slice(0, sfxLen)).slice(0, max);
  return name.replace(/[^A-Za-z0-9_.]/g, '_');
}

/** Which kind of global data a section holds, as libbpf classifies it; undefined for others. */
export function dataSectionKind(section: ElfSection): MapSource | undefined {
  const n = section.name;
  if (section.type === SHT_PROGBITS) {
    if (n === '.data' || n.startsWith('.data.')) return 'data';
    if (n === '.rodata' || n.startsWith('.rodata.')) return 'rodata';
  } else if (section.type === SHT_NOBITS) {
    if (n === '.bss' || n.startsWith('.bss.')) return 'bss';
  }
  return undefined;
}

export interface DataMap {
  spec: MapSpec;
  section: ElfSection;
  variables: VariableSpec[];
}

function makeVariable(
  name: string,
  map: MapSpec,
  sectionName: string,
  offset: number,
  size: number,
  typeId: number,
  global: boolean,
): VariableSpec {
  return {
    name,
    map: map.name,
    sectionName,
    offset,
    size,
    typeId,
    global,
    readOnly: map.source === 'rodata',
    get(): Uint8Array {
      return map.contents!.subarray(offset, offset + size);
    },
    set(value: Uint8Array): void {
      if (value.length !== size) {
        throw new ObjectError(`variable '${name}' is ${size} bytes, got ${value.length}`, {
          map: map.name,
          section: sectionName,
          offset,
        });
      }
      map.contents!.set(value, offset);
    },
  };
}

/** Largest global-data section: a map's value_size is a u32 (the kernel then applies its own limit). */
const MAX_DATA_SECTION = 0xffffffff;

/**
 * A zeroed buffer of `section`'s size. A NOBITS section's size is not backed by file bytes, so a
 * damaged one can claim any size: past a u32 it cannot be a map value and is refused here.
 */
function sectionContents(section: ElfSection): Uint8Array {
  if (section.size > MAX_DATA_SECTION) {
    throw new ObjectError(
      `global data section is ${section.size} bytes; a map value is at most ${MAX_DATA_SECTION}`,
      { section: section.name },
    );
  }
  return new Uint8Array(section.size);
}

/** Build the map and variables of one global-data section. */
export function dataMap(
  elf: ElfFile,
  btf: Btf | undefined,
  objectName: string,
  section: ElfSection,
  source: MapSource,
): DataMap {
  const contents = sectionContents(section);
  if (source !== 'bss') contents.set(section.data());
  const spec: MapSpec = {
    name: internalMapName(objectName, section.name),
    source,
    sectionName: section.name,
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: section.size,
    maxEntries: 1,
    flags: source === 'rodata' ? BPF_F_RDONLY_PROG : 0,
    numaNode: 0,
    pinning: 0,
    mapExtra: 0n,
    keyTypeId: 0,
    valueTypeId: 0,
    contents,
  };
  const { variables, datasecId, mmapable } = sectionVariables(elf, btf, section, spec);
  if (datasecId !== 0) spec.valueTypeId = datasecId;
  if (mmapable) spec.flags |= BPF_F_MMAPABLE;
  return { spec, section, variables };
}

/** The ELF section clang gives `__arena` (`address_space(1)`) globals; their initial contents. */
export const ARENA_SECTION = '.addr_space.1';

/**
 * The variables of `.addr_space.1`, kept in `arena`'s `contents` (libbpf copies the section into
 * the arena's memory at load).
 */
export function arenaVariables(
  elf: ElfFile,
  btf: Btf | undefined,
  section: ElfSection,
  arena: MapSpec,
): VariableSpec[] {
  const contents = sectionContents(section);
  if (section.type !== SHT_NOBITS) contents.set(section.data());
  arena.contents = contents;
  return sectionVariables(elf, btf, section, arena).variables;
}

/**
 * The variables of one section held by `spec`'s contents, located through the section's DATASEC
 * (ELF symbols without BTF), sorted by offset; `mmapable` when one of them is global (libbpf then
 * makes the map BPF_F_MMAPABLE).
 */
function sectionVariables(
  elf: ElfFile,
  btf: Btf | undefined,
  section: ElfSection,
  spec: MapSpec,
): { variables: VariableSpec[]; datasecId: number; mmapable: boolean } {
  const variables: VariableSpec[] = [];
  // libbpf takes the first type of that name; a `.rodata.str1.1` section has none, which is fine.
  const datasec = btf?.findByName(section.name)[0];
  const symbols = elf.symbolsIn(section.index).filter((s) => s.type === STT_OBJECT);
  let mmapable = false;
  if (btf !== undefined && datasec?.kind === 'DATASEC') {
    for (const vi of datasec.vars) {
      const v = btf.type(vi.type);
      if (v.kind !== 'VAR') continue;
      let offset = vi.offset;
      let global = v.linkage !== VarLinkage.STATIC;
      if (v.linkage === VarLinkage.GLOBAL_ALLOCATED) {
        // clang leaves offsets of non-static variables 0 in objects; the ELF symbol has the truth.
        const sym = symbols.find((s) => s.name === v.name && (s.bind === STB_GLOBAL || s.bind === STB_WEAK));
        if (sym === undefined) {
          throw new ObjectError(`no ELF symbol for BTF variable '${v.name}'`, {
            section: section.name,
            typeId: v.id,
          });
        }
        if (datasec.size === 0) offset = Number(sym.value);
        if (sym.visibility === STV_HIDDEN || sym.visibility === STV_INTERNAL) global = false;
      }
      if (global) mmapable = true;
      if (offset + vi.size > section.size) {
        throw new ObjectError(
          `variable '${v.name}' (${vi.size} bytes at ${offset}) lies outside its section`,
          {
            section: section.name,
            typeId: v.id,
          },
        );
      }
      variables.push(makeVariable(v.name, spec, section.name, offset, vi.size, v.type, global));
    }
  } else {
    for (const s of symbols) {
      const offset = Number(s.value);
      const size = Number(s.size);
      if (offset + size > section.size) continue;
      variables.push(makeVariable(s.name, spec, section.name, offset, size, 0, s.bind !== 0));
    }
  }
  variables.sort((a, b) => a.offset - b.offset);
  return { variables, datasecId: datasec?.kind === 'DATASEC' ? datasec.id : 0, mmapable };
}
