// `ebpf disasm OBJ`: the executable sections of a BPF object, in llvm-objdump's syntax or as JSON.
import { disassembleObject, disassembleSection, executableSections } from '../exports/asm.js';
import { btfExtFromElf, btfFromElf } from '../exports/btf.js';
import { expectBpfObject, readElfFile, type ElfFile } from '../exports/elf.js';
import { NotFoundError } from '../index.js';
import { parse, positionals, type Command } from './common.js';

const usage = `usage: ebpf disasm OBJ [--section S] [-j] [--reloc] [--source] [--alu32]

  OBJ         a BPF ELF object (either byte order)
  --section   only the section with this name
  -j, --json  [{section, instructions: [{index, text, opcode, dst, src, off, imm, reloc?}]}]
  --reloc     show relocations, as llvm-objdump -dr
  --source    annotate with source lines from .BTF.ext line_info (\`; file:line: text\`)
  --alu32     print as llvm-objdump --mattr=+alu32 (w registers for 32-bit loads, stores, atomics)`;

/**
 * Source text for (section, instruction index) from the object's line_info: the record at or
 * before the instruction, as the kernel attributes instructions to lines.
 */
function lineInfoSource(elf: ElfFile): (section: string, index: number) => string | undefined {
  const btf = btfFromElf(elf);
  const ext = btfExtFromElf(elf, btf);
  if (ext === undefined)
    throw new NotFoundError('object has no .BTF.ext: no line info to show', { file: elf.file ?? '' });
  return (section, index) => {
    const records = ext.lineInfo.get(section);
    if (records === undefined) return undefined;
    const at = index * 8;
    let found: (typeof records)[number] | undefined;
    for (const r of records) {
      if (r.insnOff > at) break;
      found = r;
    }
    if (found === undefined) return undefined;
    const file = found.fileName.split('/').pop() ?? found.fileName;
    return `${file}:${found.line}: ${found.lineText.trim()}`;
  };
}

async function run(args: string[]): Promise<number> {
  const a = parse(args, {
    section: { type: 'string' },
    reloc: { type: 'boolean' },
    alu32: { type: 'boolean' },
    source: { type: 'boolean' },
  });
  const [file] = positionals(a.positionals, 1, 1, 'OBJ, the object to disassemble') as [string];
  const elf = readElfFile(file);
  expectBpfObject(elf);
  const only = a.string('section');
  const sections = only === undefined ? undefined : [only];
  if (only !== undefined && executableSections(elf, sections).length === 0) {
    throw new NotFoundError(`no executable section named '${only}'`, { file });
  }
  const opts = {
    relocations: a.flag('reloc'),
    alu32: a.flag('alu32'),
    ...(sections ? { sections } : {}),
    ...(a.flag('source') ? { sourceLine: lineInfoSource(elf) } : {}),
  };
  if (!a.json) {
    process.stdout.write(disassembleObject(elf, opts));
    return 0;
  }
  const out = executableSections(elf, sections).map((section) => {
    const d = disassembleSection(elf, section, { ...opts, relocations: true });
    return {
      section: section.name,
      instructions: d.lines.map((l) => {
        const slot = l.insn.index === l.index ? l.insn : (l.insn.next ?? l.insn);
        const label = l.label === undefined ? '' : ` <${l.label}>`;
        const entry: Record<string, unknown> = {
          index: l.index,
          text: l.text + label,
          opcode: slot.opcode,
          dst: slot.dst,
          src: slot.src,
          off: slot.off,
          imm: slot.imm,
        };
        if (l.insn.wide && l.insn.index === l.index && l.text !== '<unknown>')
          entry.imm64 = l.insn.imm64.toString();
        if (d.symbols.has(l.index)) entry.symbol = d.symbols.get(l.index);
        const r = l.relocations?.[0];
        if (r !== undefined) entry.reloc = { type: r.typeName, symbol: r.symbol, offset: r.offset };
        if (l.source !== undefined) entry.source = l.source;
        return entry;
      }),
    };
  });
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}

export const command: Command = {
  summary: 'disassemble the programs of a BPF object (llvm-objdump syntax)',
  usage,
  run,
};
