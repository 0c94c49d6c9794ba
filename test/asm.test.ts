// Instruction encode/decode: byte-identical round trips on every object, and the builder's
// encodings checked against LLVM's own assembler (llvm-mc-19) for every instruction class.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  asm,
  assignIndices,
  decode,
  encode,
  formatInstruction,
  Instruction,
  BPF_ADD,
  BPF_AND,
  BPF_ARSH,
  BPF_B,
  BPF_CMPXCHG,
  BPF_DIV,
  BPF_DW,
  BPF_FETCH,
  BPF_H,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JLE,
  BPF_JLT,
  BPF_JNE,
  BPF_JSET,
  BPF_JSGE,
  BPF_JSGT,
  BPF_JSLE,
  BPF_JSLT,
  BPF_LSH,
  BPF_MOD,
  BPF_MUL,
  BPF_NEG,
  BPF_OR,
  BPF_RSH,
  BPF_SUB,
  BPF_W,
  BPF_XCHG,
  BPF_XOR,
  BPF_LD,
  BPF_ABS,
  BPF_IND,
  BPF_JMP,
  BPF_JCOND,
  BPF_CALL,
  BPF_X,
  BPF_PSEUDO_MAP_VALUE,
  R0,
  R1,
  R2,
  R3,
  R4,
  R6,
  R9,
  R10,
} from '../src/asm/index.js';
import { parseElf, SHF_EXECINSTR } from '../src/elf/index.js';
import { InstructionError } from '../src/errors.js';
import { allObjects, needTool, run } from './helpers.js';

test('encode(decode(x)) is byte-identical for every executable section of every object', (t) => {
  const files = allObjects(t);
  assert.ok(files.length > 10);
  let insns = 0;
  let wide = 0;
  for (const file of files) {
    const elf = parseElf(new Uint8Array(readFileSync(file)), file);
    for (const s of elf.sections) {
      if ((s.flags & SHF_EXECINSTR) === 0 || s.size === 0) continue;
      const decoded = decode(s.data(), elf.littleEndian, { file, section: s.name });
      assert.deepEqual(encode(decoded, elf.littleEndian), s.data(), `${file} ${s.name}`);
      let slot = 0;
      for (const i of decoded) {
        assert.equal(i.index, slot);
        slot += i.size / 8;
        if (i.wide) wide++;
      }
      assert.equal(slot * 8, s.size);
      insns += decoded.length;
    }
  }
  assert.ok(wide > 0, 'some ld_imm64 seen');
  t.diagnostic(`${insns} instructions (${wide} ld_imm64) round-tripped from ${files.length} objects`);
});

test('encode(decode(x)) is byte-identical for random bytes, either byte order', () => {
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let n = 0; n < 200; n++) {
    const bytes = new Uint8Array(8 * (1 + Math.floor(rnd() * 40)));
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rnd() * 256);
    for (const le of [true, false]) {
      let insns: Instruction[];
      try {
        insns = decode(bytes, le);
      } catch (e) {
        assert.ok(e instanceof InstructionError); // only a trailing half ld_imm64
        assert.match(e.message, /second half/);
        continue;
      }
      assert.deepEqual(encode(insns, le), bytes);
      assert.deepEqual(
        encode(
          insns.map((i) => i.clone()),
          le,
        ),
        bytes,
      );
    }
  }
});

test('ld_imm64 is one instruction with a 64-bit constant; big-endian swaps register nibbles', () => {
  const i = asm.ldImm64(R1, -2n);
  assert.equal(i.size, 16);
  assert.equal(i.imm64, 0xfffffffffffffffen);
  assert.equal(i.imm, -2);
  assert.equal(i.next?.imm, -1);
  i.imm64 = 0x1122334455667788n;
  const le = encode([i, asm.exit()], true);
  assert.deepEqual(
    [...le.subarray(0, 16)],
    [0x18, 0x01, 0, 0, 0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11],
  );
  const be = encode([asm.mov64Reg(R1, R2)], false);
  assert.deepEqual([...be], [0xbf, 0x12, 0, 0, 0, 0, 0, 0]);
  const [d] = decode(be, false);
  assert.equal(d?.dst, R1);
  assert.equal(d?.src, R2);
  const back = decode(le, true);
  assert.equal(back.length, 2);
  assert.equal(back[0]?.imm64, 0x1122334455667788n);
  assert.equal(back[1]?.index, 2);
  assert.equal(assignIndices([asm.exit(), i, asm.exit()]), 4);
});

test('decode and encode reject what cannot be instructions with InstructionError', () => {
  assert.throws(() => decode(new Uint8Array(12), true), InstructionError);
  assert.throws(
    () => decode(new Uint8Array([0x18, 0, 0, 0, 0, 0, 0, 0]), true, { section: 'xdp' }),
    (e: unknown) => {
      assert.ok(e instanceof InstructionError);
      assert.equal(e.location.section, 'xdp');
      assert.equal(e.location.instruction, 0);
      return true;
    },
  );
  assert.throws(() => encode([new Instruction({ opcode: 0xb7, dst: 16 })], true), InstructionError);
  assert.throws(() => encode([new Instruction({ opcode: 0xb7, off: 0x8000 })], true), InstructionError);
  assert.throws(() => encode([new Instruction({ opcode: 0x1b7 })], true), InstructionError);
});

/** One instruction of every kind the ISA has, built with the builder. */
function everyInstruction(): Instruction[] {
  const out: Instruction[] = [];
  const aluOps = [
    BPF_ADD,
    BPF_SUB,
    BPF_MUL,
    BPF_DIV,
    BPF_OR,
    BPF_AND,
    BPF_LSH,
    BPF_RSH,
    BPF_MOD,
    BPF_XOR,
    BPF_ARSH,
  ];
  for (const op of aluOps) {
    out.push(
      asm.alu64Imm(op, R1, -5),
      asm.alu64Reg(op, R2, R3),
      asm.alu32Imm(op, R1, 0x7fffffff),
      asm.alu32Reg(op, R9, R1),
    );
  }
  out.push(asm.alu64Imm(BPF_NEG, R1, 0), asm.alu32Imm(BPF_NEG, R2, 0));
  out.push(asm.mov64Imm(R0, 0), asm.mov64Reg(R6, R1), asm.mov32Imm(R1, -1), asm.mov32Reg(R1, R2));
  // v4: sdiv/smod, movsx, bswap.
  for (const op of [BPF_DIV, BPF_MOD]) {
    out.push(asm.signed64Reg(op, R1, R2));
    out.push(new Instruction({ opcode: 0x07 | op, dst: R1, off: 1, imm: 7 }));
    out.push(new Instruction({ opcode: 0x04 | op | BPF_X, dst: R1, src: R3, off: 1 }));
  }
  out.push(asm.movsx64(R1, R2, 8), asm.movsx64(R1, R2, 16), asm.movsx64(R1, R2, 32));
  out.push(asm.movsx32(R1, R2, 8), asm.movsx32(R1, R2, 16));
  for (const bits of [16, 32, 64] as const)
    out.push(asm.bswap(R0, bits), asm.endian(true, R3, bits), asm.endian(false, R3, bits));
  out.push(
    asm.ldImm64(R1, -1n),
    asm.ldImm64(R2, 0x7fffffff00000005n),
    asm.ldImm64(R3, 42n, BPF_PSEUDO_MAP_VALUE),
  );
  for (const size of [BPF_W, BPF_H, BPF_B]) {
    out.push(new Instruction({ opcode: BPF_LD | BPF_ABS | size, imm: 12 }));
    out.push(new Instruction({ opcode: BPF_LD | BPF_IND | size, src: R2, imm: 0 }));
  }
  for (const size of [BPF_W, BPF_H, BPF_B, BPF_DW]) {
    out.push(asm.ldx(size, R1, R2, -8), asm.st(size, R10, -16, 0x1234), asm.stx(size, R10, R1, 0x7fff));
    if (size !== BPF_DW) out.push(asm.ldxs(size, R3, R1, 4));
  }
  for (const size of [BPF_W, BPF_DW]) {
    for (const op of [BPF_ADD, BPF_OR, BPF_AND, BPF_XOR]) {
      out.push(asm.atomic(size, op, R1, R2, 8), asm.atomic(size, op | BPF_FETCH, R1, R2, -8));
    }
    out.push(asm.atomic(size, BPF_XCHG, R1, R2, 0), asm.atomic(size, BPF_CMPXCHG, R1, R2, 0));
  }
  const jmpOps = [
    BPF_JEQ,
    BPF_JGT,
    BPF_JGE,
    BPF_JSET,
    BPF_JNE,
    BPF_JSGT,
    BPF_JSGE,
    BPF_JLT,
    BPF_JLE,
    BPF_JSLT,
    BPF_JSLE,
  ];
  for (const op of jmpOps) {
    out.push(
      asm.jmpImm(op, R1, -3, 2),
      asm.jmpReg(op, R1, R2, -1),
      asm.jmp32Imm(op, R1, 0x10, 0),
      asm.jmp32Reg(op, R3, R4, 1),
    );
  }
  out.push(asm.ja(1), asm.ja(-2), asm.gotol(3), asm.gotol(-4));
  out.push(new Instruction({ opcode: BPF_JMP | BPF_JCOND, off: 1 })); // may_goto
  // A BPF-to-BPF call (src = BPF_PSEUDO_CALL) prints as `call -0x1` too, so text cannot carry it.
  out.push(asm.call(1), asm.call(-1), new Instruction({ opcode: BPF_JMP | BPF_CALL | BPF_X, dst: R1 })); // callx
  out.push(asm.exit());
  assignIndices(out);
  return out;
}

test('every instruction class, v4 included, encodes as llvm-mc-19 assembles its text', (t) => {
  if (!needTool(t, 'llvm-mc-19')) return;
  const insns = everyInstruction();
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-asm-'));
  try {
    const text = insns.map((i) => '\t' + formatInstruction(i, { alu32: true }).text).join('\n') + '\n';
    assert.ok(!text.includes('<unknown>'), text);
    writeFileSync(join(dir, 'all.s'), text);
    for (const le of [true, false]) {
      const obj = join(dir, `all-${le ? 'el' : 'eb'}.o`);
      run('llvm-mc-19', [
        '-triple',
        le ? 'bpfel' : 'bpfeb',
        '-mattr=+alu32',
        '-filetype=obj',
        join(dir, 'all.s'),
        '-o',
        obj,
      ]);
      const elf = parseElf(new Uint8Array(readFileSync(obj)), obj);
      const want = elf.section('.text')!.data();
      const got = encode(insns, le);
      for (const i of insns) {
        const a = got.subarray(i.index * 8, i.index * 8 + i.size);
        const b = want.subarray(i.index * 8, i.index * 8 + i.size);
        assert.deepEqual(
          [...a],
          [...b],
          `${le ? 'el' : 'eb'} insn ${i.index}: ${formatInstruction(i, { alu32: true }).text}`,
        );
      }
      assert.equal(got.length, want.length);
    }
    t.diagnostic(`${insns.length} instructions checked against llvm-mc-19, both byte orders`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
