// Fuzzing: random byte flips, word overwrites and truncations of real .BTF and .BTF.ext blobs must
// only ever produce BtfError (never a TypeError, RangeError or a hang). Seeded, so failures repeat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BtfError } from '../src/errors.js';
import { Btf } from '../src/btf/btf.js';
import { parseBtfExt } from '../src/btf/ext.js';
import { formatRaw } from '../src/btf/format-raw.js';
import { formatTree } from '../src/btf/format-tree.js';
import { parseElf } from '../src/elf/index.js';
import { TESTDATA } from './helpers.js';
import { prng } from '../scripts/fuzz/engine.js';

const INTERESTING = [0, 1, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 12, 0x0d000005, 0x84000002];

function mutate(src: Uint8Array, rnd: () => number): Uint8Array {
  const b = src.slice();
  const view = new DataView(b.buffer);
  const n = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < n; i++) {
    const op = rnd();
    if (op < 0.4) {
      const at = Math.floor(rnd() * b.length);
      b[at] = b[at]! ^ (1 << Math.floor(rnd() * 8));
    } else if (op < 0.8 && b.length >= 4) {
      const at = Math.floor(rnd() * (b.length - 3)) & ~3;
      view.setUint32(at, INTERESTING[Math.floor(rnd() * INTERESTING.length)]!, rnd() < 0.5);
    } else if (op < 0.9) {
      // Mostly the header: that is where lengths and offsets live.
      const at = Math.floor(rnd() * Math.min(32, b.length - 3));
      if (at >= 0) view.setUint32(at, Math.floor(rnd() * 0x100000000), true);
    } else {
      return b.subarray(0, Math.floor(rnd() * b.length));
    }
  }
  return b;
}

/** Touch everything a consumer might: every type, lookups, sizes, formatters, marshal. */
function exercise(btf: Btf): void {
  for (const id of btf.ids()) {
    btf.type(id);
    try {
      btf.sizeof(id);
    } catch (e) {
      if (!(e instanceof BtfError)) throw e;
    }
    try {
      btf.alignof(id);
    } catch (e) {
      if (!(e instanceof BtfError)) throw e;
    }
  }
  btf.findByName('int');
  btf.findByKind('STRUCT');
  formatRaw(btf);
  formatTree(btf);
  Btf.parse(btf.marshal());
}

function expectOnlyBtfError(what: string, fn: () => void): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (e instanceof BtfError) return false;
    assert.fail(`${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }
}

function sections(file: string): { btf: Uint8Array; ext: Uint8Array } {
  const b = readFileSync(join(TESTDATA, file));
  const elf = parseElf(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), file);
  return { btf: elf.section('.BTF')!.data(), ext: elf.section('.BTF.ext')!.data() };
}

const ITERATIONS = 1500;

test('mutated .BTF: only BtfError', () => {
  for (const file of ['flow-el.o', 'types-eb.o', 'calls-el.o']) {
    const { btf } = sections(file);
    const rnd = prng(0xb7f + file.length);
    let ok = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const m = mutate(btf, rnd);
      if (expectOnlyBtfError(`${file} iteration ${i}`, () => exercise(Btf.parse(m)))) ok++;
    }
    // Some mutations must survive parsing, or the exercise above never ran.
    assert.ok(ok > ITERATIONS / 20, `${file}: ${ok} of ${ITERATIONS} mutants parsed`);
  }
});

test('mutated .BTF.ext: only BtfError', () => {
  for (const file of ['calls-el.o', 'calls-eb.o', 'flow-eb.o']) {
    const { btf, ext } = sections(file);
    const base = Btf.parse(btf);
    const rnd = prng(0xe47 + file.length);
    let ok = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const m = mutate(ext, rnd);
      if (expectOnlyBtfError(`${file} iteration ${i}`, () => parseBtfExt(m, base))) ok++;
    }
    assert.ok(ok > ITERATIONS / 20, `${file}: ${ok} of ${ITERATIONS} mutants parsed`);
  }
});

test('every truncation of a small .BTF is a BtfError', () => {
  const { btf } = sections('flow-el.o');
  for (let len = 0; len < btf.length; len++) {
    assert.throws(() => exercise(Btf.parse(btf.subarray(0, len))), BtfError, `length ${len}`);
  }
});
