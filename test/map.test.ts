// BpfMap against the kernel: every operation on real maps (with BTF loaded through btfLoad, and
// without), bpftool reading the same maps as the oracle, and no descriptor leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Btf } from '../src/btf/btf.js';
import { BPF_F_MMAPABLE, MapType, ProgType } from '../src/constants.js';
import { btfLoad, progGetInfo, progLoad } from '../src/sys/bpf.js';
import { EbpfError } from '../src/errors.js';
import { SyscallError } from '../src/sys/error.js';
import { BatchCursor, BpfMap, UpdateFlags } from '../src/map/map.js';
import { CodecError } from '../src/btf/codec.js';
import { possibleCpus } from '../src/map/cpus.js';
import { createVariables } from '../src/map/variables.js';
import { needRoot, needTool, run, bpfDescriptors } from './helpers.js';
import { addCommAndProto, flowBtf, member } from './flow-btf.js';

const openFds = (): number => bpfDescriptors().length;

/** BTF for the tests: flow_key/flow_stats, a record with a char array and an enum, a DATASEC. */
function buildBtf(): ReturnType<typeof flowBtf<{ rec: number; data: number }>> {
  return flowBtf((b, { u32, u64 }) => {
    const { comm, proto } = addCommAndProto(b, u32, 16);
    const rec = b.add({
      kind: 'STRUCT',
      name: 'rec',
      size: 32,
      kindFlag: false,
      members: [member('comm', comm, 0), member('proto', proto, 128), member('count', u64, 192)],
    });
    const counter = b.add({ kind: 'VAR', name: 'counter', type: u32, linkage: 1 });
    const label = b.add({ kind: 'VAR', name: 'label', type: comm, linkage: 1 });
    const data = b.add({
      kind: 'DATASEC',
      name: '.data',
      size: 20,
      vars: [
        { type: counter, offset: 0, size: 4 },
        { type: label, offset: 4, size: 16 },
      ],
    });
    return { rec, data };
  });
}

const EXIT_0 = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

test('hash map with BTF: every single-element operation, flags, codecs, bpftool agrees', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const before = openFds();
  const { bytes, ids } = buildBtf();
  {
    using btfFd = btfLoad(bytes).fd;
    using map = BpfMap.create<{ saddr: number; daddr: number }, { packets: bigint; bytes: bigint }>({
      type: MapType.HASH,
      keySize: 8,
      valueSize: 16,
      maxEntries: 64,
      name: 'test_flows',
      btfFd,
      btfKeyTypeId: ids.key!,
      btfValueTypeId: ids.stats!,
    });
    assert.equal(map.name, 'test_flows');
    assert.ok(map.btf, 'codecs come from the BTF loaded back from the kernel');
    const k1 = { saddr: 0x0a000001, daddr: 0x0a000002 };
    const k2 = { saddr: 1, daddr: 2 };
    assert.equal(map.lookup(k1), undefined);
    map.update(k1, { packets: 1n, bytes: 100n });
    assert.deepEqual(map.lookup(k1), { packets: 1n, bytes: 100n });
    assert.throws(
      () => map.update(k1, { packets: 2n, bytes: 1n }, UpdateFlags.NOEXIST),
      (e: unknown) => e instanceof SyscallError && e.code === 'EEXIST',
    );
    assert.throws(
      () => map.update(k2, { packets: 2n, bytes: 1n }, UpdateFlags.EXIST),
      (e: unknown) => e instanceof SyscallError && e.code === 'ENOENT',
    );
    map.update(k1, { packets: 2n, bytes: 200n }, UpdateFlags.EXIST);
    map.update(k2, { packets: 3n, bytes: 300n }, UpdateFlags.NOEXIST);
    assert.throws(
      () => map.update({ saddr: 1 } as never, { packets: 0n, bytes: 0n }),
      (e: unknown) => e instanceof CodecError && e.path === 'key',
    );
    assert.throws(
      () => map.update(k1, { packets: -1n, bytes: 0n }),
      (e: unknown) => e instanceof CodecError && e.path === 'value.packets',
    );

    // bpftool reads the same bytes we wrote.
    const dump = JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'id', String(map.id)])) as {
      formatted: unknown;
    }[];
    const formatted = dump.map((e) => e.formatted);
    assert.equal(formatted.length, 2);
    assert.deepEqual(
      new Set(formatted.map((f) => JSON.stringify(f))),
      new Set([
        JSON.stringify({ key: k1, value: { packets: 2, bytes: 200 } }),
        JSON.stringify({ key: k2, value: { packets: 3, bytes: 300 } }),
      ]),
    );

    const first = map.nextKey();
    assert.ok(first);
    const second = map.nextKey(first);
    assert.ok(second);
    assert.equal(map.nextKey(second), undefined);
    assert.deepEqual(
      new Set([JSON.stringify(first), JSON.stringify(second)]),
      new Set([JSON.stringify(k1), JSON.stringify(k2)]),
    );
    assert.deepEqual([...map.keys()].length, 2);
    assert.deepEqual(
      [...map].map(([k, v]) => [k.saddr, v.packets]).sort(),
      [
        [1, 3n],
        [0x0a000001, 2n],
      ].sort(),
    );

    assert.deepEqual(map.lookupAndDelete(k2), { packets: 3n, bytes: 300n });
    assert.equal(map.lookup(k2), undefined);
    assert.equal(map.delete(k1), true);
    assert.equal(map.delete(k1), false);
    assert.equal(map.nextKey(), undefined);

    // Raw bytes are always accepted.
    const rawKey = new Uint8Array(8).fill(1);
    map.update(rawKey, new Uint8Array(16).fill(2));
    assert.deepEqual(map.lookup(rawKey), { packets: 0x0202020202020202n, bytes: 0x0202020202020202n });

    // Pinned, then opened by path and by id: the BTF comes from the kernel and decodes the same.
    const pin = `/sys/fs/bpf/ebpf-test-map-${process.pid}`;
    map.pin(pin);
    try {
      using again = BpfMap.fromPin(pin);
      assert.equal(again.id, map.id);
      assert.deepEqual(again.lookup({ saddr: 0x01010101, daddr: 0x01010101 }), {
        packets: 0x0202020202020202n,
        bytes: 0x0202020202020202n,
      });
      using byId = BpfMap.fromId(map.id, { btf: false });
      assert.deepEqual(byId.lookup(rawKey), new Uint8Array(16).fill(2));
      const info = byId.info();
      assert.equal(info.typeName, 'hash');
      assert.equal(info.btfKeyTypeId, ids.key);
      assert.equal(info.maxEntries, 64);
    } finally {
      rmSync(pin, { force: true });
    }
  }
  assert.equal(openFds(), before, 'no descriptor leaks');
});

test('info().typeName is the type name bpftool prints, for a type with a deprecated alias too', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  // BPF_MAP_TYPE_CGROUP_STORAGE shares its number with BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED.
  for (const [type, keySize, maxEntries] of [
    [MapType.HASH, 4, 1],
    [MapType.CGROUP_STORAGE, 8, 0],
    [MapType.PERCPU_CGROUP_STORAGE, 8, 0],
  ] as const) {
    using map = BpfMap.create({ type, keySize, valueSize: 8, maxEntries });
    const shown = JSON.parse(run('bpftool', ['-j', 'map', 'show', 'id', String(map.id)])) as { type: string };
    assert.equal(map.info().typeName, shown.type);
  }
});

test('10k-entry hash: iteration is complete and in kernel order; batch lookup, update, delete', (t) => {
  if (!needRoot(t)) return;
  const before = openFds();
  {
    using map = BpfMap.create({
      type: MapType.HASH,
      keySize: 4,
      valueSize: 8,
      maxEntries: 10000,
      name: 'test_10k',
    });
    const N = 10000;
    const entries: [number, bigint][] = Array.from({ length: N }, (_, i) => [i * 7 + 1, BigInt(i) * 3n]);
    assert.equal(map.updateBatch(entries), N);
    const asNum = (b: unknown): number => new DataView((b as Uint8Array).buffer).getUint32(0, true);
    const asBig = (b: unknown): bigint => new DataView((b as Uint8Array).buffer).getBigUint64(0, true);

    const seen = new Set<number>();
    for (const k of map.keys()) seen.add(asNum(k));
    assert.equal(seen.size, N);
    for (const [k] of entries) assert.ok(seen.has(k));

    // Iteration order is the kernel's: the same as BPF_MAP_GET_NEXT_KEY walked by hand.
    const byHand: number[] = [];
    for (let k = map.nextKey(); k !== undefined; k = map.nextKey(k)) byHand.push(asNum(k));
    assert.deepEqual([...map.keys()].map(asNum), byHand);

    const all = map.lookupBatch({ batchSize: 64 });
    assert.equal(all.length, N);
    const want = new Map(entries);
    for (const [k, v] of all) assert.equal(asBig(v), want.get(asNum(k)));
    let n = 0;
    for (const [k, v] of map.entries()) {
      assert.equal(asBig(v), want.get(asNum(k)));
      n++;
    }
    assert.equal(n, N);

    assert.equal(map.deleteBatch(entries.slice(0, N / 2).map(([k]) => k)), N / 2);
    const rest = map.lookupAndDeleteBatch({ batchSize: 1 });
    assert.equal(rest.length, N / 2);
    assert.equal(map.nextKey(), undefined);
  }
  assert.equal(openFds(), before);
});

test('batches of objects reuse packing buffers: padding stays zero, a batch packed inside another is whole', (t) => {
  if (!needRoot(t)) return;
  // struct padded { u8 a; u32 b; }: bytes 1-3 are padding, which the codec must write as zeros
  // even where the previous batch left 0xff in the reused buffer.
  const { bytes, ids } = flowBtf((b, { u32, u64 }) => {
    const u8 = b.add({ kind: 'INT', name: 'unsigned char', size: 1, encoding: 0, bitsOffset: 0, bits: 8 });
    const padded = b.add({
      kind: 'STRUCT',
      name: 'padded',
      size: 8,
      kindFlag: false,
      members: [member('a', u8, 0), member('b', u32, 32)],
    });
    return { padded, u64 };
  });
  using btfFd = btfLoad(bytes).fd;
  using map = BpfMap.create<{ a: number; b: number }, bigint>({
    type: MapType.HASH,
    keySize: 8,
    valueSize: 8,
    maxEntries: 64,
    name: 'test_scratch',
    btfFd,
    btfKeyTypeId: ids.padded,
    btfValueTypeId: ids.u64,
  });
  const dirty = new Uint8Array(8).fill(0xff);
  assert.equal(map.updateBatch([[dirty, dirty]]), 1);
  assert.equal(map.deleteBatch([dirty]), 1);
  const N = 16;
  const keys = Array.from({ length: N }, (_, i) => ({ a: i, b: 1000 + i }));
  assert.equal(map.updateBatch(keys.map((k, i) => [k, BigInt(i)])), N);
  const raw = [...map.rawEntries()];
  assert.equal(raw.length, N);
  for (const [k] of raw) assert.deepEqual([...k.subarray(1, 4)], [0, 0, 0], 'padding bytes are zero');
  // A value whose getter packs another batch of the same map while this one is being packed.
  const inner = { a: 200, b: 7 };
  const outer: [{ a: number; b: number }, bigint][] = [
    [{ a: 100, b: 1 }, 11n],
    [
      {
        a: 101,
        get b(): number {
          map.updateBatch([[inner, 99n]]);
          return 2;
        },
      },
      12n,
    ],
    [{ a: 102, b: 3 }, 13n],
  ];
  assert.equal(map.updateBatch(outer), 3);
  assert.equal(map.lookup({ a: 100, b: 1 }), 11n);
  assert.equal(map.lookup({ a: 101, b: 2 }), 12n);
  assert.equal(map.lookup({ a: 102, b: 3 }), 13n);
  assert.equal(map.lookup(inner), 99n);
  assert.equal(map.deleteBatch(keys), N);
  assert.equal(map.lookup(keys[0]!), undefined);
});

test('per-CPU maps: one value per possible CPU, rounded to 8 bytes; bpftool agrees', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const cpus = possibleCpus();
  const { bytes, ids } = buildBtf();
  using btfFd = btfLoad(bytes).fd;
  using map = BpfMap.create<number, number[]>({
    type: MapType.PERCPU_HASH,
    keySize: 4,
    valueSize: 4,
    maxEntries: 8,
    name: 'test_pcpu',
    btfFd,
    btfKeyTypeId: ids.u32!,
    btfValueTypeId: ids.u32!,
  });
  assert.equal(map.cpus, cpus);
  assert.equal(map.valueStride, 8);
  const vals = Array.from({ length: cpus }, (_, i) => 100 + i);
  map.update(5, vals);
  assert.deepEqual(map.lookup(5), vals);
  assert.throws(() => map.update(6, [1]), CodecError);
  const dump = JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'id', String(map.id)])) as {
    formatted: unknown;
  }[];
  assert.deepEqual(dump[0]!.formatted, { key: 5, values: vals.map((value, cpu) => ({ cpu, value })) });
  map.updateBatch([[7, vals.map((v) => v * 2)]]);
  const batch = map.lookupBatch();
  assert.deepEqual(
    new Map(batch),
    new Map([
      [5, vals],
      [7, vals.map((v) => v * 2)],
    ]),
  );

  using arr = BpfMap.create({
    type: MapType.PERCPU_ARRAY,
    keySize: 4,
    valueSize: 12,
    maxEntries: 2,
    name: 'test_pcpua',
  });
  assert.equal(arr.valueStride, 16);
  const v12 = Array.from({ length: cpus }, (_, i) => new Uint8Array(12).fill(i + 1));
  arr.update(1, v12);
  assert.deepEqual(arr.lookup(1), v12);
});

test('queue and stack: push, pop, peek, overwrite when full', (t) => {
  if (!needRoot(t)) return;
  using q = BpfMap.create({
    type: MapType.QUEUE,
    keySize: 0,
    valueSize: 4,
    maxEntries: 3,
    name: 'test_queue',
  });
  using s = BpfMap.create({
    type: MapType.STACK,
    keySize: 0,
    valueSize: 4,
    maxEntries: 3,
    name: 'test_stack',
  });
  const n = (b: unknown): number | undefined =>
    b === undefined ? undefined : new DataView((b as Uint8Array).buffer).getUint32(0, true);
  for (const m of [q, s]) for (const v of [1, 2, 3]) m.push(v);
  assert.throws(
    () => q.push(4),
    (e: unknown) => e instanceof SyscallError && e.code === 'E2BIG',
  );
  q.push(4, UpdateFlags.EXIST); // drops the oldest
  assert.equal(n(q.peek()), 2);
  assert.deepEqual([n(q.pop()), n(q.pop()), n(q.pop()), n(q.pop())], [2, 3, 4, undefined]);
  assert.equal(n(s.peek()), 3);
  assert.deepEqual([n(s.pop()), n(s.pop()), n(s.pop()), n(s.pop())], [3, 2, 1, undefined]);
  assert.equal(q.peek(), undefined);
});

test('freeze: user space can no longer write', (t) => {
  if (!needRoot(t)) return;
  using m = BpfMap.create({
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: 4,
    maxEntries: 1,
    name: 'test_freeze',
  });
  m.update(0, 7);
  m.freeze();
  assert.throws(
    () => m.update(0, 8),
    (e: unknown) => e instanceof SyscallError && e.code === 'EPERM',
  );
  assert.deepEqual(m.lookup(0), new Uint8Array([7, 0, 0, 0]));
});

test('map-in-map and program array take handles and give ids', (t) => {
  if (!needRoot(t)) return;
  const before = openFds();
  {
    using inner = BpfMap.create({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 1,
      name: 'test_inner',
    });
    using outer = BpfMap.create({
      type: MapType.ARRAY_OF_MAPS,
      keySize: 4,
      valueSize: 4,
      maxEntries: 2,
      name: 'test_outer',
      innerMap: inner,
    });
    outer.update(1, inner);
    assert.equal(outer.lookup(1), inner.id);
    inner.update(0, 42);
    {
      using again = outer.innerMap(1);
      assert.ok(again);
      assert.deepEqual(again.lookup(0), new Uint8Array([42, 0, 0, 0]));
    }
    assert.equal(outer.innerMap(0), undefined);
    outer.update(0, inner.fd); // an Fd works as well
    assert.equal(outer.delete(0), true);

    using prog = progLoad({ prog_type: ProgType.SOCKET_FILTER }, { insns: EXIT_0, license: 'GPL' }).fd;
    using progs = BpfMap.create({
      type: MapType.PROG_ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: 4,
      name: 'test_progs',
    });
    progs.update(2, prog);
    assert.equal(progs.lookup(2), progGetInfo(prog.fd).info.id);
    progs.update(3, { fd: prog.fd });
    assert.equal(progs.lookup(3), progGetInfo(prog.fd).info.id);
  }
  assert.equal(openFds(), before);
});

test('global variables: mmap-backed and syscall-backed views read and write through BTF', (t) => {
  if (!needRoot(t)) return;
  const before = openFds();
  {
    const { bytes, ids } = buildBtf();
    const btf = Btf.parse(bytes);
    using btfFd = btfLoad(bytes).fd;
    for (const flags of [BPF_F_MMAPABLE, 0]) {
      using m = BpfMap.create({
        type: MapType.ARRAY,
        keySize: 4,
        valueSize: 20,
        maxEntries: 1,
        flags,
        name: 'test_data',
        btfFd,
        btfValueTypeId: ids.data!,
      });
      const vars = createVariables(m, btf, ids.data!);
      assert.deepEqual(Object.keys(vars), ['counter', 'label']);
      assert.equal(vars.counter, 0);
      vars.counter = 41;
      vars.label = 'hi';
      const raw = m.lookupBytes(0)!;
      assert.equal(new DataView(raw.buffer).getUint32(0, true), 41);
      assert.equal(new TextDecoder().decode(raw.subarray(4, 6)), 'hi');
      // A write from the other side shows through.
      raw[0] = 42;
      m.update(0, raw);
      assert.equal(vars.counter, 42);
      assert.equal(vars.label, 'hi');
      assert.throws(
        () => (vars.label = 'x'.repeat(17)),
        (e: unknown) => e instanceof CodecError && e.path === 'label',
      );
      if (flags) {
        assert.ok(m.memoryWritable);
        // The kernel refuses to freeze a map mapped writable.
        assert.throws(
          () => m.freeze(),
          (e: unknown) => e instanceof SyscallError && e.code === 'EBUSY',
        );
      }
    }
    // Frozen before mapping (as .rodata after load): mapped read-only; writes are refused, not a crash.
    using ro = BpfMap.create({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 20,
      maxEntries: 1,
      flags: BPF_F_MMAPABLE,
      name: 'test_rodata',
      btfFd,
      btfValueTypeId: ids.data!,
    });
    ro.update(0, new Uint8Array(20).fill(0x41));
    ro.freeze();
    const vars = createVariables(ro, btf, ids.data!);
    assert.equal(vars.counter, 0x41414141);
    assert.equal(ro.memoryWritable, false);
    assert.throws(() => (vars.counter = 1), /read-only/);
  }
  assert.equal(openFds(), before);
});

// ---- batch APIs, lookupInto and batched iteration ------------------------------------------

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const hexOf = (bytes: string[]): string => bytes.map((x) => x.slice(2)).join('');

/** bpftool's dump of a map opened without BTF, in its (BPF_MAP_GET_NEXT_KEY) order, as hex. */
function bpftoolRaw(id: number, stride = 0): [string, string][] {
  const dump = JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'id', String(id)])) as {
    key: string[];
    value?: string[];
    values?: { cpu: number; value: string[] }[];
  }[];
  return dump.map((e) => {
    if (e.value) return [hexOf(e.key), hexOf(e.value)];
    // Per-CPU: each CPU's value padded to the 8-byte stride, as the kernel lays them out for us.
    const v = e.values!.map((c) => hexOf(c.value).padEnd(stride * 2, '0')).join('');
    return [hexOf(e.key), v];
  });
}

/** Packed keys (two u32s, the second a hash of the first) and 16-byte values for n elements. */
function packed(n: number, salt = 0): { keys: Uint8Array; values: Uint8Array } {
  const keys = new Uint8Array(n * 8);
  const values = new Uint8Array(n * 16);
  const k = new DataView(keys.buffer);
  const v = new DataView(values.buffer);
  for (let i = 0; i < n; i++) {
    k.setUint32(i * 8, i * 7 + 1, true);
    k.setUint32(i * 8 + 4, Math.imul(i, 2654435761) >>> 0, true);
    v.setBigUint64(i * 16, BigInt(i + salt), true);
    v.setBigUint64(i * 16 + 8, BigInt(i) * 64n + 3n, true);
  }
  return { keys, values };
}

test('10k-entry hash: lookupBatchInto, batches, entries and lookupInto read what bpftool dumps, in its order', async (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const before = openFds();
  {
    const N = 10000;
    using map = BpfMap.create({
      type: MapType.HASH,
      keySize: 8,
      valueSize: 16,
      maxEntries: N,
      name: 'test_b10k',
    });
    const data = packed(N);
    const pairs = Array.from(
      { length: N },
      (_, i) => [data.keys.subarray(i * 8, i * 8 + 8), data.values.subarray(i * 16, i * 16 + 16)] as const,
    );
    assert.equal(map.updateBatch(pairs.map(([k, v]) => [k, v])), N);
    const dump = bpftoolRaw(map.id);
    assert.equal(dump.length, N);

    const kb = new Uint8Array(100 * 8);
    const vb = new Uint8Array(100 * 16);

    await t.test(
      "lookupBatchInto: reused buffers and one cursor give every element once, in bpftool's order",
      () => {
        // Reused buffers and one cursor: every element once, in the order of bpftool's key walk.
        const cursor = new BatchCursor();
        const got: [string, string][] = [];
        let calls = 0;
        while (!cursor.done) {
          const n = map.lookupBatchInto(cursor, kb, vb);
          calls++;
          for (let i = 0; i < n; i++)
            got.push([hex(kb.subarray(i * 8, i * 8 + 8)), hex(vb.subarray(i * 16, i * 16 + 16))]);
        }
        assert.deepEqual(got, dump);
        assert.ok(calls >= N / 100, `${calls} calls of at most 100 elements`);
        assert.equal(map.lookupBatchInto(cursor, kb, vb), 0, 'a finished cursor reads nothing');
        cursor.reset();
        assert.ok(map.lookupBatchInto(cursor, kb, vb) > 0, 'reset starts over');
        assert.throws(() => map.lookupBatchInto(new BatchCursor(), kb.subarray(0, 7), vb), EbpfError);
      },
    );

    await t.test(
      'lookupBatchInto with room for one element: ENOSPC, and the cursor stays where it was',
      () => {
        // Room for one element: a bucket of two is ENOSPC and the cursor stays where it was.
        const one = new BatchCursor();
        const small: [string, string][] = [];
        let room = 1;
        let enospc = 0;
        while (!one.done) {
          let n: number;
          try {
            n = map.lookupBatchInto(one, kb.subarray(0, room * 8), vb.subarray(0, room * 16));
          } catch (e) {
            assert.ok(e instanceof SyscallError && e.code === 'ENOSPC', String(e));
            enospc++;
            room++;
            continue;
          }
          for (let i = 0; i < n; i++)
            small.push([hex(kb.subarray(i * 8, i * 8 + 8)), hex(vb.subarray(i * 16, i * 16 + 16))]);
        }
        assert.ok(enospc > 0, '10k keys in 16k buckets collide somewhere');
        assert.deepEqual(small, dump);
      },
    );

    await t.test('batches(): one pair of buffers for the whole walk, grown on ENOSPC', () => {
      // batches(): the same elements over one pair of buffers reused for every batch.
      const buffers = new Set<ArrayBufferLike>();
      const viaBatches: [string, string][] = [];
      for (const b of map.batches({ batchSize: 64 })) {
        buffers.add(b.keys.buffer).add(b.values.buffer);
        assert.equal(b.keys.length, b.count * 8);
        assert.equal(b.values.length, b.count * 16);
        for (let i = 0; i < b.count; i++) {
          viaBatches.push([
            hex(b.keys.subarray(i * 8, i * 8 + 8)),
            hex(b.values.subarray(i * 16, i * 16 + 16)),
          ]);
        }
      }
      assert.deepEqual(viaBatches, dump);
      assert.equal(buffers.size, 2, 'one keys and one values buffer for the whole walk');
      // ...and a batch of one grows on ENOSPC instead of failing.
      assert.deepEqual(
        [...map.batches({ batchSize: 1 })].reduce((n, b) => n + b.count, 0),
        N,
      );
    });

    await t.test(
      'lookupBatch, entries (batched, batches of one, per key) and rawEntries agree with bpftool',
      () => {
        // lookupBatch (convenient) and entries (batched, small batches, per key) agree.
        const pairsHex = (it: Iterable<[unknown, unknown]>): [string, string][] =>
          [...it].map(([k, v]) => [hex(k as Uint8Array), hex(v as Uint8Array)]);
        assert.deepEqual(pairsHex(map.lookupBatch({ batchSize: 500 })), dump);
        assert.deepEqual(pairsHex(map.entries()), dump);
        assert.deepEqual(pairsHex(map.entries({ batchSize: 1 })), dump);
        assert.deepEqual(pairsHex(map.entries({ batchSize: 0 })), dump);
        assert.deepEqual(pairsHex(map), dump);
        assert.deepEqual(pairsHex(map.rawEntries()), dump);
        assert.deepEqual(pairsHex(map.rawEntries({ batchSize: 0 })), dump);
      },
    );

    await t.test("lookupInto: lookup()'s bytes into one buffer, false for a missing key", () => {
      // lookupInto: the bytes lookup() gives, into one buffer; false for a missing key.
      const out = new Uint8Array(16);
      for (const [k] of pairs) {
        assert.equal(map.lookupInto(k, out), true);
        assert.equal(hex(out), hex(map.lookup(k) as Uint8Array));
      }
      assert.equal(map.lookupInto(new Uint8Array(8).fill(0xee), out), false);
      assert.throws(
        () => map.lookupInto(pairs[0]![0], new Uint8Array(15)),
        EbpfError,
        'a short buffer would be overrun',
      );
    });

    await t.test(
      'packed updateBatch and deleteBatch into a second map: bpftool sees the same contents',
      () => {
        // Packed updateBatch from batches() into a second map: bpftool sees the same contents.
        using copy = BpfMap.create({
          type: MapType.HASH,
          keySize: 8,
          valueSize: 16,
          maxEntries: N,
          name: 'test_b10k_copy',
        });
        let copied = 0;
        for (const b of map.batches({ batchSize: 1000 })) copied += copy.updateBatch(b);
        assert.equal(copied, N);
        assert.deepEqual(new Map(bpftoolRaw(copy.id)), new Map(dump));
        // count limits what is written; short buffers never reach the kernel, and its elem_flags take
        // BPF_F_LOCK alone (EXIST is EINVAL there, unlike update()).
        const salted = packed(N, 1000);
        assert.equal(copy.updateBatch({ keys: salted.keys, values: salted.values, count: 10 }), 10);
        assert.equal(
          hex(copy.lookup(salted.keys.subarray(8, 16)) as Uint8Array),
          hex(salted.values.subarray(16, 32)),
        );
        assert.equal(
          hex(copy.lookup(salted.keys.subarray(80, 88)) as Uint8Array),
          hex(data.values.subarray(160, 176)),
        );
        assert.throws(
          () => copy.updateBatch({ keys: salted.keys, values: salted.values, count: 1 }, UpdateFlags.EXIST),
          (e: unknown) => e instanceof SyscallError && e.code === 'EINVAL',
        );
        assert.throws(
          () => copy.updateBatch({ keys: salted.keys, values: salted.values.subarray(0, 16 * 9), count: 10 }),
          EbpfError,
        );
        assert.throws(
          () => copy.updateBatch({ keys: salted.keys.subarray(0, 8), values: salted.values, count: 2 }),
          EbpfError,
        );
        assert.equal(copy.updateBatch({ keys: new Uint8Array(0), values: new Uint8Array(0) }), 0);

        // Packed deleteBatch, then lookupAndDeleteBatchInto empties the rest.
        assert.equal(copy.deleteBatch({ keys: data.keys.subarray(0, (N / 2) * 8) }), N / 2);
        const drain = new BatchCursor();
        let drained = 0;
        while (!drain.done) drained += copy.lookupAndDeleteBatchInto(drain, kb, vb);
        assert.equal(drained, N / 2);
        assert.equal(copy.nextKey(), undefined);
      },
    );

    await t.test('deleting each key as entries() yields it: every key once, the map ends empty', () => {
      // Deleting each key as it comes: every key once and the map ends empty, on both walks.
      for (const batchSize of [256, 0]) {
        using tmp = BpfMap.create({
          type: MapType.HASH,
          keySize: 8,
          valueSize: 16,
          maxEntries: N,
          name: 'test_b10k_del',
        });
        tmp.updateBatch({ keys: data.keys, values: data.values });
        const keysSeen = new Set<string>();
        for (const [k] of tmp.entries({ batchSize })) {
          keysSeen.add(hex(k as Uint8Array));
          assert.equal(tmp.delete(k), true);
        }
        assert.equal(keysSeen.size, N);
        assert.equal(tmp.nextKey(), undefined);
      }
    });
  }
  assert.equal(openFds(), before, 'no descriptor leaks');
});

test("per-CPU hash: batch APIs and lookupInto use all CPUs' 8-byte slots, as bpftool shows them", (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const cpus = possibleCpus();
  const N = 2000;
  const { bytes, ids } = buildBtf();
  using btfFd = btfLoad(bytes).fd;
  const opts = {
    type: MapType.PERCPU_HASH,
    keySize: 4,
    valueSize: 4,
    maxEntries: N,
    name: 'test_pcpu_b',
    btfFd,
    btfKeyTypeId: ids.u32!,
    btfValueTypeId: ids.u32!,
  };
  using raw = BpfMap.create({ ...opts, btf: false });
  const es = 8 * cpus;
  const keys = new Uint8Array(N * 4);
  const values = new Uint8Array(N * es);
  const kv = new DataView(keys.buffer);
  const vv = new DataView(values.buffer);
  for (let i = 0; i < N; i++) {
    kv.setUint32(i * 4, i * 3 + 1, true);
    for (let c = 0; c < cpus; c++) vv.setUint32(i * es + c * 8, i * 10 + c, true);
  }
  assert.throws(
    () => raw.updateBatch({ keys, values: values.subarray(0, N * 4) }),
    EbpfError,
    'values of 4 bytes are too short',
  );
  assert.equal(raw.updateBatch({ keys, values }), N);
  const dump = bpftoolRaw(raw.id, 8);
  assert.equal(dump.length, N);

  const cursor = new BatchCursor();
  const kb = new Uint8Array(128 * 4);
  const vb = new Uint8Array(128 * es);
  const got: [string, string][] = [];
  while (!cursor.done) {
    const n = raw.lookupBatchInto(cursor, kb, vb);
    for (let i = 0; i < n; i++)
      got.push([hex(kb.subarray(i * 4, i * 4 + 4)), hex(vb.subarray(i * es, (i + 1) * es))]);
  }
  assert.deepEqual(got, dump);
  const viaBatches: [string, string][] = [];
  for (const b of raw.batches({ batchSize: 7 })) {
    for (let i = 0; i < b.count; i++) {
      viaBatches.push([hex(b.keys.subarray(i * 4, i * 4 + 4)), hex(b.values.subarray(i * es, (i + 1) * es))]);
    }
  }
  assert.deepEqual(viaBatches, dump);
  const out = new Uint8Array(es);
  assert.throws(() => raw.lookupInto(keys.subarray(0, 4), new Uint8Array(4)), EbpfError);
  for (let i = 0; i < N; i += 97) {
    assert.equal(raw.lookupInto(keys.subarray(i * 4, i * 4 + 4), out), true);
    assert.equal(hex(out), hex(values.subarray(i * es, (i + 1) * es)));
  }

  // Through BTF: batched entries(), the per-key walk and lookupBatch decode alike, as bpftool does.
  using typed = BpfMap.fromId<number, number[]>(raw.id);
  const formatted = (
    JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'id', String(raw.id)])) as {
      formatted: { key: number; values: { cpu: number; value: number }[] };
    }[]
  ).map((e) => [e.formatted.key, e.formatted.values.map((c) => c.value)]);
  assert.deepEqual([...typed.entries()], formatted);
  assert.deepEqual([...typed.entries({ batchSize: 0 })], formatted);
  assert.deepEqual(typed.lookupBatch({ batchSize: 3 }), formatted);
  assert.deepEqual(
    [...typed.values()],
    formatted.map(([, v]) => v),
  );
});

test('BTF-typed 10k hash: batched entries(), lookupBatch, batches and lookupInto decode as bpftool does', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const N = 10000;
  const { bytes, ids } = buildBtf();
  using btfFd = btfLoad(bytes).fd;
  type Key = { saddr: number; daddr: number };
  type Stats = { packets: bigint; bytes: bigint };
  using map = BpfMap.create<Key, Stats>({
    type: MapType.HASH,
    keySize: 8,
    valueSize: 16,
    maxEntries: N,
    name: 'test_btf_b10k',
    btfFd,
    btfKeyTypeId: ids.key!,
    btfValueTypeId: ids.stats!,
  });
  const data = packed(N);
  assert.equal(map.updateBatch(data), N, 'packed bytes go in as they are, whatever the codecs');
  const formatted = (
    JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'id', String(map.id)])) as {
      formatted: { key: Key; value: { packets: number; bytes: number } };
    }[]
  ).map((e) => [
    e.formatted.key,
    { packets: BigInt(e.formatted.value.packets), bytes: BigInt(e.formatted.value.bytes) },
  ]);
  assert.equal(formatted.length, N);
  assert.deepEqual([...map.entries()], formatted);
  assert.deepEqual([...map.entries({ batchSize: 0 })], formatted);
  assert.deepEqual(map.lookupBatch({ batchSize: 1000 }), formatted);
  const viaBatches: unknown[] = [];
  for (const b of map.batches()) {
    for (let i = 0; i < b.count; i++) {
      viaBatches.push([map.keyCodec.decode(b.keys, i * 8), map.valueCodec.decode(b.values, i * 16)]);
    }
  }
  assert.deepEqual(viaBatches, formatted);
  const out = new Uint8Array(16);
  for (const [k, v] of formatted.slice(0, 500) as [Key, Stats][]) {
    assert.equal(map.lookupInto(k, out), true, 'object keys go through the codec');
    assert.deepEqual(map.valueCodec.decode(out), v);
    assert.deepEqual(map.lookup(k), v);
  }
});

test("arrays: entries() through the kernel's generic batch walk reads what the per-key walk and bpftool do", (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const cpus = possibleCpus();
  for (const [type, valueSize, stride] of [
    [MapType.ARRAY, 12, 12],
    [MapType.PERCPU_ARRAY, 12, 16],
  ] as const) {
    const N = 1000;
    using arr = BpfMap.create({ type, keySize: 4, valueSize, maxEntries: N, name: 'test_arr_iter' });
    const es = stride * (type === MapType.PERCPU_ARRAY ? cpus : 1);
    const keys = new Uint8Array(N * 4);
    const values = new Uint8Array(N * es);
    for (let i = 0; i < N; i++) {
      new DataView(keys.buffer).setUint32(i * 4, i, true);
      for (let c = 0; c < es / stride; c++)
        values.fill((i + c) & 0xff, i * es + c * stride, i * es + c * stride + valueSize);
    }
    assert.equal(arr.updateBatch({ keys, values }), N);
    const dump = bpftoolRaw(arr.id, stride);
    const asHex = (k: unknown, v: unknown): [string, string] => [
      hex(k as Uint8Array),
      Array.isArray(v)
        ? (v as Uint8Array[]).map((x) => hex(x).padEnd(stride * 2, '0')).join('')
        : hex(v as Uint8Array),
    ];
    assert.deepEqual(
      [...arr.entries({ batchSize: 100 })].map(([k, v]) => asHex(k, v)),
      dump,
    );
    assert.deepEqual(
      [...arr.entries({ batchSize: 0 })].map(([k, v]) => asHex(k, v)),
      dump,
    );
  }
});
