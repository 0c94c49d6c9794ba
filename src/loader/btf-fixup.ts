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
import type { ExternSpec } from '../object/index.js';

type Datasec = Type & { kind: 'DATASEC' };

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
 * `.kconfig` and `.ksyms` are laid out as libbpf lays out externs (fixupKconfig, fixupKsyms); a
 * type libbpf adds (`dummy_ksym`) is appended.
 */
export function fixupBtf(
  btf: Btf,
  facts: ElfFacts,
  changes: BtfChange[] = [],
  externs: readonly ExternSpec[] = [],
): Type[] {
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
      if (t.name === '.kconfig') fixupKconfig(ds, types, first, externs, changes);
      else fixupKsyms(ds, types, first, changes);
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

/** `.kconfig`: the extern layout of the object step (offsets, size) and allocated linkage. */
function fixupKconfig(
  ds: Datasec,
  types: Type[],
  first: number,
  externs: readonly ExternSpec[],
  changes: BtfChange[],
): void {
  let end = 0;
  for (const v of ds.vars) {
    const tv = types[v.type - first];
    if (tv?.kind !== 'VAR') continue;
    const k = externs.find((e) => e.name === tv.name)?.kconfig;
    if (k === undefined) {
      throw new BtfError(`failed to find extern definition for BTF var '${tv.name}'`, { typeId: tv.id });
    }
    types[v.type - first] = { ...tv, linkage: VarLinkage.GLOBAL_ALLOCATED };
    v.offset = k.offset;
    end = Math.max(end, k.offset + k.size);
  }
  // The map's size: the end of the last value in libbpf's order.
  for (const e of externs) if (e.kconfig) end = Math.max(end, e.kconfig.offset + e.kconfig.size);
  ds.size = end;
  changes.push({
    typeId: ds.id,
    what: `DATASEC '.kconfig' laid out: ${ds.vars.length} externs in ${end} bytes`,
  });
}

/**
 * `.ksyms`: the kernel accepts only allocated VARs in a DATASEC, so, as libbpf, every extern
 * becomes a 4-byte slot: variables turn into allocated `int`s, functions are replaced in the
 * DATASEC by one added VAR `dummy_ksym` (their FUNC made global, unnamed parameters named
 * after it).
 */
function fixupKsyms(ds: Datasec, types: Type[], first: number, changes: BtfChange[]): void {
  const intId = types.find((t) => t.kind === 'INT' && t.bits === 32)?.id ?? 0;
  let dummy = 0;
  if (ds.vars.some((v) => types[v.type - first]?.kind === 'FUNC')) {
    dummy = first + types.length;
    types.push({
      kind: 'VAR',
      id: dummy,
      name: 'dummy_ksym',
      type: intId,
      linkage: VarLinkage.GLOBAL_ALLOCATED,
    });
    changes.push({ typeId: dummy, what: `VAR 'dummy_ksym' added for the functions in '.ksyms'` });
  }
  ds.vars.forEach((v, i) => {
    const t = types[v.type - first];
    if (t?.kind === 'FUNC') {
      const proto = types[t.type - first];
      if (proto?.kind === 'FUNC_PROTO' && proto.params.some((p) => p.type !== 0 && p.name === '')) {
        types[proto.id - first] = {
          ...proto,
          params: proto.params.map((p) => (p.type !== 0 && p.name === '' ? { ...p, name: 'dummy_ksym' } : p)),
        };
      }
      types[v.type - first] = { ...t, linkage: FuncLinkage.GLOBAL };
      v.type = dummy;
    } else if (t?.kind === 'VAR') {
      types[v.type - first] = { ...t, linkage: VarLinkage.GLOBAL_ALLOCATED, type: intId };
    }
    v.offset = i * 4;
    v.size = 4;
  });
  ds.size = ds.vars.length * 4;
  changes.push({ typeId: ds.id, what: `DATASEC '.ksyms': ${ds.vars.length} externs as 4-byte slots` });
}
