// Map probes: names, flags, map types and map commands; and BPF_TOKEN_CREATE.
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, MapType, mapTypeName } from '../constants.js';
import { mapCreate, mapFreeze, mapLookupBatch, objName, tokenCreate } from '../sys/bpf.js';
import type { MapCreateAttr } from '../sys/bpf-attr.generated.js';
import { pageSize } from '../sys/mmap.js';
import { E } from '../sys/errno.js';
import { attempt } from './attempt.js';
import { feature, type Feature } from './feature.js';
import { checkArgument } from '../internal/options.js';

const array = (extra: MapCreateAttr = {}): MapCreateAttr => ({
  map_type: MapType.ARRAY,
  key_size: 4,
  value_size: 4,
  max_entries: 1,
  ...extra,
});

export const MAP_NAME = feature('map names', '4.15', () =>
  attempt(() => mapCreate(array({ map_name: objName('feature_probe') }))),
);

export const BPF_F_RDONLY_PROG_FLAG = feature('BPF_F_RDONLY_PROG', '5.2', () =>
  attempt(() => mapCreate(array({ map_flags: BPF_F_RDONLY_PROG }))),
);

export const MAP_FREEZE = feature('BPF_MAP_FREEZE of array maps', '5.2', () =>
  attempt(() => {
    const m = mapCreate(array());
    try {
      mapFreeze(m.fd);
    } finally {
      m.close();
    }
  }),
);

export const BPF_F_MMAPABLE_FLAG = feature('BPF_F_MMAPABLE array maps', '5.5', () =>
  attempt(() => mapCreate(array({ map_flags: BPF_F_MMAPABLE }))),
);

export const MAP_BATCH = feature('BPF_MAP_LOOKUP_BATCH', '5.6', () =>
  attempt(() => {
    const m = mapCreate({ map_type: MapType.HASH, key_size: 4, value_size: 4, max_entries: 1 });
    try {
      mapLookupBatch(m.fd, {
        outBatch: new Uint8Array(4),
        keys: new Uint8Array(4),
        values: new Uint8Array(4),
        count: 1,
      });
    } finally {
      m.close();
    }
  }),
);

/** Minimal attributes that create a map of each simple type. */
function minimalMap(type: number): MapCreateAttr {
  switch (type) {
    case MapType.RINGBUF:
    case MapType.USER_RINGBUF:
      return { map_type: type, max_entries: pageSize() };
    case MapType.QUEUE:
    case MapType.STACK:
      return { map_type: type, value_size: 4, max_entries: 1 };
    case MapType.BLOOM_FILTER:
      return { map_type: type, value_size: 4, max_entries: 1 };
    case MapType.LPM_TRIE:
      return {
        map_type: type,
        key_size: 8,
        value_size: 4,
        max_entries: 1,
        map_flags: 1 /* BPF_F_NO_PREALLOC */,
      };
    case MapType.PERF_EVENT_ARRAY:
    case MapType.PROG_ARRAY:
    case MapType.CGROUP_ARRAY:
    case MapType.DEVMAP:
    case MapType.CPUMAP:
    case MapType.XSKMAP:
    case MapType.SOCKMAP:
      return { map_type: type, key_size: 4, value_size: 4, max_entries: 1 };
    case MapType.ARENA:
      // An arena takes no flags but these (BPF_F_NO_PREALLOC is EINVAL).
      return { map_type: type, max_entries: 1, map_flags: BPF_F_MMAPABLE };
    default:
      return { map_type: type, key_size: 4, value_size: 4, max_entries: 1 };
  }
}

const mapTypes = new Map<number, Feature>();

/**
 * The probe for one map type, made on first request. `version` is the kernel release that brought
 * the type (for messages); it may be left out for a type already probed or predefined here.
 */
export function mapTypeFeature(type: number, version?: string): Feature {
  checkArgument(
    'mapTypeFeature',
    'type',
    type,
    'a map type (MapType)',
    Number.isInteger(type) && type >= 0 && type <= 0xffffffff,
  );
  let f = mapTypes.get(type);
  // The version is needed only for a type no probe exists for yet (the known ones carry theirs).
  if (f === undefined || version !== undefined)
    checkArgument(
      'mapTypeFeature',
      'version',
      version,
      'a kernel version string',
      typeof version === 'string',
    );
  if (f === undefined) {
    f = feature(mapTypeName(type), version!, () => attempt(() => mapCreate(minimalMap(type))));
    mapTypes.set(type, f);
  }
  return f;
}

/** The probe of a map type declared below (with the version that brought it), if any. */
export function knownMapTypeFeature(type: number): Feature | undefined {
  return mapTypes.get(type);
}

export const RINGBUF = mapTypeFeature(MapType.RINGBUF, '5.8');
export const ARENA = mapTypeFeature(MapType.ARENA, '6.9');
export const USER_RINGBUF = mapTypeFeature(MapType.USER_RINGBUF, '6.1');
export const BLOOM_FILTER = mapTypeFeature(MapType.BLOOM_FILTER, '5.16');
export const LRU_HASH = mapTypeFeature(MapType.LRU_HASH, '4.10');
export const QUEUE = mapTypeFeature(MapType.QUEUE, '4.20');

/**
 * BPF tokens (BPF_TOKEN_CREATE): asked with no descriptor, a kernel that has the command says
 * EBADF; older ones do not know it (EINVAL).
 */
export const TOKEN = feature('BPF tokens (BPF_TOKEN_CREATE)', '6.9', () =>
  attempt(() => tokenCreate(-1), { alsoYes: [E.EBADF] }),
);
