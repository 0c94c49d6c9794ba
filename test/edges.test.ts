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
