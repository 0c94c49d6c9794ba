// One instruction as text, in the syntax llvm-objdump 19 prints for BPF, including which
// encodings LLVM refuses to decode (printed "<unknown>").
import type { Instruction, RawSlot } from './instruction.js';
import {
  BPF_ABS,
  BPF_ALU,
  BPF_ALU64,
  BPF_ATOMIC,
  BPF_B,
  BPF_CALL,
  BPF_CLASS,
  BPF_CMPXCHG,
  BPF_DIV,
  BPF_DW,
  BPF_END,
  BPF_EXIT,
  BPF_FETCH,
  BPF_H,
  BPF_IMM,
  BPF_IND,
  BPF_JA,
  BPF_JCOND,
  BPF_JMP,
  BPF_JMP32,
  BPF_LD,
  BPF_LDX,
  BPF_MEM,
  BPF_MEMSX,
  BPF_MOD,
  BPF_MODE,
  BPF_MOV,
  BPF_NEG,
  BPF_OP,
  BPF_SIZE,
  BPF_SRC,
  BPF_ST,
  BPF_STX,
  BPF_W,
  BPF_XCHG,
  BPF_X,
} from './opcodes.js';

export interface FormatOptions {
  /**
   * Print as `llvm-objdump --mattr=+alu32` does: 32-bit loads, stores and atomics use w
   * registers, and 32-bit atomics other than add decode. Without it, as plain `llvm-objdump -d`.
   */
  alu32?: boolean;
}

/** The text of one instruction, plus the slot its jump lands on (for `<label>` annotations). */
export interface Formatted {
  text: string;
  /** Slot index of the jump target, for instructions llvm-objdump annotates with a label. */
  target?: number;
}

export const UNKNOWN = '<unknown>';

const ALU_OPS: Readonly<Record<number, string>> = {
  0x00: '+=',
  0x10: '-=',
  0x20: '*=',
  0x30: '/=',
  0x40: '|=',
  0x50: '&=',
  0x60: '<<=',
  0x70: '>>=',
  0x90: '%=',
  0xa0: '^=',
  0xb0: '=',
  0xc0: 's>>=',
};

const JMP_OPS: Readonly<Record<number, string>> = {
  0x10: '==',
  0x20: '>',
  0x30: '>=',
  0x40: '&',
  0x50: '!=',
  0x60: 's>',
  0x70: 's>=',
  0xa0: '<',
  0xb0: '<=',
  0xc0: 's<',
  0xd0: 's<=',
};

const ATOMIC_OPS: Readonly<Record<number, string>> = { 0x00: 'add', 0x40: 'or', 0x50: 'and', 0xa0: 'xor' };
const ATOMIC_SYMBOLS: Readonly<Record<number, string>> = { 0x00: '+=', 0x40: '|=', 0x50: '&=', 0xa0: '^=' };

const SIZE_NAMES: Readonly<Record<number, string>> = {
  [BPF_W]: '32',
  [BPF_H]: '16',
  [BPF_B]: '8',
  [BPF_DW]: '64',
};

/** LLVM's hex style: `0x1f`, `-0x18`. */
export function hex(v: number | bigint): string {
  return v < 0 ? `-0x${(-BigInt(v)).toString(16)}` : `0x${v.toString(16)}`;
}

function branch(off: number): string {
  return off >= 0 ? `+${hex(off)}` : hex(off);
}

/** LLVM's register class has r0..r11; higher numbers do not decode. */
const MAX_REG = 11;

/**
 * Format one instruction as llvm-objdump prints it. A ld_imm64 that LLVM refuses gives
 * `<unknown>` and the caller prints its second slot separately (see `formatSlot`).
 */
export function formatInstruction(insn: Instruction, opts: FormatOptions = {}): Formatted {
  return formatSlot(insn, insn.next, insn.index, opts);
}

/** Format one slot; `next` is the following slot, used only by ld_imm64. */
export function formatSlot(
  s: RawSlot,
  next: RawSlot | undefined,
  index: number,
  opts: FormatOptions = {},
): Formatted {
  const text = (t: string | undefined): Formatted => ({ text: t ?? UNKNOWN });
  const cls = BPF_CLASS(s.opcode);
  switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
      return text(alu(s, cls === BPF_ALU64));
    case BPF_JMP:
    case BPF_JMP32:
      return jump(s, cls === BPF_JMP32, index);
    case BPF_LD:
      return text(ld(s, next));
    case BPF_LDX:
      return text(ldx(s, opts));
    case BPF_ST:
      return text(st(s));
    case BPF_STX:
      return text(stx(s, opts));
    default:
      return text(undefined);
  }
}

function reg(n: number, w: boolean): string | undefined {
  if (n > MAX_REG) return undefined;
  return (w ? 'w' : 'r') + n;
}

function mem(base: number, off: number): string | undefined {
  const b = reg(base, false);
  if (b === undefined) return undefined;
  return off < 0 ? `(${b} - ${hex(-off)})` : `(${b} + ${hex(off)})`;
}

function alu(s: RawSlot, is64: boolean): string | undefined {
  const op = BPF_OP(s.opcode);
  const x = BPF_SRC(s.opcode) === BPF_X;
  const d = reg(s.dst, !is64);
  if (d === undefined) return undefined;
  if (op === BPF_NEG) return x ? undefined : `${d} = -${d}`;
  if (op === BPF_END) {
    if (is64 && x) return undefined;
    if (s.imm !== 16 && s.imm !== 32 && s.imm !== 64) return undefined;
    const r = reg(s.dst, false);
    const name = is64 ? 'bswap' : x ? 'be' : 'le';
    return `${r} = ${name}${s.imm} ${r}`;
  }
  const sym = ALU_OPS[op];
  if (sym === undefined) return undefined;
  if (!x) {
    if (s.off === 0) return `${d} ${sym} ${hex(s.imm)}`;
    if (s.off === 1 && (op === BPF_DIV || op === BPF_MOD)) return `${d} s${sym} ${hex(s.imm)}`;
    return undefined;
  }
  const sr = reg(s.src, !is64);
  if (sr === undefined) return undefined;
  if (s.off === 0) return `${d} ${sym} ${sr}`;
  if (s.off === 1 && (op === BPF_DIV || op === BPF_MOD)) return `${d} s${sym} ${sr}`;
  if (op === BPF_MOV) {
    if (s.off === 8 || s.off === 16 || (is64 && s.off === 32)) return `${d} = (s${s.off})${sr}`;
    if (is64 && s.off === 1)
      return `${d} = addr_space_cast(${sr}, ${hex(s.imm >>> 16)}, ${hex(s.imm & 0xffff)})`;
  }
  return undefined;
}

function jump(s: RawSlot, is32: boolean, index: number): Formatted {
  const op = BPF_OP(s.opcode);
  const x = BPF_SRC(s.opcode) === BPF_X;
  const unknown: Formatted = { text: UNKNOWN };
  const to = (off: number): number => index + 1 + off;
  if (op === BPF_JA) {
    if (x) return unknown;
    if (is32) return { text: `gotol ${branch(s.imm)}`, target: to(s.imm) };
    return { text: `goto ${branch(s.off)}`, target: to(s.off) };
  }
  if (op === BPF_CALL) {
    if (is32) return unknown;
    if (!x) return { text: `call ${hex(s.imm)}` };
    const d = reg(s.dst, false);
    return d === undefined ? unknown : { text: `callx ${d}` };
  }
  if (op === BPF_EXIT) return !is32 && !x && s.imm === 0 ? { text: 'exit' } : unknown;
  if (op === BPF_JCOND)
    return !is32 && !x ? { text: `may_goto ${branch(s.off)}`, target: to(s.off) } : unknown;
  const sym = JMP_OPS[op];
  const d = reg(s.dst, is32);
  if (sym === undefined || d === undefined) return unknown;
  let rhs: string | undefined = hex(s.imm);
  if (x) rhs = reg(s.src, is32);
  if (rhs === undefined) return unknown;
  return { text: `if ${d} ${sym} ${rhs} goto ${branch(s.off)}`, target: to(s.off) };
}

function ld(s: RawSlot, next: RawSlot | undefined): string | undefined {
  const mode = BPF_MODE(s.opcode);
  const size = BPF_SIZE(s.opcode);
  if (mode === BPF_IMM && size === BPF_DW) {
    if (next === undefined || s.off !== 0) return undefined;
    const d = reg(s.dst, false);
    if (d === undefined) return undefined;
    if (s.src !== 0) return `ld_pseudo ${d}, ${hex(s.src)}, ${hex(s.imm >>> 0)}`;
    const v = BigInt.asIntN(64, (BigInt(next.imm >>> 0) << 32n) | BigInt(s.imm >>> 0));
    return `${d} = ${hex(v)} ll`;
  }
  if ((mode === BPF_ABS || mode === BPF_IND) && size !== BPF_DW) {
    const width = SIZE_NAMES[size];
    if (mode === BPF_ABS) return `r0 = *(u${width} *)skb[${hex(s.imm)}]`;
    const sr = reg(s.src, false);
    return sr === undefined ? undefined : `r0 = *(u${width} *)skb[${sr}]`;
  }
  return undefined;
}

function ldx(s: RawSlot, opts: FormatOptions): string | undefined {
  const mode = BPF_MODE(s.opcode);
  const size = BPF_SIZE(s.opcode);
  const m = mem(s.src, s.off);
  if (m === undefined) return undefined;
  if (mode === BPF_MEM) {
    const d = reg(s.dst, opts.alu32 === true && size !== BPF_DW);
    return d === undefined ? undefined : `${d} = *(u${SIZE_NAMES[size]} *)${m}`;
  }
  if (mode === BPF_MEMSX && size !== BPF_DW) {
    const d = reg(s.dst, false);
    return d === undefined ? undefined : `${d} = *(s${SIZE_NAMES[size]} *)${m}`;
  }
  return undefined;
}

function st(s: RawSlot): string | undefined {
  if (BPF_MODE(s.opcode) !== BPF_MEM) return undefined;
  const m = mem(s.dst, s.off);
  return m === undefined ? undefined : `*(u${SIZE_NAMES[BPF_SIZE(s.opcode)]} *)${m} = ${hex(s.imm)}`;
}

function stx(s: RawSlot, opts: FormatOptions): string | undefined {
  const mode = BPF_MODE(s.opcode);
  const size = BPF_SIZE(s.opcode);
  const alu32 = opts.alu32 === true;
  const m = mem(s.dst, s.off);
  if (m === undefined) return undefined;
  if (mode === BPF_MEM) {
    const sr = reg(s.src, alu32 && size !== BPF_DW);
    return sr === undefined ? undefined : `*(u${SIZE_NAMES[size]} *)${m} = ${sr}`;
  }
  if (mode !== BPF_ATOMIC || (size !== BPF_W && size !== BPF_DW)) return undefined;
  const is32 = size === BPF_W;
  const w = SIZE_NAMES[size];
  const op = s.imm & 0xf0;
  const fetch = (s.imm & 0x0f) === BPF_FETCH;
  if (is32 && !alu32) {
    // Without alu32 LLVM knows only the old 32-bit xadd, which ignores the low imm bits.
    const sr = reg(s.src, false);
    return op === 0 && sr !== undefined ? `lock *(u32 *)${m} += ${sr}` : undefined;
  }
  const sr = reg(s.src, is32);
  if (sr === undefined) return undefined;
  const imm8 = s.imm & 0xff;
  if (imm8 === BPF_XCHG) return `${sr} = xchg${is32 ? '32_32' : '_64'}(${m.slice(1, -1)}, ${sr})`;
  if (imm8 === BPF_CMPXCHG) {
    const r0 = is32 ? 'w0' : 'r0';
    return `${r0} = cmpxchg${is32 ? '32_32' : '_64'}(${m.slice(1, -1)}, ${r0}, ${sr})`;
  }
  const name = ATOMIC_OPS[op];
  if (name === undefined) return undefined;
  if (fetch) return `${sr} = atomic_fetch_${name}((u${w} *)${m}, ${sr})`;
  // LLVM matches only the operation nibble and the fetch bit; other imm bits are ignored.
  return `lock *(u${w} *)${m} ${ATOMIC_SYMBOLS[op]} ${sr}`;
}
