// The BTF graph walk every formatter, codec and CO-RE step relies on: which kinds qualify, what
// skipQualifiers follows (and where it stops on a loop), and the ids each kind refers to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder } from '../src/btf/builder.js';
import { BTF_INT_SIGNED } from '../src/btf/types.js';
import { MAX_TYPE_CHAIN, skipQualifiers, skips, typeRefs } from '../src/btf/walk.js';

function sample(): { btf: Btf; ids: Record<string, number> } {
  const b = new BtfBuilder();
  const int = b.add({ kind: 'INT', name: 'int', size: 4, encoding: BTF_INT_SIGNED, bitsOffset: 0, bits: 32 });
  const cnst = b.add({ kind: 'CONST', name: '', type: int });
  const tag = b.add({ kind: 'TYPE_TAG', name: 'user', type: cnst });
  const td = b.add({ kind: 'TYPEDEF', name: 'myint', type: tag });
  const vol = b.add({ kind: 'VOLATILE', name: '', type: td });
  const arr = b.add({ kind: 'ARRAY', name: '', type: vol, indexType: int, nelems: 4 });
  const st = b.add({
    kind: 'STRUCT',
    name: 's',
    size: 24,
    kindFlag: false,
    members: [
      { name: 'a', type: int, bitsOffset: 0, bitfieldSize: 0 },
      { name: 'b', type: arr, bitsOffset: 32, bitfieldSize: 0 },
    ],
  });
  const ptr = b.add({ kind: 'PTR', name: '', type: st });
  const proto = b.add({ kind: 'FUNC_PROTO', name: '', returnType: int, params: [{ name: 'p', type: ptr }] });
  const v = b.add({ kind: 'VAR', name: 'v', type: vol, linkage: 1 });
  const sec = b.add({ kind: 'DATASEC', name: '.data', size: 4, vars: [{ type: v, offset: 0, size: 4 }] });
  // A loop of two consts.
  const loopA = b.add({ kind: 'CONST', name: '', type: 0 });
  const loopB = b.add({ kind: 'CONST', name: '', type: loopA });
  const btf = Btf.parse(b.build());
  return { btf, ids: { int, cnst, tag, td, vol, arr, st, ptr, proto, v, sec, loopA, loopB } };
}

test('skipQualifiers follows qualifiers, and typedefs and VARs only when asked', () => {
  const { btf, ids } = sample();
  const type = (id: number): ReturnType<Btf['type']> => btf.type(id);
  assert.equal(skipQualifiers(type, ids.vol!).id, ids.td);
  assert.equal(skipQualifiers(type, ids.vol!, { typedefs: true }).id, ids.int);
  assert.equal(
    skipQualifiers(type, ids.v!, { typedefs: true }).id,
    ids.v,
    'a VAR is not followed by default',
  );
  assert.equal(skipQualifiers(type, ids.v!, { typedefs: true, vars: true }).id, ids.int);
  assert.equal(btf.resolve(ids.vol!).id, ids.int);
  assert.ok(
    skips(btf.type(ids.tag!)) && !skips(btf.type(ids.td!)) && skips(btf.type(ids.td!), { typedefs: true }),
  );
});

test('a qualifier loop stops after MAX_TYPE_CHAIN steps where skips() still holds, and resolve() refuses it', () => {
  // Patch the first loop CONST to point at the second: CONST -> CONST -> CONST ...
  const { btf, ids } = sample();
  const type = (id: number): ReturnType<Btf['type']> => {
    const t = btf.type(id);
    return id === ids.loopA && t.kind === 'CONST' ? { ...t, type: ids.loopB! } : t;
  };
  let reads = 0;
  const t = skipQualifiers((id) => (reads++, type(id)), ids.loopB!);
  assert.ok(skips(t));
  assert.equal(reads, MAX_TYPE_CHAIN + 1);
});

test('typeRefs lists every id a type refers to, in record order', () => {
  const { btf, ids } = sample();
  const refs = (id: number): number[] => typeRefs(btf.type(id));
  assert.deepEqual(refs(ids.int!), []);
  assert.deepEqual(refs(ids.cnst!), [ids.int]);
  assert.deepEqual(refs(ids.td!), [ids.tag]);
  assert.deepEqual(refs(ids.arr!), [ids.vol, ids.int]);
  assert.deepEqual(refs(ids.st!), [ids.int, ids.arr]);
  assert.deepEqual(refs(ids.ptr!), [ids.st]);
  assert.deepEqual(refs(ids.proto!), [ids.int, ids.ptr]);
  assert.deepEqual(refs(ids.v!), [ids.vol]);
  assert.deepEqual(refs(ids.sec!), [ids.v]);
  assert.deepEqual(typeRefs(btf.type(0)), []);
});
