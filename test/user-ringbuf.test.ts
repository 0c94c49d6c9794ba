// The user ring buffer (BPF_MAP_TYPE_USER_RINGBUF, Linux 6.1): records JavaScript writes are
// drained by testdata/user_ringbuf.c's XDP program (bpf_user_ringbuf_drain) in order, each once,
// with discarded ones skipped and an unsubmitted one holding back those after it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { UserRingBuffer } from '../src/events/index.js';
import { EbpfError } from '../src/errors.js';
import { loadObject, type LoadedObject } from '../src/loader/index.js';
import { haveFeature } from '../src/features/feature.js';
import { USER_RINGBUF } from '../src/features/maps.js';
import { needRoot, need, TESTDATA } from './helpers.js';

const OBJ = join(TESTDATA, 'user_ringbuf-el.o');

interface Counters {
  drained: bigint;
  value_sum: bigint;
  next_seq: number;
  out_of_order: number;
  last_ret: bigint;
}

function open(t: Parameters<typeof need>[0]): LoadedObject | undefined {
  if (!needRoot(t)) return undefined;
  if (!need(t, haveFeature(USER_RINGBUF), 'BPF_MAP_TYPE_USER_RINGBUF needs Linux 6.1')) return undefined;
  return loadObject(OBJ);
}

function drain(obj: LoadedObject): Counters {
  assert.equal(obj.program('drain_user_rb').testRun({ dataIn: new Uint8Array(64) }).retval, 2);
  return { ...(obj.bss as unknown as Counters) };
}

test('records written from JS are drained by the program in order, each once; typed through BTF', (t) => {
  const obj = open(t);
  if (!obj) return;
  try {
    using rb = UserRingBuffer.open(obj.map('user_rb')).encodeWith<{ seq: number; value: number }>(
      obj.spec.btf!,
      'struct user_msg',
    );
    assert.equal(rb.size, 4 * 4096);
    let sent = 0;
    let sum = 0n;
    // 16 bytes a record (8 of header): 1024 fill the ring; three rounds wrap it.
    for (let round = 0; round < 3; round++) {
      let n = 0;
      while (rb.write({ seq: sent, value: sent * 3 })) {
        sum += BigInt(sent * 3);
        sent++;
        n++;
      }
      assert.equal(n, 1024, 'a full ring takes 1024 records of 16 bytes');
      assert.equal(rb.available(), 0);
      const c = drain(obj);
      assert.equal(rb.available(), rb.size);
      assert.equal(c.drained, BigInt(sent));
      assert.equal(c.value_sum, sum);
      assert.equal(c.out_of_order, 0);
      assert.equal(c.next_seq, sent);
      assert.equal(c.last_ret, 1024n);
    }
  } finally {
    obj.close();
  }
});

test('a discarded record is skipped; an unsubmitted one holds back the drain until submitted', (t) => {
  const obj = open(t);
  if (!obj) return;
  try {
    using rb = UserRingBuffer.open(obj.map('user_rb'));
    const rec = (seq: number, value: number): Uint8Array => {
      const b = new Uint8Array(8);
      const v = new DataView(b.buffer);
      v.setUint32(0, seq, true);
      v.setUint32(4, value, true);
      return b;
    };
    assert.ok(rb.write(rec(0, 10)));
    const skipped = rb.reserve(8)!;
    skipped.data.set(rec(99, 1000));
    skipped.discard();
    assert.throws(() => skipped.submit(), EbpfError);
    const held = rb.reserve(8)!;
    held.data.set(rec(1, 20));
    assert.ok(rb.write(rec(2, 30)));
    let c = drain(obj);
    assert.equal(c.drained, 1n, 'only the record before the busy one');
    assert.equal(c.value_sum, 10n);
    held.submit();
    c = drain(obj);
    assert.equal(c.drained, 3n);
    assert.equal(c.value_sum, 60n);
    assert.equal(c.out_of_order, 0);
    // Nothing left: the drain returns 0.
    c = drain(obj);
    assert.equal(c.last_ret, 0n);
    // A busy record at the head: the drain takes nothing and says so (0, as for an empty ring).
    const busy = rb.reserve(8)!;
    busy.data.set(rec(3, 1));
    c = drain(obj);
    assert.equal(c.last_ret, 0n);
    assert.equal(c.drained, 3n);
    busy.submit();
    assert.equal(drain(obj).drained, 4n);
    assert.throws(() => rb.reserve(rb.size), /does not fit/);
    rb.close();
    rb.close();
    assert.throws(() => rb.reserve(8), /closed/);
  } finally {
    obj.close();
  }
});

test('a writer refuses a map that is not a user ring buffer', (t) => {
  const obj = open(t);
  if (!obj) return;
  try {
    assert.throws(() => UserRingBuffer.open(obj.map('user_rin.bss')), /not a BPF_MAP_TYPE_USER_RINGBUF/);
  } finally {
    obj.close();
  }
});
