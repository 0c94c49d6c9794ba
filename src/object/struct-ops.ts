// struct_ops maps: each variable of a `.struct_ops` / `.struct_ops.link` section is a map of type
// BPF_MAP_TYPE_STRUCT_OPS whose function-pointer members name programs through relocations.
import type { Btf } from '../btf/btf.js';
import { BPF_F_LINK, MapType } from '../constants.js';
import { STT_SECTION, type ElfFile, type ElfSection } from '../elf/index.js';
import type { Location } from '../errors.js';
import { MapDefinitionError, RelocationError } from './errors.js';
import type { MapSpec } from './spec.js';

export function isStructOpsSection(name: string): boolean {
  const n = name.startsWith('?') ? name.slice(1) : name;
  return n === '.struct_ops' || n === '.struct_ops.link';
}

export function structOpsMaps(
  elf: ElfFile,
  btf: Btf | undefined,
  section: ElfSection,
  location: Location,
): MapSpec[] {
  const loc: Location = { ...location, section: section.name };
  if (btf === undefined)
    throw new MapDefinitionError('struct_ops section needs BTF, and the object has none', loc);
  // libbpf names the DATASEC of a '?'-prefixed section with '_' instead.
  const dsName = section.name.replace(/^\?/, '_');
  const datasec = btf.findByKind('DATASEC').find((d) => d.name === section.name || d.name === dsName);
  if (datasec === undefined) throw new MapDefinitionError(`DATASEC '${section.name}' not found in BTF`, loc);
  const link = section.name.endsWith('.link');
  const data = section.data();
  const syms = elf.symbolsIn(section.index);
  const relocs = elf.relocationSections.find((r) => r.target.index === section.index)?.relocations ?? [];
  const out: MapSpec[] = [];
  for (const vi of datasec.vars) {
    const v = btf.type(vi.type);
    if (v.kind !== 'VAR') throw new MapDefinitionError(`unexpected ${v.kind} in struct_ops DATASEC`, loc);
    const where: Location = { ...loc, map: v.name };
    const t = btf.resolve(v.type);
    if (t.kind !== 'STRUCT')
      throw new MapDefinitionError(`struct_ops variable is a ${t.kind}, not a struct`, where);
    const sym = syms.find((s) => s.name === v.name && s.type !== STT_SECTION);
    const offset = datasec.size === 0 ? Number(sym?.value ?? -1) : vi.offset;
    if (offset < 0 || offset + vi.size > data.length) {
      throw new MapDefinitionError('struct_ops variable lies outside its section', where);
    }
    const programs = new Map<string, string>();
    for (const rel of relocs) {
      if (rel.offset < offset || rel.offset >= offset + vi.size) continue;
      const target = elf.symbol(rel.symbol);
      const member = t.members.find((m) => m.bitsOffset / 8 === rel.offset - offset);
      if (target === undefined || member === undefined) {
        throw new RelocationError(`relocation at ${rel.offset} matches no member`, {
          ...where,
          offset: rel.offset,
        });
      }
      programs.set(member.name, target.name);
    }
    out.push({
      name: v.name,
      source: 'struct_ops',
      sectionName: section.name,
      type: MapType.STRUCT_OPS,
      keySize: 4,
      valueSize: vi.size,
      maxEntries: 1,
      flags: link ? BPF_F_LINK : 0,
      numaNode: 0,
      pinning: 0,
      mapExtra: 0n,
      keyTypeId: 0,
      valueTypeId: v.type,
      contents: data.slice(offset, offset + vi.size),
      structOps: { typeName: t.name, programs },
    });
  }
  return out;
}
