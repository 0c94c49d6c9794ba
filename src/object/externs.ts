// Extern variables and functions (`__kconfig`, `__ksym`) as libbpf collects them when it opens an
// object: which BTF type each is, how a `.kconfig` value is stored, and the `.kconfig` map layout.
import type { Btf } from '../btf/btf.js';
import type { Type } from '../btf/types.js';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType } from '../constants.js';
import type { Location } from '../errors.js';
import { SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_NOTYPE, type ElfFile } from '../elf/index.js';
import { ObjectError } from './errors.js';
import { internalMapName } from './globals.js';
import type { ExternSpec, KconfigType, MapSpec } from './spec.js';

/** BTF_INT_SIGNED and BTF_INT_BOOL in an INT's encoding. */
const BTF_INT_SIGNED = 1;
const BTF_INT_BOOL = 4;

/** libbpf's find_kcfg_type: the storage kind of a `.kconfig` extern's type, or undefined. */
function kconfigType(btf: Btf, id: number): { type: KconfigType; signed: boolean } | undefined {
  const t = btf.resolve(id);
  switch (t.kind) {
    case 'INT':
      if ((t.encoding & BTF_INT_BOOL) !== 0)
        return t.size === 1 ? { type: 'bool', signed: false } : undefined;
      if (t.size === 1) return { type: 'char', signed: (t.encoding & BTF_INT_SIGNED) !== 0 };
      if (t.size < 1 || t.size > 8 || (t.size & (t.size - 1)) !== 0) return undefined;
      return { type: 'int', signed: (t.encoding & BTF_INT_SIGNED) !== 0 };
    case 'ENUM':
    case 'ENUM64':
      if (t.name !== 'libbpf_tristate' || (t.kind === 'ENUM' && t.size !== 4)) return undefined;
      return { type: 'tristate', signed: false };
    case 'ARRAY':
      if (t.nelems === 0 || kconfigType(btf, t.type)?.type !== 'char') return undefined;
      return { type: 'char_array', signed: false };
    default:
      return undefined;
  }
}

/** libbpf's extern order: `.kconfig` before `.ksyms`; kconfig by alignment down, then size up; then name. */
function compareExterns(a: ExternSpec, b: ExternSpec): number {
  if (a.kind !== b.kind) return a.kind === 'kconfig' ? -1 : 1;
  if (a.kconfig !== undefined && b.kconfig !== undefined) {
    if (a.kconfig.align !== b.kconfig.align) return b.kconfig.align - a.kconfig.align;
    if (a.kconfig.size !== b.kconfig.size) return a.kconfig.size - b.kconfig.size;
  }
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The DATASEC that lists a variable or function (by type id), as libbpf's find_extern_sec_btf_id. */
function datasecOf(btf: Btf, id: number): (Type & { kind: 'DATASEC' }) | undefined {
  return btf.findByKind('DATASEC').find((d) => d.vars.some((v) => v.type === id));
}

export interface Externs {
  /** In libbpf's order (kconfig first, laid out). */
  externs: ExternSpec[];
  /** libbpf's internal `<obj>.kconfig` map, when the object has `.kconfig` externs. */
  kconfigMap: MapSpec | undefined;
}

/**
 * Every extern symbol of the object (undefined, global or weak, no type), with its BTF, in
 * libbpf's order, and `.kconfig` values laid out as libbpf lays them out.
 */
export function collectExterns(
  elf: ElfFile,
  btf: Btf | undefined,
  objectName: string,
  loc: Location,
): Externs {
  const syms = elf.symbols.filter(
    (s) =>
      s.shndx === SHN_UNDEF &&
      (s.bind === STB_GLOBAL || s.bind === STB_WEAK) &&
      s.type === STT_NOTYPE &&
      s.name !== '',
  );
  if (syms.length === 0) return { externs: [], kconfigMap: undefined };
  if (btf === undefined) {
    throw new ObjectError(`extern '${syms[0]!.name}' needs BTF, and the object has none`, {
      ...loc,
      section: '.symtab',
    });
  }
  const externs: ExternSpec[] = [];
  let kconfigSec: number | undefined;
  for (const sym of syms) {
    const at: Location = { ...loc, section: '.symtab' };
    const t = btf.findByName(sym.name).find((x) => x.kind === 'VAR' || x.kind === 'FUNC');
    if (t === undefined) throw new ObjectError(`failed to find BTF for extern '${sym.name}'`, at);
    const sec = datasecOf(btf, t.id);
    if (sec === undefined) {
      throw new ObjectError(`failed to find BTF DATASEC for extern '${sym.name}'`, { ...at, typeId: t.id });
    }
    const where: Location = { ...at, section: sec.name, typeId: t.id };
    const weak = sym.bind === STB_WEAK;
    if (t.kind !== 'VAR' && t.kind !== 'FUNC') continue;
    if (sec.name === '.kconfig') {
      if (t.kind !== 'VAR') throw new ObjectError(`extern (kcfg) '${sym.name}' is not a variable`, where);
      const kind = kconfigType(btf, t.type);
      if (kind === undefined)
        throw new ObjectError(`extern (kcfg) '${sym.name}': type is unsupported`, where);
      kconfigSec = sec.id;
      externs.push({
        name: sym.name,
        kind: 'kconfig',
        weak,
        btfId: t.id,
        kconfig: { ...kind, size: btf.sizeof(t.type), align: btf.alignof(t.type), offset: 0 },
      });
    } else if (sec.name === '.ksyms') {
      const resolved = btf.resolve(t.type);
      externs.push({
        name: sym.name,
        kind: 'ksym',
        weak,
        btfId: t.id,
        ksym: { func: t.kind === 'FUNC', typeId: resolved.id },
      });
    } else {
      throw new ObjectError(`unrecognized extern section '${sec.name}'`, where);
    }
  }
  externs.sort(compareExterns);
  let end = 0;
  for (const e of externs) {
    if (e.kconfig === undefined) continue;
    e.kconfig.offset = Math.ceil(end / e.kconfig.align) * e.kconfig.align;
    end = e.kconfig.offset + e.kconfig.size;
  }
  if (kconfigSec === undefined) return { externs, kconfigMap: undefined };
  const kconfigMap: MapSpec = {
    name: internalMapName(objectName, '.kconfig'),
    source: 'kconfig',
    sectionName: '.kconfig',
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: end,
    maxEntries: 1,
    // Externs are not static, so libbpf makes the map mmapable as well as read-only for programs.
    flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
    numaNode: 0,
    pinning: 0,
    mapExtra: 0n,
    keyTypeId: 0,
    valueTypeId: kconfigSec,
    contents: new Uint8Array(end),
  };
  return { externs, kconfigMap };
}
