// The load test/pin-crash.test.ts kills part-way: testdata/events.c with two maps pinned by name
// (as LIBBPF_PIN_BY_NAME would), the others with pinMaps and its four programs with pinDir, each
// in a directory the load has to make.
import { join } from 'node:path';
import type { LoadOptions } from '../src/loader/index.js';
import { loadObjectSpec, type ObjectSpec } from '../src/object/index.js';

export const BY_NAME = ['ring', 'stats'];

export function crashSpec(object: string): ObjectSpec {
  const spec = loadObjectSpec(object);
  for (const m of spec.maps) if (BY_NAME.includes(m.name)) m.pinning = 1; // LIBBPF_PIN_BY_NAME
  return spec;
}

export function crashOptions(root: string): LoadOptions {
  return {
    pinRoot: join(root, 'byname'),
    pinMaps: join(root, 'maps', 'all'),
    pinDir: join(root, 'progs', 'all'),
  };
}
