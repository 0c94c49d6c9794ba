// Patching one instruction with a resolved relocation: ALU immediates, load/store offsets (and
// their width when a field's size changes in a way the value survives), ld_imm64 constants; the
// compiled-in value is checked first. Unresolvable ones become libbpf's poison call.
import {
  BPF_ALU,
  BPF_ALU64,
  BPF_B,
  BPF_CALL,
  BPF_CLASS,
  BPF_DW,
  BPF_H,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_LD_IMM64,
  BPF_LDX,
  BPF_MODE,
  BPF_SIZE,
  BPF_SRC,
  BPF_ST,
  BPF_STX,
  BPF_W,
  Instruction,
  SIZE_BYTES,
} from '../asm/index.js';
import type { CoreValues } from './calc.js';
import { CoreError } from './errors.js';
import { POISON_IMM } from './kinds.js';

const SHRT_MAX = 0x7fff;

const BPF_SIZE_OF_BYTES: Readonly<Record<number, number>> = { 1: BPF_B, 2: BPF_H, 4: BPF_W, 8: BPF_DW };

/** The poison: a call of helper 0xbad2310, which the verifier rejects only if it is reachable. */
export function poisonInstruction(): Instruction {
  return new Instruction({ opcode: BPF_JMP | BPF_CALL, imm: POISON_IMM });
}

/** True for an instruction (or the second half of one) poisoned by CO-RE. */
export function isPoisoned(insn: { opcode: number; imm: number }): boolean {
  return insn.opcode === (BPF_JMP | BPF_CALL) && insn.imm === POISON_IMM;
}

const u64 = (v: bigint | number): bigint => BigInt.asUintN(64, BigInt(v));

/**
 * Apply `values` to `insn`. Returns the instructions that replace it: itself (patched in place),
 * or, when poisoned, the poison call (twice for an ld_imm64, which spans two slots).
 * Throws CoreError when the instruction is not what the relocation expects.
 */
export function patchInstruction(insn: Instruction, values: CoreValues): Instruction[] {
  const poison = (): Instruction[] =>
    insn.wide ? [poisonInstruction(), poisonInstruction()] : [poisonInstruction()];
  if (values.poison) return poison();
  const cls = BPF_CLASS(insn.opcode);
  const { orig, new: val } = values;
  switch (cls) {
    case BPF_ALU:
    case BPF_ALU64:
      if (BPF_SRC(insn.opcode) !== BPF_K)
        throw new CoreError('relocated ALU instruction does not take an immediate');
      if (values.validate && u64(insn.imm) !== u64(orig)) {
        throw new CoreError(
          `unexpected immediate ${insn.imm} in ALU instruction, expected ${orig} (to become ${val})`,
        );
      }
      insn.imm = Number(BigInt.asIntN(32, val));
      return [insn];
    case BPF_LDX:
    case BPF_ST:
    case BPF_STX: {
      if (values.validate && u64(insn.off) !== u64(orig)) {
        throw new CoreError(
          `unexpected offset ${insn.off} in load/store, expected ${orig} (to become ${val})`,
        );
      }
      if (val > BigInt(SHRT_MAX)) throw new CoreError(`offset ${val} does not fit a load/store`);
      // A field whose size changed between signed ints or different kinds cannot be read right.
      if (values.failMemSizeAdjust) return poison();
      insn.off = Number(val);
      if (values.newSize !== values.origSize) {
        const bytes = SIZE_BYTES[BPF_SIZE(insn.opcode)];
        if (bytes !== values.origSize) {
          throw new CoreError(`load/store of ${bytes} bytes, but the field was ${values.origSize} bytes`);
        }
        const size = BPF_SIZE_OF_BYTES[values.newSize];
        if (size === undefined)
          throw new CoreError(`field of ${values.newSize} bytes cannot be loaded or stored`);
        insn.opcode = BPF_MODE(insn.opcode) | size | cls;
      }
      return [insn];
    }
    case BPF_LD: {
      const next = insn.next;
      if (
        insn.opcode !== BPF_LD_IMM64 ||
        next === undefined ||
        insn.src !== 0 ||
        insn.off !== 0 ||
        next.opcode !== 0 ||
        next.dst !== 0 ||
        next.src !== 0 ||
        next.off !== 0
      ) {
        throw new CoreError('relocated ld_imm64 has an unexpected form');
      }
      if (values.validate && insn.imm64 !== u64(orig)) {
        throw new CoreError(
          `unexpected constant ${insn.imm64} in ld_imm64, expected ${orig} (to become ${val})`,
        );
      }
      insn.imm64 = val;
      return [insn];
    }
    default:
      throw new CoreError(`cannot relocate instruction with opcode 0x${insn.opcode.toString(16)}`);
  }
}
