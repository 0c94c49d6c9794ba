// Legacy map definitions in SEC("maps"): libbpf's old `struct bpf_map_def` (5 x u32) and
// iproute2's `struct bpf_elf_map` (9 x u32: adds id, pinning, inner_id, inner_idx), told apart by
// the size of each definition (symbol size, or section size ÷ number of map symbols).
import { STT_OBJECT, STT_NOTYPE, type ElfFile, type ElfSection } from '../elf/index.js';
import type { Location } from '../errors.js';
import { MapType } from '../constants.js';
import { MapDefinitionError } from './errors.js';
import type { MapSpec } from './spec.js';

/** sizeof(struct bpf_map_def): type, key_size, value_size, max_entries, map_flags. */
export const BPF_MAP_DEF_SIZE = 20;
/** sizeof(iproute2's struct bpf_elf_map). */
export const BPF_ELF_MAP_SIZE = 36;

/** iproute2's pinning values. */
export const PIN_NONE = 0;
export const PIN_OBJECT_NS = 1;
export const PIN_GLOBAL_NS = 2;

export interface LegacyMapDef {
  spec: MapSpec;
  offset: number;
}

export function parseLegacyMaps(elf: ElfFile, section: ElfSection, location: Location = {}): LegacyMapDef[] {
  const loc: Location = { ...location, section: section.name };
  const syms = elf
    .symbolsIn(section.index)
    .filter((s) => s.type === STT_OBJECT || (s.type === STT_NOTYPE && s.name !== ''))
    .sort((a, b) => Number(a.value - b.value));
  const data = section.data();
  if (syms.length === 0) return [];
  if (data.length === 0 || data.length % syms.length !== 0) {
    throw new MapDefinitionError(
      `unable to determine map definition size: section size ${data.length}, ${syms.length} maps`,
      loc,
    );
  }
  const defaultSize = data.length / syms.length;
  const r = elf.sectionReader(section);
  const out: LegacyMapDef[] = [];
  for (const sym of syms) {
    const offset = Number(sym.value);
    const size = sym.size > 0n ? Number(sym.size) : defaultSize;
    const where: Location = { ...loc, map: sym.name, offset };
    if (size < 16 || offset + size > data.length) {
      throw new MapDefinitionError(`definition of ${size} bytes does not fit the section`, where);
    }
    const u32 = (i: number): number => (i * 4 + 4 <= size ? r.u32(offset + i * 4) : 0);
    const spec: MapSpec = {
      name: sym.name,
      source: 'legacy',
      sectionName: section.name,
      type: u32(0),
      keySize: u32(1),
      valueSize: u32(2),
      maxEntries: u32(3),
      flags: u32(4),
      numaNode: 0,
      pinning: 0,
      mapExtra: 0n,
      keyTypeId: 0,
      valueTypeId: 0,
    };
    if (size >= BPF_ELF_MAP_SIZE) {
      // iproute2 layout: pinning 1 and 2 both pin by name (in the object's or the global directory).
      const pinning = u32(6);
      spec.pinning = pinning === PIN_NONE ? 0 : 1;
      spec.legacy = { id: u32(5), innerId: u32(7), innerIdx: u32(8), pinning };
    }
    if (spec.type === MapType.UNSPEC) throw new MapDefinitionError("map type isn't specified", where);
    out.push({ spec, offset });
  }
  // iproute2 map-in-map: the outer's inner_id names the template map with that id.
  for (const { spec } of out) {
    const innerId = spec.legacy?.innerId ?? 0;
    if (innerId === 0 || (spec.type !== MapType.ARRAY_OF_MAPS && spec.type !== MapType.HASH_OF_MAPS))
      continue;
    const inner = out.find((m) => m.spec.legacy?.id === innerId && m.spec !== spec);
    if (inner === undefined) {
      throw new MapDefinitionError(`inner map with id ${innerId} not found`, { ...loc, map: spec.name });
    }
    spec.inner = { ...inner.spec, name: `${spec.name}.inner` };
  }
  return out;
}
