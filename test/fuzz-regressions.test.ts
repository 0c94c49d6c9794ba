// Inputs the fuzzer found (test/fuzz-corpus/<target>/<what>), kept after their fix: each is run
// through its target again (typed errors only, properties hold), and each finding's own behaviour
// is asserted: the error, and where it points.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Btf } from '../src/btf/btf.js';
import { CodecError, codecFor } from '../src/btf/codec.js';
import { CoreError } from '../src/core/errors.js';
import { resolveRelocation } from '../src/core/resolve.js';
import { btfTarget } from '../src/core/target.js';
import { parseKernelBtf } from '../src/btf/kernel.js';
import { formatC } from '../src/btf/format-c.js';
import { BtfError, EbpfError } from '../src/errors.js';
import { parseElf } from '../src/elf/elf.js';
import { objectSpecFromElf } from '../src/object/object.js';
import { ObjectError } from '../src/object/errors.js';
import { loadObject } from '../src/loader/index.js';
import { LoadError } from '../src/loader/errors.js';
import { BpfCmd } from '../src/sys/bpf-attr.generated.js';
import { E } from '../src/sys/errno.js';
import { setSyscallFault } from '../src/sys/native.js';
import { unpack } from '../scripts/fuzz/raw.js';
import { coreRecords, targetNamed } from '../scripts/fuzz/targets.js';
import { needRoot, ROOT } from './helpers.js';

const CORPUS = join(ROOT, 'test', 'fuzz-corpus');
const read = (target: string, name: string): Uint8Array =>
  new Uint8Array(readFileSync(join(CORPUS, target, name)));

test('every committed fuzz input runs through its target with typed errors only', async () => {
  const dirs = readdirSync(CORPUS);
  assert.ok(dirs.length > 0);
  for (const dir of dirs) {
    const target = targetNamed(dir);
    if (target.name === 'load') continue; // needs root and the kernel: test/fuzz-targets.test.ts
    target.setup?.();
    for (const name of readdirSync(join(CORPUS, dir))) {
      try {
        await target.run(read(dir, name));
      } catch (e) {
        assert.ok(
          e instanceof EbpfError,
          `${dir}/${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        );
      }
    }
    target.teardown?.();
  }
});

test('btf-format/member-past-struct-end: the C formatter refuses it instead of writing 14 MiB of padding', () => {
  const btf = Btf.parse(read('btf-format', 'member-past-struct-end'));
  assert.throws(
    () => formatC(btf),
    (e) =>
      e instanceof BtfError &&
      e.location.typeId === 2 &&
      /member ingress_ifindex of struct \[2\] starts at bit 117440512, past its end \(24 bytes\)/.test(
        e.message,
      ),
  );
});

/** The codec input: BTF, the type id, the value bytes. */
function codecInput(name: string): { btf: Btf; id: number; value: Uint8Array } {
  const [b, id, value] = unpack(read('codec', name), 3) as [Uint8Array, Uint8Array, Uint8Array];
  return { btf: Btf.parse(b), id: new DataView(id.buffer, id.byteOffset).getUint32(0, true), value };
}

test('codec: members past the end of their struct are refused when the codec is made (they read past the value)', () => {
  for (const name of ['member-past-struct-end', 'int64-past-struct-end']) {
    const { btf, id } = codecInput(name);
    assert.throws(
      () => codecFor(btf, id),
      (e) =>
        e instanceof CodecError &&
        e.location.typeId !== undefined &&
        /ends at byte \d+, past the (struct|union)'s \d+ bytes/.test(e.message),
      name,
    );
  }
});

test('codec: struct members that share bits are refused (encode then decode changed them)', () => {
  // A bool over a pointer's first bytes; and a bitfield the damage made 499776 bits wide (it read
  // past the value) over the members after it.
  for (const [name, what] of [
    ['overlapping-members', /member 'f0' \(bits 0\.\.64\) overlaps member 'f6' \(bits 0\.\.16\)/],
    ['bitfield-past-struct-end', /member 'f2' \(bits 96\.\.128\) overlaps member 'f1' \(bits 16\.\.499792\)/],
  ] as const) {
    const { btf, id } = codecInput(name);
    assert.throws(
      () => codecFor(btf, id),
      (e) => e instanceof CodecError && e.location.typeId === 11 && what.test(e.message),
      name,
    );
  }
});

test('btf/name-not-utf8: a name that is not UTF-8 reads with U+FFFD, and marshal keeps every type', () => {
  const b = read('btf', 'name-not-utf8');
  const btf = Btf.parse(b);
  const names = [...btf.types()].flatMap((t) => ('members' in t ? t.members.map((m) => m.name) : []));
  assert.ok(names.includes('flow_key\uFFFD'));
  const again = Btf.parse(btf.marshal());
  assert.deepEqual([...again.types()], [...btf.types()]);
});

test('btf/name-is-tail-of-another: a name pointing into another string marshals back byte for byte', () => {
  // A member named by an offset inside 'vlan_present' ('esent'): marshal used to append a copy.
  const b = read('btf', 'name-is-tail-of-another');
  const btf = Btf.parse(b);
  assert.ok([...btf.types()].some((t) => 'members' in t && t.members.some((m) => m.name === 'esent')));
  assert.deepEqual(btf.marshal(), b);
});

test('btf: info bits and fields the kernel requires clear are refused at parse, naming the type (marshal had dropped them)', () => {
  for (const [name, typeId, offset, what] of [
    ['var-with-vlen', 54, 0x52c, /^vlen 32768 on VAR \(must be 0\)$/],
    ['int-with-vlen', 6, 0x60, /^vlen 15616 on INT \(must be 0\)$/],
    ['const-with-kind-flag', 4, 0x40, /^kind_flag set on CONST \(the kind has none\)$/],
  ] as const) {
    assert.throws(
      () => Btf.parse(read('btf', name)),
      (e) =>
        e instanceof BtfError &&
        e.location.typeId === typeId &&
        e.location.offset === offset &&
        what.test(e.message.replace(/^.*: /, '')),
      name,
    );
  }
  // Fields of the record, checked when the type is read.
  const fwd = Btf.parse(read('btf', 'fwd-with-type'));
  assert.throws(
    () => fwd.type(4),
    (e) =>
      e instanceof BtfError &&
      e.location.typeId === 4 &&
      /FWD with type 524288 \(must be 0\)/.test(e.message),
  );
  assert.throws(
    () => Btf.parse(read('btf', 'header-flags')),
    (e) => e instanceof BtfError && e.location.offset === 3 && /unsupported BTF flags 0x80/.test(e.message),
  );
});

test('btf: a name offset at a NUL inside the string table is refused (the kernel takes no empty identifier; marshal wrote 0)', () => {
  // A member's (the error points at the member's record) and a type's own name.
  for (const [name, typeId, offset, nameOff] of [
    ['member-name-at-nul', 2, 0x3c, 10],
    ['type-name-at-nul', 3, 0x54, 22],
  ] as const) {
    const btf = Btf.parse(read('btf', name));
    assert.throws(
      () => btf.type(typeId),
      (e) =>
        e instanceof BtfError &&
        e.location.typeId === typeId &&
        e.location.offset === offset &&
        e.message.endsWith(`name offset ${nameOff} points at an empty string`),
      name,
    );
  }
});

test('btf: names the table leaves ambiguous keep every type, and marshal output is a fixed point', () => {
  // '__u8' stored twice (the TYPEDEF names the second copy); a name starting inside a UTF-8
  // sequence. Marshal writes the first place a name is stored, so bytes may differ, types may not.
  for (const name of ['name-stored-twice', 'name-inside-utf8-sequence']) {
    const b = read('btf', name);
    const btf = Btf.parse(b);
    const m = btf.marshal();
    const again = Btf.parse(m);
    assert.deepEqual([...again.types()], [...btf.types()], name);
    assert.deepEqual(again.marshal(), m, name);
  }
  const twice = Btf.parse(read('btf', 'name-stored-twice'));
  assert.equal(twice.type(24).name, '__u8');
});

test('codec/union-bool-beside-bytes: a union encodes its exact member among the widest, so its other members read back the same', () => {
  // value[3] of structs whose unions hold a 4-byte bool beside a u8[4]: bytes f7 d4 69 a6 decode
  // to a: true, b: [f7, d4, 69, a6]; writing `a` (the first of the two widest) made b [0, 0, 0, 1].
  const { btf, id, value } = codecInput('union-bool-beside-bytes');
  const c = codecFor(btf, id);
  const decoded = c.decode(value);
  const bytes = c.encode(decoded);
  assert.deepEqual(c.decode(bytes), decoded);
  assert.deepEqual(bytes.subarray(0, 4), value.subarray(0, 4));
  // Given alone, the bool is still what is written.
  const first = (decoded as Record<string, unknown>[])[0]!;
  const alone = c.encode([{ ...first, f0: { a: true } }, ...(decoded as unknown[]).slice(1)]);
  assert.deepEqual(Array.from(alone.subarray(0, 4)), btf.littleEndian ? [1, 0, 0, 0] : [0, 0, 0, 1]);
});

test('codec/int-bits-past-size: an INT whose bits pass its bytes is refused as the kernel refuses it (its value came back changed)', () => {
  // `limit`, a 4-byte __u32 whose INT said 63 bits: decoded past the value to an imprecise number.
  const { btf, id } = (() => {
    const [b, idb] = unpack(read('codec', 'int-bits-past-size'), 3) as [Uint8Array, Uint8Array];
    return { btf: Btf.parse(b), id: new DataView(idb.buffer, idb.byteOffset).getUint32(0, true) };
  })();
  assert.throws(
    () => codecFor(btf, id),
    (e) =>
      e instanceof CodecError &&
      e.location.typeId === 9 &&
      /INT of 4 bytes with 63 bits at bit 0: past its size/.test(e.message),
  );
});

test('object/bss-past-u32: a .bss claiming more than a u32 of bytes is refused naming the section (it was a RangeError from the allocation)', () => {
  assert.throws(
    () => objectSpecFromElf(parseElf(read('object', 'bss-past-u32'), 'bss-past-u32.o')),
    (e) =>
      e instanceof ObjectError &&
      e.location.section === '.bss' &&
      /global data section is 4294967316 bytes/.test(e.message),
  );
});

test('load/enospc-not-the-log: an ENOSPC with room left in the verifier log is not retried with ever larger logs', (t) => {
  if (!needRoot(t)) return;
  // The fuzzer's input: flow's program load (its bpf() call 4) failing with ENOSPC for good. Each
  // retry grew the log fourfold up to 256 MiB (341 MiB allocated, eight verifier runs per program).
  const input = read('load', 'enospc-not-the-log');
  assert.deepEqual([...input], [0, 4, 0, 10, 8]);
  const bytes = new Uint8Array(readFileSync(join(ROOT, 'testdata', 'flow-el.o')));
  loadObject(bytes).close(); // the kernel probed: only the object's own calls below
  let progLoads = 0;
  setSyscallFault((call, cmd) => {
    if (call !== 'bpf' || cmd !== BpfCmd.PROG_LOAD) return undefined;
    progLoads++;
    return E.ENOSPC;
  });
  try {
    assert.throws(
      () => loadObject(bytes),
      (e) => e instanceof LoadError && e.location.program === 'count_flows' && /ENOSPC/.test(e.message),
    );
  } finally {
    setSyscallFault(undefined);
  }
  // Once without a log, once with one to explain the failure: its log has room, so that is all.
  assert.equal(progLoads, 2);
});

test('btf-format/prototype-dag: prototypes each taking the next one twice are refused, not written out 2^24 times', () => {
  // Types 2..25: FUNC_PROTO n takes two parameters of type n + 1 (the last, int); a typedef of the
  // first. C spells each parameter's prototype out in full: the text doubled at each level (18 s
  // and 236 MB at 16 levels; hours at 24), and the ordering walk with it.
  const btf = Btf.parse(read('btf-format', 'prototype-dag'));
  assert.equal(btf.endTypeId, 28);
  assert.throws(
    () => formatC(btf),
    (e) =>
      e instanceof BtfError &&
      typeof e.location.typeId === 'number' &&
      /more places than C can write|declarators nest more than C can write/.test(e.message),
  );
});

test('core/field-not-on-a-byte: a non-bitfield access off a byte boundary is a CoreError naming its type', () => {
  // The core target's input: local BTF, then records of (type id, kind, access string).
  const [b, r] = unpack(read('core', 'field-not-on-a-byte'), 2) as [Uint8Array, Uint8Array];
  const local = Btf.parse(b);
  const target = btfTarget(parseKernelBtf(), 'vmlinux');
  const refused: CoreError[] = [];
  for (const relo of coreRecords(r)) {
    try {
      resolveRelocation(local, relo, target);
    } catch (e) {
      if (!(e instanceof EbpfError)) throw e; // was a RangeError from BigInt(0.625)
      if (e instanceof CoreError) refused.push(e);
    }
  }
  const e = refused.find((x) => /is not a bitfield and does not start on a byte/.test(x.message));
  assert.ok(e !== undefined, refused.map((x) => x.message).join('\n'));
  assert.match(e.message, /at bit offset \d+ /);
  assert.ok(e.location.typeId !== undefined);
});

test('btf-format/struct-14mib-padding: a 14 MiB struct gets its 1,835,007 padding lines, as one repeat (it took 2-7 s as 1.75 million array entries)', () => {
  const out = formatC(Btf.parse(read('btf-format', 'struct-14mib-padding')));
  const body = out.slice(out.indexOf('struct big {'), out.indexOf('\n};') + 3).split('\n');
  // int a (4 bytes), then long: 64 from byte 8 to 14 MiB (a compiler aligns a long to 8 by itself).
  assert.deepEqual(body.slice(0, 3), ['struct big {', '\tint a;', '\tlong: 64;']);
  assert.equal(body.length, 1 + 1 + ((14 << 20) - 8) / 8 + 1);
  assert.ok(body.slice(2, -1).every((l) => l === '\tlong: 64;'));
  assert.equal(body.at(-1), '};');
});
