// The shapes of everything a loaded object hands to JS: each map's keys and values as its BpfMap
// decodes them, each global-data section's variables as its Globals view does, its programs.
import { createHash } from 'node:crypto';
import { cSpelling, typeByCName } from '../btf/c-name.js';
import { NotFoundError } from '../errors.js';
import type { MapSpec, ObjectSpec } from '../object/spec.js';
import { bytesShape, shapeOf, slotShape, type Shape } from './shape.js';
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

/** A type asked for by name (`--type event`): what LoadedObject.codec(name) decodes records to. */
export interface RecordShape {
  /** The name as asked (`event`, `struct event`), the key of LoadedObject.codec. */
  name: string;
  /** How C spells the type found. */
  cname: string;
  typeId: number;
  size: number;
  shape: Shape;
}

export interface ObjectShapes {
  name: string;
  maps: MapShape[];
  sections: SectionShape[];
  programs: ProgramShape[];
  records: RecordShape[];
}

export interface ObjectShapesOptions {
  /**
   * C type names to describe as records (`event`, `struct event`, a typedef). A name the object's
   * BTF lacks is a NotFoundError that says why (see typeByCName).
   */
  records?: readonly string[];
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

/** `struct  event ` → `struct event`: the key a record is known by. */
export function recordKey(name: string): string {
  return name.trim().replace(/\s+/g, ' ');
}

/** The shapes of the record types `names`, resolved as C names against the object's BTF. */
export function recordShapes(spec: ObjectSpec, names: readonly string[]): RecordShape[] {
  const out: RecordShape[] = [];
  for (const asked of names) {
    const name = recordKey(asked);
    if (out.some((r) => r.name === name)) continue;
    const where = spec.file !== undefined ? { file: spec.file } : {};
    if (spec.btf === undefined) {
      throw new NotFoundError(`no ${name} in BTF: the object has no BTF (compile with -g)`, where);
    }
    const lines = [...(spec.btfExt?.lineInfo.values() ?? [])].flat();
    const t = typeByCName(spec.btf, name, { lines, ...where });
    const { shape, size } = shapeOf(spec.btf, t.id);
    out.push({ name, cname: cSpelling(t), typeId: t.id, size, shape });
  }
  return out;
}

/** Everything an ObjectSpec gives JS once loaded, as shapes. */
export function objectShapes(spec: ObjectSpec, opts: ObjectShapesOptions = {}): ObjectShapes {
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
    records: recordShapes(spec, opts.records ?? []),
  };
}

/** The parts of an object a generated module is checked against (see shapesFingerprint). */
export const FINGERPRINT_PARTS = ['maps', 'sections', 'programs', 'records'] as const;
export type FingerprintPart = (typeof FINGERPRINT_PARTS)[number];

/**
 * A short hash of each part of the shapes — what the generated types promise, without BTF ids —
 * as `maps:1a2b3c4d sections:... programs:... records:...`. Objects built from one source for
 * either endianness agree; a changed map, variable, program or record type changes its part.
 */
export function shapesFingerprint(shapes: ObjectShapes): string {
  const strip = (_k: string, v: unknown): unknown =>
    _k === 'typeId' ? undefined : typeof v === 'bigint' ? v.toString() : v;
  return FINGERPRINT_PARTS.map((part) => {
    const data =
      part === 'programs' ? shapes.programs.map((p) => [p.name, p.type, p.autoload]) : shapes[part];
    const h = createHash('sha256').update(JSON.stringify(data, strip)).digest('hex').slice(0, 12);
    return `${part}:${h}`;
  }).join(' ');
}
