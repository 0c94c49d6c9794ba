// src/internal's small shared pieces: C strings in byte buffers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText, readCString } from '../src/internal/cstring.js';
import { BinaryReader } from '../src/internal/reader.js';
import { FormatError } from '../src/errors.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

test('readCString stops at the first NUL, or at the end when there is none', () => {
  assert.equal(readCString(bytes('GPL\0junk\0')), 'GPL');
  assert.equal(readCString(bytes('abc\0def\0'), 4), 'def');
  assert.equal(readCString(bytes('no terminator')), 'no terminator');
  assert.equal(readCString(bytes('\0')), '');
  assert.equal(readCString(new Uint8Array(0)), '');
  // The ASCII fast path and the UTF-8 decoder agree with TextDecoder, short and long.
  for (const s of ['ünïcödé', 'x'.repeat(100) + 'é', 'a'.repeat(63), 'a'.repeat(64)]) {
    assert.equal(readCString(bytes(`${s}\0tail`)), s);
    assert.equal(decodeText(bytes(s)), new TextDecoder().decode(bytes(s)));
  }
});

test('BinaryReader.cstring refuses a string that runs off the end', () => {
  const r = new BinaryReader(bytes('ab\0cd'), true, { file: 'f' }, (m, loc) => new FormatError(m, loc));
  assert.equal(r.cstring(0), 'ab');
  assert.equal(r.cstring(2), '');
  assert.throws(
    () => r.cstring(3),
    (e: unknown) => e instanceof FormatError && /unterminated string/.test(e.message),
  );
  assert.throws(() => r.cstring(6), FormatError);
});
