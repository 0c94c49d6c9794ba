// The one Instruction type, and decode/encode between it and bytes in either byte order.
// ld_imm64 is one 16-byte instruction; its second slot is kept raw so encoding is byte-identical.
import { InstructionError, type Location } from '../errors.js';
import { BinaryReader, BinaryWriter } from '../internal/reader.js';
import { BPF_LD_IMM64 } from './opcodes.js';

/** The fields of one 8-byte slot, as stored. */
export interface RawSlot {
  opcode: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export interface InstructionFields {
  opcode: number;
  dst?: number;
  src?: number;
  off?: number;
  imm?: number;
  /** ld_imm64 only: the second slot; its `imm` is the high half of the 64-bit constant. */
  next?: RawSlot;
  index?: number;
}

/** One BPF instruction. `imm` is the signed 32-bit immediate (for ld_imm64, the low half). */
export class Instruction implements RawSlot {
  opcode: number;
  dst: number;
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
  /** ld_imm64 only: the raw second slot (opcode, registers and offset are normally 0). */
  next: RawSlot | undefined;
  /** Position in 8-byte slots within its section or program; -1 until placed. */
  index: number;

  constructor(f: InstructionFields) {
    this.opcode = f.opcode;
    this.dst = f.dst ?? 0;
    this.src = f.src ?? 0;
    this.off = f.off ?? 0;
    this.imm = f.imm ?? 0;
    this.next =
      f.next ?? (f.opcode === BPF_LD_IMM64 ? { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 } : undefined);
    this.index = f.index ?? -1;
  }

  /** True for ld_imm64, which takes two slots. */
  get wide(): boolean {
    return this.next !== undefined;
  }

  /** Size in bytes: 16 for ld_imm64, else 8. */
  get size(): 8 | 16 {
    return this.next === undefined ? 8 : 16;
  }

  /** The 64-bit constant of ld_imm64 (high half from the second slot), as an unsigned bigint. */
  get imm64(): bigint {
    const hi = this.next?.imm ?? 0;
    return (BigInt(hi >>> 0) << 32n) | BigInt(this.imm >>> 0);
  }

  set imm64(v: bigint) {
    const u = BigInt.asUintN(64, v);
    this.imm = Number(BigInt.asIntN(32, u));
    this.next ??= { opcode: 0, dst: 0, src: 0, off: 0, imm: 0 };
    this.next.imm = Number(BigInt.asIntN(32, u >> 32n));
  }

  clone(): Instruction {
    const f: InstructionFields = {
      opcode: this.opcode,
      dst: this.dst,
      src: this.src,
      off: this.off,
      imm: this.imm,
      index: this.index,
    };
    if (this.next !== undefined) f.next = { ...this.next };
    return new Instruction(f);
  }
}

/** The slot at byte `o` of `view`, which the caller has checked holds whole slots. */
function readSlot(view: DataView, le: boolean, o: number): RawSlot {
  const regs = view.getUint8(o + 1);
  // bpfeb stores dst in the high nibble, bpfel in the low one.
  return {
    opcode: view.getUint8(o),
    dst: le ? regs & 0xf : regs >> 4,
    src: le ? regs >> 4 : regs & 0xf,
    off: view.getInt16(o + 2, le),
    imm: view.getInt32(o + 4, le),
  };
}

/**
 * Decode instruction bytes. Any opcode is accepted (the kernel is the judge of validity);
 * a length that is not a whole number of slots, or an ld_imm64 cut short, throws InstructionError.
 */
export function decode(bytes: Uint8Array, littleEndian: boolean, location: Location = {}): Instruction[] {
  const r = new BinaryReader(bytes, littleEndian, location, (m, l) => new InstructionError(m, l));
  if (bytes.length % 8 !== 0)
    throw r.error(`instruction bytes length ${bytes.length} is not a multiple of 8`, 0);
  // The length is whole slots (checked above), so every slot is read straight from the view.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = [];
  for (let o = 0; o < bytes.length; o += 8) {
    const index = o / 8;
    const f: InstructionFields = readSlot(view, littleEndian, o);
    f.index = index;
    if (f.opcode === BPF_LD_IMM64) {
      if (o + 16 > bytes.length) {
        throw new InstructionError('ld_imm64 is missing its second half', {
          ...location,
          instruction: index,
          offset: (location.offset ?? 0) + o,
        });
      }
      f.next = readSlot(view, littleEndian, o + 8);
      o += 8;
    }
    out.push(new Instruction(f));
  }
  return out;
}

/** Every 8-byte slot on its own, without pairing ld_imm64 halves (for walking bytes as llvm-objdump does). */
export function decodeSlots(bytes: Uint8Array, littleEndian: boolean, location: Location = {}): RawSlot[] {
  const r = new BinaryReader(bytes, littleEndian, location, (m, l) => new InstructionError(m, l));
  if (bytes.length % 8 !== 0)
    throw r.error(`instruction bytes length ${bytes.length} is not a multiple of 8`, 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: RawSlot[] = [];
  for (let o = 0; o < bytes.length; o += 8) out.push(readSlot(view, littleEndian, o));
  return out;
}

function checkSlot(s: RawSlot, index: number, location: Location): void {
  const bad = (what: string): never => {
    throw new InstructionError(what, { ...location, instruction: index });
  };
  if (!Number.isInteger(s.opcode) || s.opcode < 0 || s.opcode > 0xff) bad(`opcode ${s.opcode} out of range`);
  if (!Number.isInteger(s.dst) || s.dst < 0 || s.dst > 0xf) bad(`dst register ${s.dst} out of range`);
  if (!Number.isInteger(s.src) || s.src < 0 || s.src > 0xf) bad(`src register ${s.src} out of range`);
  if (!Number.isInteger(s.off) || s.off < -0x8000 || s.off > 0x7fff) bad(`offset ${s.off} out of range`);
  if (!Number.isInteger(s.imm) || s.imm < -0x80000000 || s.imm > 0xffffffff)
    bad(`immediate ${s.imm} out of range`);
}

function writeSlot(w: BinaryWriter, s: RawSlot): void {
  w.u8(s.opcode);
  w.u8(w.littleEndian ? (s.src << 4) | s.dst : (s.dst << 4) | s.src);
  w.u16(s.off & 0xffff);
  w.u32(s.imm >>> 0);
}

/** Encode instructions back to bytes; decode then encode gives the input bytes back. */
export function encode(
  insns: readonly Instruction[],
  littleEndian: boolean,
  location: Location = {},
): Uint8Array {
  const w = new BinaryWriter(littleEndian, insns.length * 8 + 8);
  let index = 0;
  for (const insn of insns) {
    checkSlot(insn, index, location);
    writeSlot(w, insn);
    if (insn.next !== undefined) {
      checkSlot(insn.next, index + 1, location);
      writeSlot(w, insn.next);
    }
    index += insn.size / 8;
  }
  return w.finish();
}

/** Set each instruction's `index` to its slot position, counting ld_imm64 as two; returns the slot count. */
export function assignIndices(insns: readonly Instruction[]): number {
  let index = 0;
  for (const insn of insns) {
    insn.index = index;
    index += insn.size / 8;
  }
  return index;
}
