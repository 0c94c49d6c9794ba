// The shapes of everything a loaded object hands to JS: each map's keys and values as its BpfMap
// decodes them, each global-data section's variables as its Globals view does, its programs.
import type { MapSpec, ObjectSpec } from '../object/spec.js';
import { bytesShape, slotShape, type Shape } from './shape.js';
import {
  FD_VALUE_MAP_TYPES,
  MAP_TYPES_REFUSING_BTF,
  MAP_TYPES_WITHOUT_BTF,
  PERCPU_MAP_TYPES,
} from '../map-traits.js';

export interface MapShape {
  name: string;
  /** BPF_MAP_TYPE_*. */
  type: number;
  key: Shape;
  value: Shape;
}

export interface SectionShape {
  /** The ELF section: `.rodata`, `.data.custom`. */
  section: string;
  /** The data map holding it. */
  map: string;
  /** Variables a Globals view exposes (global ones, in section order). */
  variables: { name: string; shape: Shape }[];
}

export interface ProgramShape {
  name: string;
  section: string;
  type: number;
  /** False for `SEC("?...")` programs, which are loaded only when asked. */
  autoload: boolean;
}

export interface ObjectShapes {
  name: string;
  maps: MapShape[];
  sections: SectionShape[];
  programs: ProgramShape[];
}

const isGlobalsMap = (m: MapSpec): boolean =>
  m.source === 'data' || m.source === 'rodata' || m.source === 'bss';

/** The key and value shapes of one map, as LoadedObject.map(name) decodes them. */
export function mapShape(spec: Pick<ObjectSpec, 'btf'>, m: MapSpec): MapShape {
  // The kernel map gets BTF ids only when created with them; BpfMap then types through the object's BTF.
  const withBtf =
    spec.btf !== undefined &&
    m.structOps === undefined &&
    !MAP_TYPES_WITHOUT_BTF.has(m.type) &&
    !MAP_TYPES_REFUSING_BTF.has(m.type) &&
    (m.keyTypeId !== 0 || m.valueTypeId !== 0);
  const btf = withBtf ? spec.btf : undefined;
  const key = slotShape(btf, m.keyTypeId, m.keySize);
  let value: Shape = FD_VALUE_MAP_TYPES.has(m.type)
    ? { kind: 'number' }
    : slotShape(btf, m.valueTypeId, m.valueSize);
  if (PERCPU_MAP_TYPES.has(m.type)) value = { kind: 'perCpu', value };
  return { name: m.name, type: m.type, key, value };
}

/** Everything an ObjectSpec gives JS once loaded, as shapes. */
export function objectShapes(spec: ObjectSpec): ObjectShapes {
  const sections: SectionShape[] = [];
  for (const m of spec.maps) {
    if (!isGlobalsMap(m)) continue;
    const vars = [...spec.variables.values()]
      .filter((v) => v.sectionName === m.sectionName && v.global)
      .sort((a, b) => a.offset - b.offset);
    sections.push({
      section: m.sectionName,
      map: m.name,
      variables: vars.map((v) => ({
        name: v.name,
        shape: spec.btf === undefined ? bytesShape(v.size) : slotShape(spec.btf, v.typeId, v.size),
      })),
    });
  }
  return {
    name: spec.name,
    maps: spec.maps.map((m) => mapShape(spec, m)),
    sections,
    programs: spec.programs.map((p) => ({
      name: p.name,
      section: p.sectionName,
      type: p.type,
      autoload: p.autoload,
    })),
  };
}
