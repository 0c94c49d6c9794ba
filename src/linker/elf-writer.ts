// Writing a relocatable ELF64 object: header, sections in index order (each at its alignment),
// section header table last, as libelf lays out a file it is given no layout for.
import { BinaryWriter } from '../internal/reader.js';
import {
  ELF64_EHDR_SIZE,
  ELF64_SHDR_SIZE,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  EV_CURRENT,
  SHT_NOBITS,
} from '../elf/constants.js';

export interface OutputSection {
  /** Offset of the name in the section-name string table. */
  nameOff: number;
  type: number;
  flags: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** Contents; for SHT_NOBITS only the size counts. */
  data: Uint8Array;
  size: number;
}

export interface OutputElf {
  littleEndian: boolean;
  /** ET_* */
  type: number;
  /** EM_* */
  machine: number;
  /** Index of the section-name string table. */
  shstrndx: number;
  /** Sections from index 1 on (index 0 is the null section, written implicitly). */
  sections: OutputSection[];
}

const align = (v: number, a: number): number => (a > 1 ? Math.ceil(v / a) * a : v);

export function writeElf(out: OutputElf): Uint8Array {
  const offsets: number[] = [];
  let at = ELF64_EHDR_SIZE;
  for (const s of out.sections) {
    at = align(at, s.addralign);
    offsets.push(at);
    if (s.type !== SHT_NOBITS) at += s.size;
  }
  const shoff = align(at, 8);
  const w = new BinaryWriter(out.littleEndian, shoff + ELF64_SHDR_SIZE * (out.sections.length + 1));
  // e_ident
  w.bytes(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, ELFCLASS64, out.littleEndian ? ELFDATA2LSB : ELFDATA2MSB]));
  w.u8(EV_CURRENT).bytes(new Uint8Array(9));
  w.u16(out.type).u16(out.machine).u32(EV_CURRENT);
  w.u64(0n).u64(0n).u64(BigInt(shoff)); // entry, phoff, shoff
  w.u32(0).u16(ELF64_EHDR_SIZE).u16(0).u16(0).u16(ELF64_SHDR_SIZE);
  w.u16(out.sections.length + 1).u16(out.shstrndx);
  out.sections.forEach((s, i) => {
    const pad = offsets[i]! - w.length;
    if (pad > 0) w.bytes(new Uint8Array(pad));
    if (s.type !== SHT_NOBITS) w.bytes(s.data.subarray(0, s.size));
  });
  if (shoff > w.length) w.bytes(new Uint8Array(shoff - w.length));
  w.bytes(new Uint8Array(ELF64_SHDR_SIZE));
  out.sections.forEach((s, i) => {
    w.u32(s.nameOff).u32(s.type).u64(BigInt(s.flags)).u64(0n).u64(BigInt(offsets[i]!));
    w.u64(BigInt(s.size)).u32(s.link).u32(s.info).u64(BigInt(s.addralign)).u64(BigInt(s.entsize));
  });
  return w.finish();
}
