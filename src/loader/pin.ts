// Maps pinned by name: an existing pin is reused only when it matches the definition; otherwise
// the load stops with the differences, never silently using a map of another shape.
import { mapTypeName } from '../constants.js';
import type { MapSpec } from '../object/index.js';

/** The fields of a kernel map that must match (libbpf's map_is_reuse_compat). */
export interface MapShape {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  mapExtra: bigint;
}

/** `Field: pinned changed to wanted` for every field that differs; empty when compatible. */
export function mapDifferences(pinned: MapShape, wanted: MapShape): string[] {
  const out: string[] = [];
  const cmp = (
    field: string,
    a: number | bigint,
    b: number | bigint,
    show: (v: number | bigint) => string = String,
  ): void => {
    if (a !== b) out.push(`${field}: ${show(a)} changed to ${show(b)}`);
  };
  cmp('Type', pinned.type, wanted.type, (v) => mapTypeName(Number(v)));
  cmp('KeySize', pinned.keySize, wanted.keySize);
  cmp('ValueSize', pinned.valueSize, wanted.valueSize);
  cmp('MaxEntries', pinned.maxEntries, wanted.maxEntries);
  cmp('Flags', pinned.flags, wanted.flags, (v) => `0x${v.toString(16)}`);
  cmp('MapExtra', pinned.mapExtra, wanted.mapExtra);
  return out;
}

export function shapeOf(spec: MapSpec, maxEntries: number): MapShape {
  return {
    type: spec.type,
    keySize: spec.keySize,
    valueSize: spec.valueSize,
    maxEntries,
    flags: spec.flags,
    mapExtra: spec.mapExtra,
  };
}
