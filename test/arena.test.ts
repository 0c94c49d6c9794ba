// BPF arenas (BPF_MAP_TYPE_ARENA, Linux 6.9): testdata/arena.c's `__arena` globals (clang's
// `.addr_space.1`) placed in the arena and relocated as libbpf does, the arena mapped into this
// process before its program loads, and what the program writes (globals, and a page it allocates
// with bpf_arena_alloc_pages) read back from JavaScript.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { decode } from '../src/asm/index.js';
import { MapType } from '../src/constants.js';
import { NotSupportedError } from '../src/errors.js';
import { release } from 'node:os';
import { haveFeature, versionAtLeast } from '../src/features/feature.js';
import { ARENA } from '../src/features/maps.js';
import { LDIMM64_FULL_RANGE_OFF } from '../src/features/programs.js';
import { loadObject, type TraceEvent } from '../src/loader/index.js';
import { MapDefinitionError } from '../src/object/errors.js';
import { loadObjectSpec } from '../src/object/index.js';
import { mappedAddress, pageSize } from '../src/sys/mmap.js';
import { SyscallError } from '../src/sys/error.js';
import { need, needKernel, needRoot, TESTDATA } from './helpers.js';

const OBJ = join(TESTDATA, 'arena-el.o');

interface ArenaGlobals {
  counter: number;
  origin: { x: number; y: number };
  values: BigUint64Array;
  page: bigint;
}

test('the spec: .addr_space.1 is the arena map’s initial contents; its variables are settable before load', () => {
  for (const e of ['el', 'eb']) {
    const spec = loadObjectSpec(join(TESTDATA, `arena-${e}.o`));
    const arena = spec.maps.find((m) => m.type === MapType.ARENA);
    assert.ok(arena, 'an arena map');
    assert.equal(arena.name, 'arena');
    assert.equal(arena.maxEntries, 16);
    assert.equal(arena.contents?.length, 56, 'the section: counter, origin, values[4], page');
    const g = spec.globals<ArenaGlobals>('.addr_space.1');
    assert.equal(g.counter, 7);
    assert.deepEqual(g.origin, { x: 3, y: 4 });
    assert.deepEqual([...g.values], [0n, 0n, 0n, 0n]);
    g.counter = 41;
    assert.equal(g.counter, 41);
    // Each reference to a global is an offset into the section, on the arena map.
    const refs = spec.programs[0]!.instructions.flatMap((i) => (i.reference ? [i.reference] : []));
    assert.deepEqual(
      refs.filter((r) => r.kind === 'data'),
      [
        { kind: 'data', map: 'arena', offset: 0, symbol: 'counter' },
        { kind: 'data', map: 'arena', offset: 4, symbol: 'origin' },
        { kind: 'data', map: 'arena', offset: 16, symbol: 'values' },
        { kind: 'data', map: 'arena', offset: 48, symbol: 'page' },
      ],
    );
    assert.ok(
      refs.some((r) => r.kind === 'map' && r.map === 'arena'),
      'bpf_arena_alloc_pages(&arena, ...)',
    );
  }
});

test('the spec refuses what libbpf refuses: two arenas, or __arena globals without an arena', () => {
  assert.throws(
    () => loadObjectSpec(join(TESTDATA, 'arena_two_maps-el.o')),
    (e: unknown) => {
      assert.ok(e instanceof MapDefinitionError);
      assert.match(e.message, /only one BPF_MAP_TYPE_ARENA map is supported \('arena_one' and 'arena_two'\)/);
      return true;
    },
  );
  assert.throws(
    () => loadObjectSpec(join(TESTDATA, 'arena_no_map-el.o')),
    (e: unknown) => {
      assert.ok(e instanceof MapDefinitionError);
      assert.equal(e.location.section, '.addr_space.1');
      assert.match(e.message, /need a BPF_MAP_TYPE_ARENA map/);
      return true;
    },
  );
});

/** Whether this kernel makes arenas: true, false (too old), or why it would not say. */
function arenaSupport(): boolean | string {
  try {
    return haveFeature(ARENA);
  } catch (e) {
    if (e instanceof SyscallError)
      return `this host refuses BPF_MAP_TYPE_ARENA (${e.code}) although its kernel has it`;
    throw e;
  }
}

function needArena(t: TestContext): boolean {
  if (!needRoot(t)) return false;
  const s = arenaSupport();
  if (typeof s === 'string') return needKernel(t, false, s);
  // An older kernel is no failure, even under CI: the test above checks what it says instead.
  if (!s && !versionAtLeast(release(), '6.9')) {
    t.skip(`BPF_MAP_TYPE_ARENA needs Linux 6.9 (this is ${release()})`);
    return false;
  }
  return need(t, s, 'BPF_MAP_TYPE_ARENA needs Linux 6.9');
}

test('on a kernel without arenas, the load fails naming Linux 6.9', (t) => {
  if (!needRoot(t)) return;
  const s = arenaSupport();
  if (s !== false) {
    t.skip(s === true ? 'this kernel has arenas' : s);
    return;
  }
  assert.throws(
    () => loadObject(OBJ),
    (e: unknown) => {
      assert.ok(e instanceof NotSupportedError, String(e));
      assert.match(e.message, /BPF_MAP_TYPE_ARENA needs Linux 6\.9/);
      assert.equal(e.location.map, 'arena');
      return true;
    },
  );
});

test('a program writes __arena globals and an allocated page; JavaScript reads them from the mapped arena', (t) => {
  if (!needArena(t)) return;
  const events: TraceEvent[] = [];
  using obj = loadObject(OBJ, { trace: (e) => events.push(e) });
  const page = pageSize();
  const memory = obj.map('arena').memory();
  assert.equal(memory.byteLength, 16 * page, 'the whole arena, max_entries pages');
  const base = mappedAddress(memory);

  // Where the globals went: the start, or the last pages where ld_imm64 takes any offset (libbpf).
  const atEnd = haveFeature(LDIMM64_FULL_RANGE_OFF);
  const offset = atEnd ? 15 * page : 0;
  assert.equal(obj.maps.get('arena')?.arena?.globalsOffset, offset);
  const g = obj.arena as unknown as ArenaGlobals;
  assert.equal(g.counter, 7, 'the initial value, copied into the arena at load');
  assert.equal(new DataView(memory).getInt32(offset, true), 7);

  // The loader's relocations: each global's offset in the section, plus where the section went.
  const relocated = events.flatMap((e) =>
    e.kind === 'relocation' && e.reference.kind === 'data' ? [Number(/ \+ (\d+)$/.exec(e.after)?.[1])] : [],
  );
  assert.deepEqual(
    relocated,
    [0, 4, 16, 48].map((o) => o + offset),
  );
  assert.ok(
    events.some(
      (e) =>
        e.kind === 'map-init' &&
        e.name === 'arena' &&
        e.what.startsWith(`arena mapped at 0x${base.toString(16)} `),
    ),
  );

  const r = obj.program('arena_write').testRun();
  assert.equal(r.retval, 0, 'bpf_arena_alloc_pages gave a page');
  assert.equal(g.counter, 8);
  assert.deepEqual(g.origin, { x: 7, y: 4 });
  assert.deepEqual([...g.values], [0x1122334455667788n, 0n, 0n, 8n]);
  // The page pointer the program stored is a user address inside this process's mapping.
  const p = g.page;
  assert.ok(
    p >= base && p < base + BigInt(16 * page),
    `page 0x${p.toString(16)} in the arena at 0x${base.toString(16)}`,
  );
  const at = Number(p - base);
  assert.equal(at % page, 0);
  const view = new DataView(memory, at, 16);
  assert.equal(view.getBigUint64(0, true), 0xabcdefn);
  assert.equal(view.getBigUint64(8, true), p, 'the program saw the same address');

  // Writes from JavaScript reach the program: the counter goes on from what JS stored.
  g.counter = 100;
  assert.equal(obj.program('arena_write').testRun().retval, 0);
  assert.equal(g.counter, 101);
  assert.equal(g.values[3], 101n);

  // What the kernel kept: the verifier turns each global's ld_imm64 into its user address (the
  // arena's start, where it is mapped here, plus the global's offset), which the JIT maps into
  // the arena's kernel memory.
  const info = obj.program('arena_write').info({ xlated: true });
  const insns = decode(info.xlatedInsns!, true);
  const addresses = insns
    .filter((i) => i.opcode === 0x18 && i.src === 0)
    .map((i) => i.imm64 - base)
    .filter((o) => o >= 0n && o < BigInt(16 * page));
  assert.deepEqual(
    addresses,
    [0, 4, 16, 48].map((o) => BigInt(o + offset)),
  );
});
