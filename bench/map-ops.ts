// map-* benchmarks, our side: BpfMap on a BPF_MAP_TYPE_HASH of 2^20 entries (8-byte struct key,
// 16-byte value), in operations per second; same keys, order and samples as bench/c/map_ops.c.
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { flowBtf } from '../test/flow-btf.js';
import { MapType } from '../src/constants.js';
import { BatchCursor, BpfMap, type PackedEntries } from '../src/map/map.js';
import { btfLoad } from '../src/sys/bpf.js';
import { median, type Measurement, type TimeOptions } from './measure.js';

// Keep these in step with bench/c/map_ops.c.
const ENTRIES = 1 << 20;
/** Single-call operations per sample. */
const CHUNK = 1 << 16;
// Caps on iterations and warm-up so the five benchmarks stay near a minute on both sides.
const MAX_SINGLE_SAMPLES = 7;
const MAX_SINGLE_WARMUP = 1;
const MAX_WHOLE_SAMPLES = 3;
const MAX_WHOLE_WARMUP = 0;
/** map-iterate: one whole-map walk, timed in quarters. */
const ITERATE_PARTS = 4;
const ITERATE_PART = ENTRIES / ITERATE_PARTS;
const BATCH = 4096;
const KEY_SIZE = 8;
const VALUE_SIZE = 16;

interface FlowKey {
  saddr: number;
  daddr: number;
}
interface FlowStats {
  packets: bigint;
  bytes: bigint;
}

export interface MapOpsResult extends Measurement {
  name: string;
  unit: 'ops/s';
  /** Median operations per second over the timed samples (higher is better). */
  ours: number;
}

/** BTF for the map: struct flow_key { u32 saddr, daddr; }, struct flow_stats { u64 packets, bytes; }. */
function buildBtf(): { bytes: Uint8Array; key: number; value: number } {
  const { bytes, ids } = flowBtf();
  return { bytes, key: ids.key, value: ids.stats };
}

/** Keys and values in insertion order (host byte order, as C lays out the structs) and a shuffle. */
interface Data {
  keys: Uint32Array;
  values: Uint32Array;
  /** order[j]: the index of the j-th key in the random order. */
  order: Uint32Array;
  /** A hash of `order`, printed by both sides to show they use the same shuffle. */
  orderCheck: number;
}

function makeData(): Data {
  const keys = new Uint32Array(ENTRIES * 2);
  const values = new Uint32Array(ENTRIES * 4);
  const order = new Uint32Array(ENTRIES);
  for (let i = 0; i < ENTRIES; i++) {
    keys[2 * i] = i;
    keys[2 * i + 1] = Math.imul(i, 2654435761) >>> 0;
    values[4 * i] = i; // packets (high half zero)
    values[4 * i + 2] = i * 64; // bytes
    order[i] = i;
  }
  // xorshift32 with the C harness's seed: the same shuffle on both sides.
  let state = 0x9e3779b9;
  const rng = (): number => {
    let x = state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    state = x >>> 0;
    return state;
  };
  for (let i = ENTRIES - 1; i > 0; i--) {
    const j = rng() % (i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  let orderCheck = 0;
  for (let j = 0; j < ENTRIES; j++) orderCheck = (Math.imul(orderCheck, 31) + order[j]!) >>> 0;
  return { keys, values, order, orderCheck };
}

/** One Uint8Array per element over a contiguous copy, as a caller holding its keys would have. */
function views(src: Uint32Array, words: number, indices: Uint32Array | null, count = ENTRIES): Uint8Array[] {
  const bytes = new Uint8Array(count * words * 4);
  const u32 = new Uint32Array(bytes.buffer);
  const out = new Array<Uint8Array>(count);
  for (let j = 0; j < count; j++) {
    const i = indices ? indices[j]! : j;
    for (let w = 0; w < words; w++) u32[j * words + w] = src[i * words + w]!;
    out[j] = bytes.subarray(j * words * 4, (j + 1) * words * 4);
  }
  return out;
}

interface Setup {
  map: BpfMap<Uint8Array, Uint8Array>;
  data: Data;
  btfFd: { close(): void };
  fillMs: number;
}

/** Creates the map (with BTF, opened raw) and fills it with BPF_MAP_UPDATE_BATCH in 64k chunks. */
function setup(): Setup {
  const data = makeData();
  const btf = buildBtf();
  const btfFd = btfLoad(btf.bytes).fd;
  const map = BpfMap.create<Uint8Array, Uint8Array>({
    type: MapType.HASH,
    keySize: KEY_SIZE,
    valueSize: VALUE_SIZE,
    maxEntries: ENTRIES,
    name: 'bench_flows',
    btfFd,
    btfKeyTypeId: btf.key,
    btfValueTypeId: btf.value,
    btf: false,
  });
  const start = performance.now();
  const FILL = 1 << 16;
  for (let from = 0; from < ENTRIES; from += FILL) {
    const idx = new Uint32Array(FILL).map((_, j) => from + j);
    const k = views(data.keys, 2, idx, FILL);
    const v = views(data.values, 4, idx, FILL);
    map.updateBatch(k.map((key, j) => [key, v[j]!] as [Uint8Array, Uint8Array]));
  }
  return { map, data, btfFd, fillMs: performance.now() - start };
}

function teardown(s: Setup): void {
  s.map.close();
  s.btfFd.close();
}

/** The BTF-typed handle on the same map (a second descriptor, codecs from the kernel's BTF). */
function typed(s: Setup): BpfMap<FlowKey, FlowStats> {
  return BpfMap.fromId<FlowKey, FlowStats>(s.map.id);
}

function keyObject(d: Data, i: number): FlowKey {
  return { saddr: d.keys[2 * i]!, daddr: d.keys[2 * i + 1]! };
}

function valueObject(d: Data, i: number): FlowStats {
  return { packets: BigInt(d.values[4 * i]!), bytes: BigInt(d.values[4 * i + 2]!) };
}

/** CPU milliseconds of the whole process (all threads, so GC helpers count), user + system. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

interface Sampled {
  rate: number;
  wallRate: number;
  best: number;
  medianMs: number;
  iterations: number;
  ops: number;
}

/**
 * Median rate over samples of `op` (each returns how many operations it did), in process CPU time
 * as the C harness times it: on a shared machine that is what an idle one's wall clock shows.
 */
function sample(op: () => number, whole: boolean, opts: TimeOptions, maxSamples?: number): Sampled {
  const cap = maxSamples ?? (whole ? MAX_WHOLE_SAMPLES : MAX_SINGLE_SAMPLES);
  const iterations = Math.min(opts.iterations ?? 30, cap);
  const warmup = Math.min(opts.warmup ?? 3, whole ? MAX_WHOLE_WARMUP : MAX_SINGLE_WARMUP);
  for (let i = 0; i < warmup; i++) op();
  const ms: number[] = [];
  const walls: number[] = [];
  let ops = 0;
  for (let i = 0; i < iterations; i++) {
    const t = cpuMs();
    const w = performance.now();
    ops = op();
    walls.push(performance.now() - w);
    ms.push(cpuMs() - t);
  }
  ms.sort((a, b) => a - b);
  walls.sort((a, b) => a - b);
  const medianMs = median(ms);
  return {
    rate: ops / (medianMs / 1e3),
    wallRate: ops / (median(walls) / 1e3),
    best: ops / (ms[0]! / 1e3),
    medianMs,
    iterations,
    ops,
  };
}

/** Rate of one extra pass in CPU time (for the BTF-codec paths). */
function rateOf(op: () => number): number {
  const t = cpuMs();
  const n = op();
  return Math.round(n / ((cpuMs() - t) / 1e3));
}

/**
 * Heap bytes allocated per call of `call`, from the growth of V8's used heap over windows of
 * calls with no collection in between (a window with a scavenge shrinks and is dropped).
 * ArrayBuffer backing stores live outside the heap and are not counted.
 */
function heapBytesPerCall(call: (i: number) => void, calls: number): number {
  const WINDOW = 4096;
  const perWindow: number[] = [];
  for (let done = 0; done < calls; done += WINDOW) {
    const before = getHeapStatistics().used_heap_size;
    for (let i = done; i < done + WINDOW; i++) call(i);
    const grown = getHeapStatistics().used_heap_size - before;
    if (grown >= 0) perWindow.push(grown / WINDOW);
  }
  perWindow.sort((a, b) => a - b);
  return Math.round(median(perWindow) * 10) / 10;
}

/** Counts garbage collections (minor and major) while `fn` runs. */
async function countGcs(fn: () => void): Promise<{ minor: number; major: number }> {
  const seen = { minor: 0, major: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      // NODE_PERFORMANCE_GC_MAJOR is 4; minor (scavenge) 1, incremental and weak callbacks 8 and 16.
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === 4) seen.major++;
      else if (kind === 1) seen.minor++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  fn();
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  return seen;
}

function result(name: string, s: Setup, r: Sampled, extra: Record<string, number | string>): MapOpsResult {
  return {
    name,
    unit: 'ops/s',
    ours: r.rate,
    value: r.rate,
    iterations: r.iterations,
    maxRssKb: process.resourceUsage().maxRSS,
    extra: {
      medianCpuMs: Number(r.medianMs.toFixed(3)),
      wallOpsPerSec: Math.round(r.wallRate),
      opsPerSample: r.ops,
      bestOpsPerSec: Math.round(r.best),
      entries: ENTRIES,
      fillMs: Number(s.fillMs.toFixed(1)),
      orderCheck: s.data.orderCheck,
      ...extra,
    },
  };
}

/** Heap growth and collections over `calls` calls, per call and per million calls. */
async function memoryOf(call: (i: number) => void, calls: number): Promise<Record<string, number>> {
  const gcs = await countGcs(() => {
    for (let i = 0; i < calls; i++) call(i);
  });
  return {
    heapBytesPerCall: heapBytesPerCall(call, calls),
    scavengesPerMillionCalls: Math.round((gcs.minor * 1e6) / calls),
    majorGcsPerMillionCalls: Math.round((gcs.major * 1e6) / calls),
  };
}

const MEMORY_CALLS = 1 << 18;
let sink = 0;

/**
 * map-lookup: BpfMap.lookupInto of existing keys in random order into one reused value buffer,
 * as the C harness passes one `struct flow_stats` to bpf_map_lookup_elem. lookup(), which returns
 * a fresh copy per call, is measured beside it (extra.lookupOpsPerSec).
 */
export async function benchMapLookup(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  const keys = views(s.data.keys, 2, s.data.order);
  const out = new Uint8Array(VALUE_SIZE);
  let cursor = 0;
  const op = (): number => {
    for (let i = 0; i < CHUNK; i++) {
      if (!s.map.lookupInto(keys[cursor]!, out)) throw new Error('key missing');
      sink += out[0]!;
      cursor = (cursor + 1) % ENTRIES;
    }
    return CHUNK;
  };
  const r = sample(op, false, opts);
  const memory = await memoryOf((i) => {
    s.map.lookupInto(keys[i]!, out);
    sink += out[0]!;
  }, MEMORY_CALLS);
  // lookup(): the same calls returning a copy of the value each.
  const lookupOp = (): number => {
    for (let i = 0; i < CHUNK; i++) {
      const v = s.map.lookup(keys[cursor]!);
      if (v === undefined) throw new Error('key missing');
      sink += v[0]!;
      cursor = (cursor + 1) % ENTRIES;
    }
    return CHUNK;
  };
  const lookupRate = sample(lookupOp, false, opts);
  const lookupHeapBytesPerCall = heapBytesPerCall((i) => {
    sink += s.map.lookup(keys[i]!)![0]!;
  }, MEMORY_CALLS);
  // What the result alone costs on the heap: a fresh copy of 16 bytes as a Uint8Array.
  const src = new Uint8Array(VALUE_SIZE);
  const resultHeapBytes = heapBytesPerCall(() => {
    sink += src.slice()[0]!;
  }, MEMORY_CALLS);
  // The same lookups with one key buffer rewritten per call from a contiguous array, as the C
  // harness reads its keys, instead of a Uint8Array object per key.
  const flat = new Uint32Array(ENTRIES * 2);
  for (let j = 0; j < ENTRIES; j++) {
    flat[2 * j] = s.data.keys[2 * s.data.order[j]!]!;
    flat[2 * j + 1] = s.data.keys[2 * s.data.order[j]! + 1]!;
  }
  const one = new Uint8Array(KEY_SIZE);
  const one32 = new Uint32Array(one.buffer);
  const reusedKeyOpsPerSec = rateOf(() => {
    for (let i = 0; i < CHUNK; i++) {
      one32[0] = flat[2 * cursor]!;
      one32[1] = flat[2 * cursor + 1]!;
      s.map.lookupInto(one, out);
      sink += out[0]!;
      cursor = (cursor + 1) % ENTRIES;
    }
    return CHUNK;
  });
  teardown(s);
  return result('map-lookup', s, r, {
    ...memory,
    lookupOpsPerSec: Math.round(lookupRate.rate),
    lookupHeapBytesPerCall,
    resultHeapBytes,
    reusedKeyOpsPerSec,
  });
}

/** map-update: BpfMap.update of existing keys in random order with another entry's value. */
export async function benchMapUpdate(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  const keys = views(s.data.keys, 2, s.data.order);
  const values = views(s.data.values, 4, null);
  let cursor = 0;
  const op = (): number => {
    for (let i = 0; i < CHUNK; i++) {
      s.map.update(keys[cursor]!, values[(cursor + 1) % ENTRIES]!);
      cursor = (cursor + 1) % ENTRIES;
    }
    return CHUNK;
  };
  const r = sample(op, false, opts);
  const memory = await memoryOf((i) => s.map.update(keys[i]!, values[i]!), MEMORY_CALLS);
  teardown(s);
  return result('map-update', s, r, memory);
}

/**
 * map-lookup-batch: the whole map through BpfMap.lookupBatchInto, 4096 a call, into one pair of
 * reused buffers with one cursor, as the C harness calls bpf_map_lookup_batch. The convenient
 * lookupBatch() (an array of [key, value] pairs) and batches() are measured beside it.
 */
export async function benchMapLookupBatch(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  const keys = new Uint8Array(BATCH * KEY_SIZE);
  const values = new Uint8Array(BATCH * VALUE_SIZE);
  const cursor = new BatchCursor();
  let calls = 0;
  const op = (): number => {
    cursor.reset();
    let total = 0;
    while (!cursor.done) {
      const n = s.map.lookupBatchInto(cursor, keys, values);
      if (n > 0) sink += values[(n - 1) * VALUE_SIZE]!;
      total += n;
      calls++;
    }
    if (total !== ENTRIES) throw new Error(`lookupBatchInto gave ${total} entries, not ${ENTRIES}`);
    return total;
  };
  const r = sample(op, true, opts);
  // Heap per whole-map walk over the calls it made (the buffers are the caller's).
  const heapBefore = getHeapStatistics().used_heap_size;
  const callsBefore = calls;
  op();
  const heapPerBatchCall = Math.round(
    (getHeapStatistics().used_heap_size - heapBefore) / (calls - callsBefore),
  );
  const batchesRate = rateOf(() => {
    let n = 0;
    for (const b of s.map.batches({ batchSize: BATCH })) {
      sink += b.values[0]!;
      n += b.count;
    }
    return n;
  });
  const pairsRate = rateOf(() => {
    const all = s.map.lookupBatch({ batchSize: BATCH });
    if (all.length !== ENTRIES) throw new Error(`lookupBatch gave ${all.length} entries, not ${ENTRIES}`);
    sink += all[all.length - 1]![1][0]!;
    return all.length;
  });
  teardown(s);
  return result('map-lookup-batch', s, r, {
    batch: BATCH,
    heapBytesPerBatchCall: heapPerBatchCall,
    batchesEntriesPerSec: batchesRate,
    lookupBatchEntriesPerSec: pairsRate,
  });
}

/**
 * map-update-batch: every entry through BpfMap.updateBatch of packed bytes, 4096 a call, keys in
 * random order, as the C harness passes slices of its key and value arrays to
 * bpf_map_update_batch. [key, value] pairs (copied into fresh buffers per call) are measured beside.
 */
export async function benchMapUpdateBatch(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  // The shuffled keys and the values, contiguous as C's arrays; one packed slice pair per batch.
  const shuffled = new Uint8Array(ENTRIES * KEY_SIZE);
  const k32 = new Uint32Array(shuffled.buffer);
  for (let j = 0; j < ENTRIES; j++) {
    k32[2 * j] = s.data.keys[2 * s.data.order[j]!]!;
    k32[2 * j + 1] = s.data.keys[2 * s.data.order[j]! + 1]!;
  }
  const valueBytes = new Uint8Array(s.data.values.buffer);
  const packedBatches: PackedEntries[] = [];
  const pairBatches: [Uint8Array, Uint8Array][][] = [];
  const keys = views(s.data.keys, 2, s.data.order);
  const values = views(s.data.values, 4, null);
  for (let done = 0; done < ENTRIES; done += BATCH) {
    const count = Math.min(BATCH, ENTRIES - done);
    let from = (done + BATCH) % ENTRIES;
    if (from + count > ENTRIES) from = 0;
    packedBatches.push({
      keys: shuffled.subarray(done * KEY_SIZE, (done + count) * KEY_SIZE),
      values: valueBytes.subarray(from * VALUE_SIZE, (from + count) * VALUE_SIZE),
      count,
    });
    pairBatches.push(Array.from({ length: count }, (_, j) => [keys[done + j]!, values[from + j]!]));
  }
  const op = (): number => {
    let n = 0;
    for (const b of packedBatches) n += s.map.updateBatch(b);
    if (n !== ENTRIES) throw new Error(`updateBatch wrote ${n} entries, not ${ENTRIES}`);
    return n;
  };
  const r = sample(op, true, opts);
  const heapBefore = getHeapStatistics().used_heap_size;
  op();
  const heapBytesPerBatchCall = Math.round(
    (getHeapStatistics().used_heap_size - heapBefore) / packedBatches.length,
  );
  const pairsRate = rateOf(() => {
    let n = 0;
    for (const b of pairBatches) n += s.map.updateBatch(b);
    return n;
  });
  teardown(s);
  return result('map-update-batch', s, r, {
    batch: BATCH,
    heapBytesPerBatchCall,
    pairsEntriesPerSec: pairsRate,
  });
}

/**
 * map-iterate: one walk of the whole map through BpfMap.entries(), timed in quarters as the C
 * harness does. On a hash map entries() reads through BPF_MAP_LOOKUP_BATCH (256 a call) where C
 * makes BPF_MAP_GET_NEXT_KEY + a lookup per entry; entries({ batchSize: 0 }), the same two
 * syscalls per entry as C, is measured beside it (extra.perKeyEntriesPerSec).
 */
export async function benchMapIterate(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  const walk = s.map.entries();
  let seen = 0;
  const op = (): number => {
    let n = 0;
    while (n < ITERATE_PART) {
      const e = walk.next();
      if (e.done) break;
      sink += e.value[1][0]!;
      n++;
    }
    seen += n;
    return n;
  };
  const r = sample(op, true, opts, ITERATE_PARTS);
  if (r.iterations === ITERATE_PARTS && (seen !== ENTRIES || !walk.next().done)) {
    throw new Error(`entries() gave ${seen} entries, not ${ENTRIES}`);
  }
  // The per-key walk, over a quarter of the map (each syscall costs the same wherever it is).
  const perKeyRate = rateOf(() => {
    let n = 0;
    for (const [, v] of s.map.entries({ batchSize: 0 })) {
      sink += v[0]!;
      if (++n === ITERATE_PART) break;
    }
    return n;
  });
  teardown(s);
  return result('map-iterate', s, r, {
    perKeyEntriesPerSec: perKeyRate,
  });
}

// ---- the same operations through the BTF codecs (objects in, objects out) ----
// Each times what the raw row beside it times, on a second handle opened by id whose codecs come
// from the map's BTF in the kernel: keys { saddr, daddr }, values { packets: bigint, bytes: bigint }.

/**
 * A packet count no entry has, for the typed loops to compare with so their results are used: a
 * constant, as `=== -1n` in a loop computes a BigInt on every pass.
 */
const NEVER = -1n;

/** Keys in the random order, as objects, made before anything is timed. */
function keyObjects(s: Setup): FlowKey[] {
  return Array.from({ length: ENTRIES }, (_, j) => keyObject(s.data, s.data.order[j]!));
}

/** Keys (in the random order) and values as objects, made before anything is timed. */
function objects(s: Setup): { keys: FlowKey[]; values: FlowStats[] } {
  return {
    keys: keyObjects(s),
    values: Array.from({ length: ENTRIES }, (_, j) => valueObject(s.data, j)),
  };
}

/** map-lookup-typed: lookup() of a key object, a decoded value object back. */
export async function benchMapLookupTyped(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  using t = typed(s);
  // Only the keys: a million value objects nobody reads would only grow the heap each collection marks.
  const keys = keyObjects(s);
  let cursor = 0;
  const op = (): number => {
    for (let i = 0; i < CHUNK; i++) {
      const v = t.lookup(keys[cursor]!);
      if (v === undefined) throw new Error('key missing');
      if (v.packets === NEVER) sink++;
      cursor = (cursor + 1) % ENTRIES;
    }
    return CHUNK;
  };
  const r = sample(op, false, opts);
  const heap = heapBytesPerCall((i) => {
    if (t.lookup(keys[i]!)!.packets === NEVER) sink++;
  }, MEMORY_CALLS);
  teardown(s);
  return result('map-lookup-typed', s, r, { heapBytesPerCall: heap });
}

/** map-update-typed: update() with a key object and a value object. */
export async function benchMapUpdateTyped(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  using t = typed(s);
  const { keys, values } = objects(s);
  let cursor = 0;
  const op = (): number => {
    for (let i = 0; i < CHUNK; i++) {
      t.update(keys[cursor]!, values[(cursor + 1) % ENTRIES]!);
      cursor = (cursor + 1) % ENTRIES;
    }
    return CHUNK;
  };
  const r = sample(op, false, opts);
  const heap = heapBytesPerCall((i) => t.update(keys[i]!, values[i]!), MEMORY_CALLS);
  teardown(s);
  return result('map-update-typed', s, r, { heapBytesPerCall: heap });
}

/** map-lookup-batch-typed: the whole map through lookupBatch(), [key, value] objects back. */
export async function benchMapLookupBatchTyped(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  using t = typed(s);
  const op = (): number => {
    const all = t.lookupBatch({ batchSize: BATCH });
    if (all.length !== ENTRIES) throw new Error(`lookupBatch gave ${all.length} entries, not ${ENTRIES}`);
    if (all[all.length - 1]![1].packets === NEVER) sink++;
    return all.length;
  };
  const r = sample(op, true, opts);
  // What the raw form can do with the same work: lookupBatchInto into reused buffers, each entry
  // decoded by the handle's codecs and kept as lookupBatch() keeps it.
  const intoKept = rateOf(() => {
    const cursor = new BatchCursor();
    const kb = new Uint8Array(BATCH * KEY_SIZE);
    const vb = new Uint8Array(BATCH * VALUE_SIZE);
    const kv = new DataView(kb.buffer);
    const vv = new DataView(vb.buffer);
    const all: [FlowKey, FlowStats][] = [];
    while (!cursor.done) {
      const n = t.lookupBatchInto(cursor, kb, vb);
      for (let i = 0; i < n; i++) {
        all.push([
          t.keyCodec.decodeView(kv, i * KEY_SIZE) as FlowKey,
          t.valueCodec.decodeView(vv, i * VALUE_SIZE) as FlowStats,
        ]);
      }
    }
    if (all[all.length - 1]![1].packets === NEVER) sink++;
    return all.length;
  });
  // batches() decoding each entry as it goes, keeping nothing: what a reader that aggregates pays.
  const streamed = rateOf(() => {
    let n = 0;
    for (const [k, v] of t.entries({ batchSize: BATCH })) {
      sink += k.saddr;
      if (v.packets === NEVER) sink++;
      n++;
    }
    return n;
  });
  teardown(s);
  return result('map-lookup-batch-typed', s, r, {
    batch: BATCH,
    entriesBatch4096PerSec: streamed,
    intoDecodedKeptPerSec: intoKept,
  });
}

/** map-update-batch-typed: every entry through updateBatch() of [key, value] objects, 4096 a call. */
export async function benchMapUpdateBatchTyped(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  using t = typed(s);
  const { keys, values } = objects(s);
  const batches: [FlowKey, FlowStats][][] = [];
  for (let done = 0; done < ENTRIES; done += BATCH) {
    const count = Math.min(BATCH, ENTRIES - done);
    let from = (done + BATCH) % ENTRIES;
    if (from + count > ENTRIES) from = 0;
    batches.push(Array.from({ length: count }, (_, j) => [keys[done + j]!, values[from + j]!]));
  }
  const op = (): number => {
    let n = 0;
    for (const b of batches) n += t.updateBatch(b);
    if (n !== ENTRIES) throw new Error(`updateBatch wrote ${n} entries, not ${ENTRIES}`);
    return n;
  };
  const r = sample(op, true, opts);
  teardown(s);
  return result('map-update-batch-typed', s, r, { batch: BATCH });
}

/** map-iterate-typed: one walk of the whole map through entries(), timed in quarters. */
export async function benchMapIterateTyped(opts: TimeOptions = {}): Promise<MapOpsResult> {
  const s = setup();
  using t = typed(s);
  const walk = t.entries();
  let seen = 0;
  const op = (): number => {
    let n = 0;
    while (n < ITERATE_PART) {
      const e = walk.next();
      if (e.done) break;
      sink += e.value[0].saddr;
      if (e.value[1].packets === NEVER) sink++;
      n++;
    }
    seen += n;
    return n;
  };
  const r = sample(op, true, opts, ITERATE_PARTS);
  if (r.iterations === ITERATE_PARTS && (seen !== ENTRIES || !walk.next().done)) {
    throw new Error(`entries() gave ${seen} entries, not ${ENTRIES}`);
  }
  teardown(s);
  return result('map-iterate-typed', s, r, {});
}

/** Keeps the results the loops fold into `sink` observable, so none of the work is dead code. */
export function sinkValue(): number {
  return sink;
}
