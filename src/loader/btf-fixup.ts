// BTF fix-ups the kernel needs before BPF_BTF_LOAD, as libbpf makes them: DATASEC sizes and
// variable offsets from the ELF (clang leaves them zero), hidden symbols made static. Pure.
import type { Btf } from '../btf/btf.js';
import { FuncLinkage, VarLinkage, type Type } from '../btf/types.js';
import {
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STT_OBJECT,
  STV_HIDDEN,
  STV_INTERNAL,
  type ElfFile,
} from '../elf/index.js';
import { BtfError } from '../errors.js';

/** What the fix-ups need from the ELF file. */
export interface ElfFacts {
  /** Size of a section by name. */
  sectionSize(name: string): number | undefined;
  /** A global or weak STT_OBJECT symbol (libbpf's find_elf_var_sym). */
  varSymbol(name: string): { value: number; hidden: boolean } | undefined;
  /** Names of global/weak `.text` functions with hidden or internal visibility. */
  hiddenFunctions: ReadonlySet<string>;
}

const hiddenVis = (v: number): boolean => v === STV_HIDDEN || v === STV_INTERNAL;

/** The facts of a parsed ELF file. */
export function elfFacts(elf: ElfFile): ElfFacts {
  const vars = new Map<string, { value: number; hidden: boolean }>();
  const hiddenFunctions = new Set<string>();
  const text = elf.sections.find((s) => s.name === '.text')?.index;
  for (const s of elf.symbols) {
    if (s.type === STT_OBJECT && (s.bind === STB_GLOBAL || s.bind === STB_WEAK) && !vars.has(s.name)) {
      vars.set(s.name, { value: Number(s.value), hidden: hiddenVis(s.visibility) });
    }
    if (s.type === STT_FUNC && s.shndx === text && s.bind !== STB_LOCAL && hiddenVis(s.visibility)) {
      hiddenFunctions.add(s.name);
    }
  }
  return {
    sectionSize: (name) => elf.sections.find((s) => s.name === name)?.size,
    varSymbol: (name) => vars.get(name),
    hiddenFunctions,
  };
}

/** One change made to a type, for the trace. */
export interface BtfChange {
  typeId: number;
  what: string;
}

/**
 * The object's types with DATASEC sizes and offsets filled in, VARs and `.text` FUNCs of hidden
 * symbols made static, and each DATASEC's variables sorted by offset (the kernel requires it).
 * `.kconfig` and `.ksyms` are left to extern resolution.
 */
export function fixupBtf(btf: Btf, facts: ElfFacts, changes: BtfChange[] = []): Type[] {
  // The parsed types are the Btf's cache: copy a type before changing it.
  const types: Type[] = [...btf.types()];
  const first = btf.firstTypeId;
  for (let i = 0; i < types.length; i++) {
    const t = types[i]!;
    if (t.kind === 'FUNC' && t.linkage === FuncLinkage.GLOBAL && facts.hiddenFunctions.has(t.name)) {
      types[i] = { ...t, linkage: FuncLinkage.STATIC };
      changes.push({ typeId: t.id, what: `FUNC '${t.name}' linkage global → static (hidden symbol)` });
      continue;
    }
    if (t.kind !== 'DATASEC') continue;
    const ds = { ...t, vars: t.vars.map((v) => ({ ...v })) };
    types[i] = ds;
    if (t.name === '.kconfig' || t.name === '.ksyms') {
      ds.vars.sort((a, b) => a.offset - b.offset);
      continue;
    }
    const loc = { section: t.name, typeId: t.id };
    let fixOffsets = false;
    if (ds.size === 0) {
      const size = facts.sectionSize(t.name);
      if (!size) throw new BtfError(`DATASEC '${t.name}': cannot find the size of its ELF section`, loc);
      ds.size = size;
      fixOffsets = true;
      changes.push({ typeId: t.id, what: `DATASEC '${t.name}' size 0 → ${size}` });
    }
    for (const v of ds.vars) {
      const tv = types[v.type - first];
      if (tv?.kind !== 'VAR') throw new BtfError(`DATASEC '${t.name}' has a non-VAR member [${v.type}]`, loc);
      if (tv.linkage === VarLinkage.STATIC || tv.linkage === VarLinkage.GLOBAL_EXTERN) continue;
      const sym = facts.varSymbol(tv.name);
      if (sym === undefined)
        throw new BtfError(`DATASEC '${t.name}': no ELF symbol for VAR '${tv.name}'`, loc);
      if (fixOffsets && v.offset !== sym.value) {
        changes.push({ typeId: t.id, what: `VAR '${tv.name}' offset ${v.offset} → ${sym.value}` });
        v.offset = sym.value;
      }
      if (sym.hidden) {
        types[v.type - first] = { ...tv, linkage: VarLinkage.STATIC };
        changes.push({ typeId: tv.id, what: `VAR '${tv.name}' linkage global → static (hidden symbol)` });
      }
    }
    ds.vars.sort((a, b) => a.offset - b.offset);
  }
  return types;
}
