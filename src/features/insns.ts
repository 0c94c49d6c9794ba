// The handful of raw instructions the probes load. Kept here so probes need nothing but sys.
const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function insn(code: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, code);
  // Register nibbles are ordered by the byte order of the target.
  v.setUint8(1, LE ? (src << 4) | dst : (dst << 4) | src);
  v.setInt16(2, off, LE);
  v.setInt32(4, imm, LE);
  return b;
}

export function program(...insns: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  insns.forEach((b, i) => out.set(b, i * 8));
  return out;
}

/** r<dst> = imm */
export const movImm = (dst: number, imm: number): Uint8Array => insn(0xb7, dst, 0, 0, imm);
export const exit = (): Uint8Array => insn(0x95, 0, 0, 0, 0);
/** call helper #id */
export const callHelper = (id: number): Uint8Array => insn(0x85, 0, 0, 0, id);
/** call a subprogram `off` instructions after the next one (BPF_PSEUDO_CALL). */
export const callLocal = (off: number): Uint8Array => insn(0x85, 0, 1, 0, off);
/** The two halves of ld_imm64 r<dst> with src (BPF_PSEUDO_MAP_FD = 1, BPF_PSEUDO_MAP_VALUE = 2). */
export function ldImm64(dst: number, src: number, lo: number, hi: number): Uint8Array[] {
  return [insn(0x18, dst, src, 0, lo), insn(0, 0, 0, 0, hi)];
}
