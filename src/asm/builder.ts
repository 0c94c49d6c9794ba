// A small builder for hand-written programs: `asm.mov64Imm(R0, 0)`, `asm.exit()`, ...
import { Instruction } from './instruction.js';
import {
  BPF_ALU,
  BPF_ALU64,
  BPF_ATOMIC,
  BPF_CALL,
  BPF_EXIT,
  BPF_JA,
  BPF_JMP,
  BPF_JMP32,
  BPF_K,
  BPF_LD_IMM64,
  BPF_LDX,
  BPF_MEM,
  BPF_MEMSX,
  BPF_MOV,
  BPF_PSEUDO_MAP_FD,
  BPF_ST,
  BPF_STX,
  BPF_X,
  BPF_END,
  BPF_TO_BE,
  BPF_TO_LE,
} from './opcodes.js';

const insn = (opcode: number, dst = 0, src = 0, off = 0, imm = 0): Instruction =>
  new Instruction({ opcode, dst, src, off, imm });

/** Instruction constructors; `op` arguments are BPF_ADD, BPF_JEQ, ...; `size` is BPF_W, BPF_DW, ... */
export const asm = {
  alu64Imm: (op: number, dst: number, imm: number) => insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm),
  alu64Reg: (op: number, dst: number, src: number) => insn(BPF_ALU64 | op | BPF_X, dst, src),
  alu32Imm: (op: number, dst: number, imm: number) => insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm),
  alu32Reg: (op: number, dst: number, src: number) => insn(BPF_ALU | op | BPF_X, dst, src),
  mov64Imm: (dst: number, imm: number) => insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm),
  mov64Reg: (dst: number, src: number) => insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src),
  mov32Imm: (dst: number, imm: number) => insn(BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm),
  mov32Reg: (dst: number, src: number) => insn(BPF_ALU | BPF_MOV | BPF_X, dst, src),
  /** movsx: sign-extend the low `bits` (8, 16, 32) of src (v4). */
  movsx64: (dst: number, src: number, bits: 8 | 16 | 32) => insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, bits),
  movsx32: (dst: number, src: number, bits: 8 | 16) => insn(BPF_ALU | BPF_MOV | BPF_X, dst, src, bits),
  /** sdiv / smod (v4): BPF_DIV or BPF_MOD with off = 1. */
  signed64Reg: (op: number, dst: number, src: number) => insn(BPF_ALU64 | op | BPF_X, dst, src, 1),
  /** le16/be32/...: byte-order conversion. */
  endian: (toBigEndian: boolean, dst: number, bits: 16 | 32 | 64) =>
    insn(BPF_ALU | BPF_END | (toBigEndian ? BPF_TO_BE : BPF_TO_LE), dst, 0, 0, bits),
  /** bswap16/32/64 (v4). */
  bswap: (dst: number, bits: 16 | 32 | 64) => insn(BPF_ALU64 | BPF_END, dst, 0, 0, bits),
  ldImm64: (dst: number, value: bigint, src = 0): Instruction => {
    const i = insn(BPF_LD_IMM64, dst, src);
    i.imm64 = value;
    return i;
  },
  ldMapFd: (dst: number, fd: number) => insn(BPF_LD_IMM64, dst, BPF_PSEUDO_MAP_FD, 0, fd),
  ldx: (size: number, dst: number, src: number, off: number) => insn(BPF_LDX | BPF_MEM | size, dst, src, off),
  /** Sign-extending load (v4). */
  ldxs: (size: number, dst: number, src: number, off: number) =>
    insn(BPF_LDX | BPF_MEMSX | size, dst, src, off),
  st: (size: number, dst: number, off: number, imm: number) =>
    insn(BPF_ST | BPF_MEM | size, dst, 0, off, imm),
  stx: (size: number, dst: number, src: number, off: number) => insn(BPF_STX | BPF_MEM | size, dst, src, off),
  /** Atomic read-modify-write; `op` is BPF_ADD, BPF_OR, ..., optionally | BPF_FETCH, or BPF_XCHG / BPF_CMPXCHG. */
  atomic: (size: number, op: number, dst: number, src: number, off: number) =>
    insn(BPF_STX | BPF_ATOMIC | size, dst, src, off, op),
  jmpImm: (op: number, dst: number, imm: number, off: number) => insn(BPF_JMP | op | BPF_K, dst, 0, off, imm),
  jmpReg: (op: number, dst: number, src: number, off: number) => insn(BPF_JMP | op | BPF_X, dst, src, off),
  jmp32Imm: (op: number, dst: number, imm: number, off: number) =>
    insn(BPF_JMP32 | op | BPF_K, dst, 0, off, imm),
  jmp32Reg: (op: number, dst: number, src: number, off: number) =>
    insn(BPF_JMP32 | op | BPF_X, dst, src, off),
  ja: (off: number) => insn(BPF_JMP | BPF_JA, 0, 0, off),
  /** gotol: a jump with a 32-bit offset in imm (v4). */
  gotol: (imm: number) => insn(BPF_JMP32 | BPF_JA, 0, 0, 0, imm),
  call: (helper: number, src = 0) => insn(BPF_JMP | BPF_CALL, 0, src, 0, helper),
  exit: () => insn(BPF_JMP | BPF_EXIT),
};
