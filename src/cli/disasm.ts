// `ebpf disasm OBJ`: the executable sections of a BPF object, in llvm-objdump's syntax or as JSON.
import { disassembleObject, disassembleSection, executableSections } from '../asm/disasm.js';
import { parseElf } from '../elf/elf.js';
import { NotFoundError } from '../errors.js';
import { readInputFile } from '../internal/file.js';
import { parseArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf disasm OBJ [--section S] [--json] [--reloc] [--alu32]

  OBJ         a BPF ELF object (either byte order)
  --section   only the section with this name
  --json      [{section, instructions: [{index, text, opcode, dst, src, off, imm, reloc?}]}]
  --reloc     show relocations, as llvm-objdump -dr
  --alu32     print as llvm-objdump --mattr=+alu32 (w registers for 32-bit loads, stores, atomics)`;

async function run(args: string[]): Promise<number> {
  const a = parseArgs(args, ['section']);
  const file = a.positionals[0];
  if (file === undefined || a.positionals.length > 1) {
    process.stderr.write(usage + '\n');
    return 2;
  }
  const elf = parseElf(readInputFile(file), file);
  const only = a.options.get('section');
  const sections = only === undefined ? undefined : [only];
  if (only !== undefined && executableSections(elf, sections).length === 0) {
    throw new NotFoundError(`no executable section named '${only}'`, { file });
  }
  const opts = {
    relocations: a.flags.has('reloc'),
    alu32: a.flags.has('alu32'),
    ...(sections ? { sections } : {}),
  };
  if (!a.flags.has('json')) {
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
