// Disassembly of instruction lists and of ELF sections, laid out as `llvm-objdump -d` prints
// them: symbol lines, slot numbers, `<label>` after jump targets, optional relocations and source.
import type { ElfFile, ElfSection, ElfRelocation, ElfSymbol } from '../elf/elf.js';
import { R_BPF_NAMES, SHF_EXECINSTR, SHT_NOBITS, STT_FILE, STT_SECTION } from '../elf/constants.js';
import { formatSlot, UNKNOWN, type FormatOptions, type Formatted } from './format.js';
import { decodeSlots, Instruction } from './instruction.js';
import { BPF_LD_IMM64 } from './opcodes.js';

/** One printed line of disassembly: one instruction, or one half of an ld_imm64 LLVM refuses. */
export interface DisasmLine {
  /** Slot index (byte offset / 8) in the section. */
  index: number;
  text: string;
  /** The instruction this line belongs to. */
  insn: Instruction;
  /** Slot the jump lands on, when llvm-objdump would annotate it. */
  target?: number;
  /** `<label>` text llvm-objdump prints after the jump, without the brackets. */
  label?: string;
  /** Relocations whose offset falls in this line's bytes. */
  relocations?: DisasmRelocation[];
  /** Source line text, when a source-line callback gave one for this instruction. */
  source?: string;
}

export interface DisasmRelocation {
  offset: number;
  type: number;
  typeName: string;
  symbol: string;
  addend: bigint;
}

export interface DisasmOptions extends FormatOptions {
  /** Print relocation lines as `llvm-objdump -dr` does. */
  relocations?: boolean;
  /** Source text for an instruction (e.g. from BTF.ext line_info); printed as `; text` when it changes. */
  sourceLine?: (section: string, index: number) => string | undefined;
  /** Only the sections with these names. */
  sections?: readonly string[];
}

/** Lines for a list of instructions whose `index` fields are their slot positions. */
export function disassemble(insns: readonly Instruction[], opts: FormatOptions = {}): DisasmLine[] {
  const lines: DisasmLine[] = [];
  for (const insn of insns) {
    const f = formatSlot(insn, insn.next, insn.index, opts);
    lines.push(makeLine(insn.index, f, insn));
    if (insn.next !== undefined && f.text === UNKNOWN) {
      lines.push(makeLine(insn.index + 1, formatSlot(insn.next, undefined, insn.index + 1, opts), insn));
    }
  }
  return lines;
}

function makeLine(index: number, f: Formatted, insn: Instruction): DisasmLine {
  const line: DisasmLine = { index, text: f.text, insn };
  if (f.target !== undefined) line.target = f.target;
  return line;
}

/**
 * Lines for raw section bytes, walked the way llvm-objdump walks them: an ld_imm64 LLVM refuses
 * takes one slot, and the next slot is decoded afresh (it may start another ld_imm64).
 */
export function disassembleBytes(
  bytes: Uint8Array,
  littleEndian: boolean,
  opts: FormatOptions = {},
): DisasmLine[] {
  const whole = bytes.subarray(0, bytes.length - (bytes.length % 8));
  const slots = decodeSlots(whole, littleEndian);
  const lines: DisasmLine[] = [];
  // Where LLVM cannot read a whole instruction it steps one byte at a time, one <unknown> each.
  const byteByByte = (index: number, count: number, insn: Instruction): void => {
    for (let k = 0; k < count; k++) lines.push({ index, text: UNKNOWN, insn });
  };
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!;
    const next = s.opcode === BPF_LD_IMM64 ? slots[i + 1] : undefined;
    if (s.opcode === BPF_LD_IMM64 && next === undefined) {
      byteByByte(i, 8, new Instruction({ ...s, index: i }));
      continue;
    }
    const f = formatSlot(s, next, i, opts);
    if (next !== undefined && f.text !== UNKNOWN) {
      lines.push(makeLine(i, f, new Instruction({ ...s, next, index: i })));
      i++;
    } else {
      lines.push(
        makeLine(i, f, new Instruction({ ...s, index: i, ...(next === undefined ? {} : { next }) })),
      );
    }
  }
  const tail = bytes.length % 8;
  if (tail !== 0)
    byteByByte(slots.length, tail, new Instruction({ opcode: bytes[whole.length]!, index: slots.length }));
  return lines;
}

interface Label {
  addr: number;
  name: string;
}

/** The labels llvm-objdump knows in a section: its symbols, or the section name at 0 if none is there. */
function sectionLabels(elf: ElfFile, section: ElfSection): Label[] {
  const labels: Label[] = [];
  for (const sym of elf.symbolsIn(section.index)) {
    if (sym.type === STT_SECTION || sym.type === STT_FILE) continue;
    labels.push({ addr: Number(sym.value), name: sym.name });
  }
  labels.sort((a, b) => a.addr - b.addr || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (labels[0]?.addr !== 0) labels.unshift({ addr: 0, name: section.name });
  return labels;
}

/**
 * The label llvm-objdump prints for a jump target: the last symbol at or before it, plus an
 * offset. Addresses are unsigned 64-bit, so a jump before the section start wraps around.
 */
function labelFor(labels: readonly Label[], slot: number): string | undefined {
  const addr = BigInt.asUintN(64, BigInt(slot) * 8n);
  let lo = 0;
  let hi = labels.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (BigInt(labels[mid]!.addr) <= addr) lo = mid + 1;
    else hi = mid;
  }
  const l = labels[lo - 1];
  if (l === undefined) return undefined;
  const delta = addr - BigInt(l.addr);
  return delta === 0n ? l.name : `${l.name}+0x${delta.toString(16)}`;
}

function relocationSymbolName(elf: ElfFile, rel: ElfRelocation): string {
  const sym: ElfSymbol | undefined = elf.symbol(rel.symbol);
  if (sym === undefined || rel.symbol === 0) return '*ABS*';
  if (sym.type === STT_SECTION) return elf.symbolSection(sym)?.name ?? '';
  return sym.name;
}

/** A disassembled section with the symbol labels that start lines. */
export interface DisasmSection {
  section: ElfSection;
  lines: DisasmLine[];
  /** Symbol names printed before the line at each slot index. */
  symbols: Map<number, string>;
}

/** Disassemble one section of an object. */
export function disassembleSection(
  elf: ElfFile,
  section: ElfSection,
  opts: DisasmOptions = {},
): DisasmSection {
  // LLVM reads whole slots only; a ragged tail is not an instruction.
  const data = section.data();
  const lines = disassembleBytes(data, elf.littleEndian, opts);
  const labels = sectionLabels(elf, section);
  for (const line of lines) {
    if (line.target !== undefined) {
      const l = labelFor(labels, line.target);
      if (l !== undefined) line.label = l;
    }
  }
  if (opts.relocations === true) {
    const rels = elf
      .relocationsFor(section.index)
      .slice()
      .sort((a, b) => a.offset - b.offset);
    let i = 0;
    for (const line of lines) {
      const end =
        (line.index +
          (line.text !== '<unknown>' && line.insn.index === line.index ? line.insn.size / 8 : 1)) *
        8;
      while (i < rels.length && rels[i]!.offset < end) {
        const rel = rels[i++]!;
        (line.relocations ??= []).push({
          offset: rel.offset,
          type: rel.type,
          typeName: R_BPF_NAMES[rel.type] ?? `Unknown (${rel.type})`,
          symbol: relocationSymbolName(elf, rel),
          addend: rel.addend,
        });
      }
    }
  }
  if (opts.sourceLine !== undefined) {
    for (const line of lines) {
      const src = opts.sourceLine(section.name, line.index);
      if (src !== undefined) line.source = src;
    }
  }
  const symbols = new Map<number, string>();
  for (const l of labels) if (l.addr % 8 === 0 && l.addr < data.length) symbols.set(l.addr / 8, l.name);
  return { section, lines, symbols };
}

/** The sections `llvm-objdump -d` disassembles: executable, with bytes. */
export function executableSections(elf: ElfFile, names?: readonly string[]): ElfSection[] {
  return elf.sections.filter(
    (s) =>
      (s.flags & SHF_EXECINSTR) !== 0 &&
      s.type !== SHT_NOBITS &&
      s.size > 0 &&
      (names === undefined || names.includes(s.name)),
  );
}

function relocText(r: DisasmRelocation): string {
  let sym = r.symbol;
  if (r.addend !== 0n)
    sym += r.addend < 0n ? `-0x${(-r.addend).toString(16)}` : `+0x${r.addend.toString(16)}`;
  return `\t\t${r.offset.toString(16).padStart(16, '0')}:  ${r.typeName}\t${sym}`;
}

/** Text of one line as llvm-objdump prints it (slot number, tab, instruction, label). */
export function lineText(line: DisasmLine): string {
  const label = line.label === undefined ? '' : ` <${line.label}>`;
  return `${String(line.index).padStart(8)}:\t${line.text}${label}`;
}

/** The whole object as `llvm-objdump -d --no-show-raw-insn` (with `relocations`, `-dr`) prints it. */
export function disassembleObject(elf: ElfFile, opts: DisasmOptions = {}): string {
  const out: string[] = ['', `${elf.file ?? '<memory>'}:\tfile format elf64-bpf`];
  for (const section of executableSections(elf, opts.sections)) {
    out.push('', `Disassembly of section ${section.name}:`);
    const d = disassembleSection(elf, section, opts);
    let lastSource: string | undefined;
    for (const line of d.lines) {
      const sym = d.symbols.get(line.index);
      if (sym !== undefined) out.push('', `${(line.index * 8).toString(16).padStart(16, '0')} <${sym}>:`);
      if (line.source !== undefined && line.source !== lastSource) out.push(`; ${line.source}`);
      lastSource = line.source ?? lastSource;
      out.push(lineText(line));
      for (const r of line.relocations ?? []) out.push(relocText(r));
    }
  }
  return out.join('\n') + '\n';
}
