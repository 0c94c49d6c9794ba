// BpfMap against the kernel: every operation on real maps (with BTF loaded through btfLoad, and
// without), bpftool reading the same maps as the oracle, and no descriptor leaks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import { BtfBuilder } from '../src/btf/builder.js';
import { Btf } from '../src/btf/btf.js';
import { BPF_F_MMAPABLE, MapType, ProgType } from '../src/constants.js';
import { btfLoad, progGetInfo, progLoad } from '../src/sys/bpf.js';
import { SyscallError } from '../src/sys/error.js';
import { BpfMap, UpdateFlags } from '../src/map/map.js';
import { CodecError } from '../src/map/codec.js';
import { possibleCpus } from '../src/map/cpus.js';
import { createVariables } from '../src/map/variables.js';
import { needRoot, needTool, run } from './helpers.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

/** BTF for the tests: flow_key/flow_stats, a record with a char array and an enum, a DATASEC. */
function buildBtf(): { bytes: Uint8Array; ids: Record<string, number> } {
  const b = new BtfBuilder();
  const u32 = b.add({ kind: 'INT', name: 'unsigned int', size: 4, encoding: 0, bitsOffset: 0, bits: 32 });
  const u64 = b.add({
    kind: 'INT',
    name: 'unsigned long long',
    size: 8,
    encoding: 0,
    bitsOffset: 0,
    bits: 64,
  });
  const m = (name: string, type: number, bitsOffset: number) => ({ name, type, bitsOffset, bitfieldSize: 0 });
  const key = b.add({
    kind: 'STRUCT',
    name: 'flow_key',
    size: 8,
    kindFlag: false,
    members: [m('saddr', u32, 0), m('daddr', u32, 32)],
  });
  const stats = b.add({
    kind: 'STRUCT',
    name: 'flow_stats',
    size: 16,
    kindFlag: false,
    members: [m('packets', u64, 0), m('bytes', u64, 64)],
  });
  const char = b.add({ kind: 'INT', name: 'char', size: 1, encoding: 1, bitsOffset: 0, bits: 8 });
  const comm = b.add({ kind: 'ARRAY', name: '', type: char, indexType: u32, nelems: 16 });
  const proto = b.add({
    kind: 'ENUM',
    name: 'proto',
    size: 4,
    signed: false,
    values: [
      { name: 'TCP', value: 6n },
      { name: 'UDP', value: 17n },
    ],
  });
  const rec = b.add({
    kind: 'STRUCT',
    name: 'rec',
    size: 32,
    kindFlag: false,
    members: [m('comm', comm, 0), m('proto', proto, 128), m('count', u64, 192)],
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
  return { bytes: b.build(), ids: { u32, u64, key, stats, rec, data } };
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
