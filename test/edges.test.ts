// Bad input at the edges: every function and class the package exports (src/index.ts), called
// with generated wrong values (wrong types, negative, huge, fractional and NaN numbers, bigints,
// symbols, functions, arrays, odd objects), either works or throws the project's typed error:
// never a TypeError or RangeError from inside, never a descriptor left open. Then handles used
// after close and maps of the wrong kind. Small non-negative integers are never generated: they
// could be real descriptors of this process, which a fuzzed call might close.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import * as api from '../src/index.js';
import { EbpfError } from '../src/errors.js';
import { bpfDescriptors, needRoot } from './helpers.js';

const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    undefined,
    null,
    -1,
    -0x80000000,
    2 ** 32,
    2 ** 53,
    Number.MAX_VALUE,
    NaN,
    Infinity,
    -Infinity,
    1.5,
    -1n,
    2n ** 64n,
    '',
    'nope',
    '/nonexistent/ebpf',
    '\0',
    true,
    false,
  ),
  fc.integer({ min: -(2 ** 31), max: -1 }),
  fc.integer({ min: 100_000, max: 2 ** 31 - 1 }),
  fc.double({ noDefaultInfinity: false }).filter((d) => !Number.isInteger(d) || d < 0 || d > 100_000),
  fc.bigInt(),
  fc.string(),
  fc.constant(Symbol('wrong')),
  fc.constant(() => 1),
  fc.uint8Array({ maxLength: 16 }),
  fc.array(fc.constantFrom(1, 'a', null), { maxLength: 3 }),
  fc.constant(Object.create(null) as object),
  fc.constant({ fd: -1 }),
  fc.constant({ fd: { fd: -1, closed: true } }),
  fc.constant({ kind: 'nope', type: -1, name: 5 }),
);

/** Exported classes constructed by the library itself (open/attach/load make them), not by callers. */
const MADE_BY_THE_LIBRARY = new Set([
  'BpfMap',
  'LoadedObject',
  'PerfBuffer',
  'RingBuffer',
  'UserRingBuffer',
  'EventReader',
  'Program',
  'TcFilter',
  'UprobeLink',
  'KprobeLink',
  'PerfEventLink',
  'ProbeLink',
  'CgroupProgAttachment',
]);
/** Fd takes any descriptor number and closes it: fuzzing it would close this process's files. */
const SKIPPED = new Set(['Fd', 'E', 'errnoName']);

type Call = { label: string; f: (args: unknown[]) => unknown };

function calls(): Call[] {
  const out: Call[] = [];
  for (const [name, v] of Object.entries(api)) {
    if (typeof v !== 'function' || SKIPPED.has(name)) continue;
    const isClass = /^class /.test(Function.prototype.toString.call(v));
    if (!isClass) {
      out.push({ label: name, f: (a) => (v as (...x: unknown[]) => unknown)(...a) });
      continue;
    }
    // Errors are made by the library; constructing one is no input edge.
    if (v === EbpfError || v.prototype instanceof EbpfError || v.prototype instanceof Error) continue;
    if (!MADE_BY_THE_LIBRARY.has(name))
      out.push({ label: `new ${name}`, f: (a) => new (v as new (...x: unknown[]) => unknown)(...a) });
    for (const k of Object.getOwnPropertyNames(v)) {
      const f = (v as unknown as Record<string, unknown>)[k];
      if (typeof f === 'function' && k !== 'prototype')
        out.push({ label: `${name}.${k}`, f: (a) => (f as (...x: unknown[]) => unknown).apply(v, a) });
    }
  }
  return out;
}

test('every export, given wrong values, works or throws a typed error, leaving no descriptor', async (t) => {
  const list = calls();
  assert.ok(list.length > 40, `${list.length} calls found`);
  const before = bpfDescriptors().length;
  const untyped = new Map<string, string>();
  let tried = 0;
  for (const { label, f } of list) {
    fc.assert(
      fc.property(fc.array(wrongValue, { minLength: 0, maxLength: 4 }), (args) => {
        tried++;
        try {
          // What a call returns is the caller's to close (enableStats' descriptor, a handle).
          const close = (r: unknown): void => {
            if (typeof (r as { close?: unknown } | null)?.close === 'function')
              (r as { close(): void }).close();
          };
          const r = f(args);
          if (r instanceof Promise) r.then(close, () => {});
          else close(r);
        } catch (e) {
          if (!(e instanceof EbpfError) && !untyped.has(label))
            untyped.set(
              label,
              `${String((e as Error)?.name)}: ${String((e as Error)?.message)} (args ${args.map((a) => typeof a).join(', ')})`,
            );
        }
      }),
      { numRuns: 60, seed: 0xed9e },
    );
  }
  await new Promise((r) => setTimeout(r, 100));
  t.diagnostic(`${list.length} calls, ${tried} tries`);
  assert.deepEqual(Object.fromEntries(untyped), {});
  assert.equal(bpfDescriptors().length, before, 'bpf descriptors left open');
});

test('handles used after close, and maps of the wrong kind: typed errors', (t) => {
  if (!needRoot(t)) return;
  const before = bpfDescriptors().length;
  const array = api.BpfMap.create({
    type: api.MapType.ARRAY,
    keySize: 4,
    valueSize: 8,
    maxEntries: 4,
    name: `edge${process.pid % 1000}`,
  });
  // Wrong kinds: an array map is no ring buffer, perf buffer or user ring buffer.
  for (const open of [
    () => api.RingBuffer.open(array),
    () => api.PerfBuffer.open(array),
    () => api.UserRingBuffer.open(array),
  ])
    assert.throws(
      open,
      (e) => e instanceof EbpfError && /is a BPF_MAP_TYPE_ARRAY, not a BPF_MAP_TYPE_/.test(e.message),
    );
  // Keys and values of the wrong size or type.
  for (const [key, value] of [
    [new Uint8Array(3), new Uint8Array(8)],
    [0, new Uint8Array(7)],
    [-1, 0n],
    [2 ** 40, 0n],
    ['x', 0n],
  ] as const)
    assert.throws(
      () => array.update(key, value),
      (e) => e instanceof EbpfError,
      `update(${String(key)})`,
    );
  array.close();
  // After close: every use is a typed error, and close again is harmless.
  for (const [what, use] of [
    ['lookup', () => array.lookup(0)],
    ['update', () => array.update(0, new Uint8Array(8))],
    ['delete', () => array.delete(0)],
    ['keys', () => [...array.keys()]],
    ['info', () => array.info()],
    ['RingBuffer.open', () => api.RingBuffer.open(array)],
  ] as const)
    assert.throws(use, (e) => e instanceof EbpfError, what);
  array.close();
  assert.equal(bpfDescriptors().length, before);
});

/** BpfMap's public methods (the rest of its prototype is the library's own plumbing). */
const MAP_METHODS = [
  'info',
  'lookup',
  'lookupBytes',
  'update',
  'delete',
  'lookupAndDelete',
  'nextKey',
  'keys',
  'rawKeys',
  'entries',
  'values',
  'rawEntries',
  'lookupBatch',
  'lookupAndDeleteBatch',
  'updateBatch',
  'deleteBatch',
  'push',
  'pop',
  'peek',
  'freeze',
  'innerMap',
  'pin',
  'memory',
] as const;

/** Arguments a caller might plausibly pass: none, keys and values of the right and wrong size. */
function argSets(pin: string): unknown[][] {
  return [
    [],
    [0],
    [0, new Uint8Array(8)],
    [new Uint8Array(4), new Uint8Array(8)],
    [new Uint8Array(4), new Uint8Array(8), 'noexist'],
    [
      [0, 1],
      [new Uint8Array(8), new Uint8Array(8)],
    ],
    [new Uint8Array(8)],
    ['x'],
    [pin],
  ];
}

/** Calls `f`: its result is consumed (iterators walked, promises awaited); a typed error or nothing. */
async function outcome(f: () => unknown): Promise<'ok' | 'typed' | string> {
  try {
    let r = f();
    if (r instanceof Promise) r = await r;
    if (r !== null && typeof r === 'object' && Symbol.iterator in r && !ArrayBuffer.isView(r))
      for (const x of r as Iterable<unknown>) void x;
    return 'ok';
  } catch (e) {
    return e instanceof EbpfError ? 'typed' : `${(e as Error)?.name}: ${(e as Error)?.message}`;
  }
}

test('every map method on maps of every common kind, then on them closed; programs, objects and readers after close', async (t) => {
  if (!needRoot(t)) return;
  const pinDir = `/sys/fs/bpf/ebpf_test_${process.pid}_edges`;
  const { mkdirSync, readdirSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { TESTDATA, kernelIds, kernelObjectsLeft } = await import('./helpers.js');
  mkdirSync(pinDir, { recursive: true });
  const before = bpfDescriptors().length;
  const ids = kernelIds();
  const M = api.MapType;
  const kinds: [string, api.MapCreateOptions][] = [
    ['ARRAY', { type: M.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 }],
    ['HASH', { type: M.HASH, keySize: 4, valueSize: 8, maxEntries: 4 }],
    ['PERCPU_HASH', { type: M.PERCPU_HASH, keySize: 4, valueSize: 8, maxEntries: 4 }],
    ['LRU_HASH', { type: M.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 4 }],
    ['QUEUE', { type: M.QUEUE, keySize: 0, valueSize: 8, maxEntries: 4 }],
    ['STACK', { type: M.STACK, keySize: 0, valueSize: 8, maxEntries: 4 }],
    ['RINGBUF', { type: M.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 }],
    ['PROG_ARRAY', { type: M.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4 }],
    ['BLOOM_FILTER', { type: M.BLOOM_FILTER, keySize: 0, valueSize: 8, maxEntries: 4 }],
    ['LPM_TRIE', { type: M.LPM_TRIE, keySize: 8, valueSize: 8, maxEntries: 4, flags: 1 }],
  ];
  const untyped: string[] = [];
  const worked: string[] = [];
  let calls = 0;
  for (const [kind, o] of kinds) {
    const map = api.BpfMap.create(o);
    const args = argSets(join(pinDir, kind));
    for (const m of MAP_METHODS)
      for (const a of args) {
        calls++;
        const f = (map as unknown as Record<string, (...x: unknown[]) => unknown>)[m]!;
        const r = await outcome(() => f.apply(map, a));
        if (r !== 'ok' && r !== 'typed') untyped.push(`${kind}.${m}(${a.length} args): ${r}`);
      }
    // Pins made by pin(path) are the test's: gone before the closed round.
    rmSync(join(pinDir, kind), { force: true });
    map.close();
    // Closed: every method is a typed error, whatever its arguments.
    for (const m of MAP_METHODS)
      for (const a of args) {
        calls++;
        const f = (map as unknown as Record<string, (...x: unknown[]) => unknown>)[m]!;
        const r = await outcome(() => f.apply(map, a));
        if (r === 'ok') worked.push(`closed ${kind}.${m}(${a.length} args)`);
        else if (r !== 'typed') untyped.push(`closed ${kind}.${m}(${a.length} args): ${r}`);
      }
    assert.doesNotThrow(() => map.close());
  }
  // A loaded object, its program and its ring buffer reader, used after close.
  const obj = api.loadObject(join(TESTDATA, 'events-el.o'), { programs: ['ring_output'] });
  const prog = obj.program('ring_output');
  const ring = api.RingBuffer.open(obj.map('ring'));
  const progPin = join(pinDir, 'prog');
  ring.close();
  obj.close();
  const afterClose: [string, () => unknown][] = [
    ['Program.fd', () => prog.fd],
    ['Program.info', () => prog.info()],
    ['Program.testRun', () => prog.testRun({ dataIn: new Uint8Array(64) })],
    ['Program.pin', () => prog.pin(progPin)],
    ['LoadedObject.program', () => obj.program('ring_output')],
    ['LoadedObject.map', () => obj.map('ring')],
    ['LoadedObject.globals', () => obj.globals('.rodata')],
    ['RingBuffer.readAvailable', () => ring.readAvailable()],
    ['RingBuffer.onData', () => ring.onData(() => {})],
  ];
  for (const [what, f] of afterClose) {
    calls++;
    const r = await outcome(f);
    if (r === 'ok') worked.push(`closed ${what}`);
    else if (r !== 'typed') untyped.push(`closed ${what}: ${r}`);
  }
  // poll() after close resolves empty, as documented (a poll loop racing close ends quietly).
  assert.deepEqual(await ring.poll(10), []);
  for (const close of [() => prog.close(), () => obj.close(), () => ring.close()]) assert.doesNotThrow(close);
  t.diagnostic(`${calls} calls on ${kinds.length} map kinds and closed handles`);
  const pinsLeft = readdirSync(pinDir);
  rmSync(pinDir, { recursive: true, force: true });
  assert.deepEqual(untyped, [], 'errors that are not the project’s');
  assert.deepEqual(worked, [], 'uses of a closed handle that did not fail');
  assert.deepEqual(pinsLeft, [], 'pins left');
  assert.equal(bpfDescriptors().length, before, 'descriptors left open');
  assert.deepEqual(await kernelObjectsLeft(ids), [], 'kernel objects left');
});
