// Global variables of a loaded object (`obj.bss.counter`): the spec's view, but over the kernel's
// data map, in its mmap'd memory (BPF_F_MMAPABLE) or through lookups and updates where it has none.
import { EbpfError, type Location } from '../errors.js';
import type { BpfMap } from '../map/map.js';
import { MapType } from '../constants.js';
import { variableAccess, type VariableAccess } from '../map/variables.js';
import { globalsMap, globalsView, globalVariables, type GlobalAccess } from '../object/globals-view.js';
import type { Globals, ObjectSpec } from '../object/spec.js';

/**
 * The variables of `section` in the loaded map `mapOf` gives for its name. Reads show what the
 * programs wrote; writes go to the map at once. `.rodata*` is frozen at load, so assigning there
 * throws (set it on the ObjectSpec before loading instead).
 */
export function loadedGlobals<T extends object = Record<string, unknown>>(
  spec: ObjectSpec,
  mapOf: (name: string) => BpfMap,
  section: string,
  arenaGlobalsOffset = 0,
): Globals<T> {
  const m = globalsMap(spec, section);
  const where: Location = { section, map: m.name, ...(spec.file !== undefined ? { file: spec.file } : {}) };
  const map = mapOf(m.name);
  const live = m.type === MapType.ARENA ? arenaAccess(map, arenaGlobalsOffset) : variableAccess(map);
  const frozen = m.source === 'rodata';
  const access: GlobalAccess = {
    read: (v) => live.read(v),
    write(v, x) {
      if (frozen) {
        const view = section === '.rodata' ? 'spec.rodata' : `spec.globals('${section}')`;
        throw new EbpfError(
          `variable '${v.name}' is read-only: ${section} was frozen at load (BPF_MAP_FREEZE); ` +
            `set it before loading (${view}.${v.name} = ...)`,
          { ...where, offset: v.offset },
        );
      }
      live.write(v, x);
    },
  };
  return globalsView<T>(section, globalVariables(spec, section), access, where);
}

/** `__arena` globals: in the arena's memory, from where the loader put them. */
function arenaAccess(map: BpfMap, base: number): VariableAccess {
  let view: DataView | undefined;
  const mem = (): DataView => {
    if (!view || view.buffer.byteLength === 0) view = new DataView(map.memory(), base);
    return view;
  };
  return {
    read: (v) => v.codec.decodeView(mem(), v.offset),
    write: (v, x) => v.codec.encodeView(x, mem(), v.offset),
  };
}
