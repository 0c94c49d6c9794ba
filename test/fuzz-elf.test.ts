// Fuzzing the ELF reader, decoder and disassembler with byte flips and truncations of real
// objects: the only errors allowed out are the project's typed format errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decode, disassembleSection, encode } from '../src/asm/index.js';
import { parseElf, SHF_EXECINSTR } from '../src/elf/index.js';
import { ElfError, FormatError, InstructionError } from '../src/errors.js';
import { allObjects } from './helpers.js';

/** Everything a reader of an object would touch. */
function exercise(bytes: Uint8Array): void {
  const elf = parseElf(bytes, 'fuzz.o');
  void elf.symbols;
  void elf.relocationSections;
  for (const s of elf.sections) {
    if ((s.flags & SHF_EXECINSTR) === 0) continue;
    disassembleSection(elf, s, { relocations: true, alu32: true });
    if (s.size % 8 === 0) {
      const insns = decode(s.data(), elf.littleEndian, { file: 'fuzz.o', section: s.name });
      assert.deepEqual(encode(insns, elf.littleEndian), s.data());
    }
  }
}

test('byte flips and truncations of real objects only ever throw typed format errors', (t) => {
  const files = allObjects(t);
  assert.ok(files.length > 0, 'no objects to fuzz');
  let seed = 0x5eed;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return Math.floor((seed / 2 ** 32) * n);
  };
  const counts = { ok: 0, elf: 0, insn: 0, other: 0 };
  const started = Date.now();
  const iterations = 4000;
  for (let i = 0; i < iterations; i++) {
    const file = files[rnd(files.length)]!;
    const original = new Uint8Array(readFileSync(file));
    const elf = parseElf(original, file);
    let bytes = original.slice();
    const kind = rnd(4);
    if (kind === 0) {
      bytes = bytes.subarray(0, rnd(bytes.length));
    } else {
      // Aim most flips at the structures: ELF header, section headers, symbol table, relocations.
      const targets: [number, number][] = [
        [0, 64],
        [elf.header.shoff, elf.sections.length * 64],
        [0, bytes.length],
      ];
      const symtab = elf.symtab;
      if (symtab) targets.push([symtab.offset, symtab.size]);
      for (const rs of elf.relocationSections) targets.push([rs.section.offset, rs.section.size]);
      for (const s of elf.sections) if ((s.flags & SHF_EXECINSTR) !== 0) targets.push([s.offset, s.size]);
      const flips = 1 + rnd(kind === 3 ? 32 : 4);
      for (let f = 0; f < flips; f++) {
        const [start, len] = targets[rnd(targets.length)]!;
        const at = start + rnd(Math.max(1, len));
        if (at < bytes.length) bytes[at] = rnd(4) === 0 ? 0xff : bytes[at]! ^ (1 << rnd(8));
      }
    }
    try {
      exercise(bytes);
      counts.ok++;
    } catch (e) {
      if (e instanceof ElfError) counts.elf++;
      else if (e instanceof InstructionError) counts.insn++;
      else if (e instanceof FormatError) counts.other++;
      else throw new Error(`iteration ${i} (${file}, kind ${kind}) threw ${String(e)}`, { cause: e });
      assert.ok((e as FormatError).location.file === 'fuzz.o', (e as Error).message);
    }
  }
  const ms = Date.now() - started;
  t.diagnostic(`${iterations} mutated objects in ${ms} ms: ${JSON.stringify(counts)}`);
  assert.ok(counts.elf > 0 && counts.ok > 0);
});
