// ELF reader against llvm-readobj-19's JSON for every test object, and typed errors on bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseElf,
  ElfFile,
  EM_BPF,
  ET_REL,
  SHT_NOBITS,
  SHT_REL,
  SHT_RELA,
  STT_SECTION,
  R_BPF_64_64,
  SHF_EXECINSTR,
} from '../src/elf/index.js';
import { ElfError } from '../src/errors.js';
import { allObjects, TESTDATA, needTool, run } from './helpers.js';

const load = (path: string): ElfFile => parseElf(new Uint8Array(readFileSync(path)), path);

interface Named {
  Name: string;
  Value: number;
}
interface ReadobjSection {
  Section: {
    Index: number;
    Name: Named;
    Type: Named;
    Flags: { Value: number };
    Address: number;
    Offset: number;
    Size: number;
    Link: number;
    Info: number;
    AddressAlignment: number;
    EntrySize: number;
  };
}
interface ReadobjSymbol {
  Symbol: {
    Name: Named;
    Value: number;
    Size: number;
    Binding: Named;
    Type: Named;
    Other: { Value: number };
    Section: Named;
  };
}
interface ReadobjReloc {
  SectionIndex: number;
  Relocs: { Relocation: { Offset: number; Type: Named; Symbol: Named; Addend?: number } }[];
}
interface Readobj {
  ElfHeader: {
    Ident: { DataEncoding: Named; Class: Named };
    Machine: Named;
    SectionHeaderOffset: number;
    Flags: { Value: number };
  };
  Sections: ReadobjSection[];
  Symbols: ReadobjSymbol[];
  Relocations: ReadobjReloc[];
}

test('every object matches llvm-readobj: header, sections, symbols, relocations', (t) => {
  if (!needTool(t, 'llvm-readobj-19')) return;
  const files = allObjects(t);
  assert.ok(files.length > 10, `expected test objects, found ${files.length}`);
  let symbols = 0;
  let relocations = 0;
  for (const file of files) {
    const elf = load(file);
    const [want] = JSON.parse(
      run('llvm-readobj-19', ['--elf-output-style=JSON', '-h', '-S', '-s', '-r', file]),
    ) as Readobj[];
    assert.ok(want);
    assert.equal(elf.header.data, want.ElfHeader.Ident.DataEncoding.Value, file);
    assert.equal(elf.header.class, want.ElfHeader.Ident.Class.Value, file);
    assert.equal(elf.header.machine, want.ElfHeader.Machine.Value, file);
    assert.equal(elf.header.machine, EM_BPF);
    assert.equal(elf.header.type, ET_REL);
    assert.equal(elf.header.shoff, want.ElfHeader.SectionHeaderOffset, file);
    assert.equal(elf.sections.length, want.Sections.length, file);
    for (const { Section: w } of want.Sections) {
      const s = elf.section(w.Index);
      assert.ok(s, `${file}: section ${w.Index}`);
      const got = [
        s.name,
        s.type,
        s.flags,
        Number(s.addr),
        s.offset,
        s.size,
        s.link,
        s.info,
        s.addralign,
        s.entsize,
      ];
      const exp = [
        w.Name.Name,
        w.Type.Value,
        w.Flags.Value,
        w.Address,
        w.Offset,
        w.Size,
        w.Link,
        w.Info,
        w.AddressAlignment,
        w.EntrySize,
      ];
      assert.deepEqual(got, exp, `${file}: section ${w.Index}`);
      assert.equal(s.data().length, s.type === SHT_NOBITS ? 0 : s.size);
      if (s.name !== '') assert.equal(elf.section(s.name)?.name, s.name);
    }
    // llvm-readobj lists the null symbol too, so indices line up.
    assert.equal(elf.symbols.length, want.Symbols.length, file);
    want.Symbols.forEach(({ Symbol: w }, i) => {
      const s = elf.symbol(i)!;
      if (s.type !== STT_SECTION) assert.equal(s.name, w.Name.Name, `${file}: symbol ${i}`);
      const got = [Number(s.value), Number(s.size), s.bind, s.type, s.visibility, s.index];
      assert.deepEqual(
        got,
        [w.Value, w.Size, w.Binding.Value, w.Type.Value, w.Other.Value & 3, i],
        `${file}: symbol ${i}`,
      );
      if (w.Section.Value < 0xff00) assert.equal(s.shndx, w.Section.Value, `${file}: symbol ${i} section`);
      symbols++;
    });
    const relSections = elf.relocationSections;
    assert.equal(relSections.length, want.Relocations.length, file);
    want.Relocations.forEach((w, k) => {
      const rs = relSections[k]!;
      assert.equal(rs.section.index, w.SectionIndex, file);
      assert.ok(rs.section.type === SHT_REL || rs.section.type === SHT_RELA);
      assert.equal(rs.target.index, rs.section.info);
      assert.equal(rs.relocations.length, w.Relocs.length, `${file}: ${rs.section.name}`);
      w.Relocs.forEach(({ Relocation: wr }, j) => {
        const r = rs.relocations[j]!;
        assert.equal(r.offset, wr.Offset);
        assert.equal(r.type, wr.Type.Value);
        assert.equal(r.symbol, wr.Symbol.Value, `${file}: ${rs.section.name}[${j}]`);
        assert.equal(r.addend, BigInt(wr.Addend ?? 0));
        relocations++;
      });
      assert.deepEqual(
        elf.relocationsFor(rs.target.index).filter((r) => rs.relocations.includes(r)),
        rs.relocations,
      );
    });
  }
  t.diagnostic(`${files.length} objects, ${symbols} symbols, ${relocations} relocations compared`);
});

test('little- and big-endian builds of one source read the same', () => {
  const el = join(TESTDATA, 'calls-el.o');
  const eb = join(TESTDATA, 'calls-eb.o');
  const a = load(el);
  const b = load(eb);
  assert.equal(a.littleEndian, true);
  assert.equal(b.littleEndian, false);
  assert.deepEqual(
    a.sections.map((s) => [s.name, s.type, s.flags]),
    b.sections.map((s) => [s.name, s.type, s.flags]),
  );
  const names = (e: ElfFile): string[] => e.symbols.map((s) => s.name).sort();
  assert.deepEqual(names(a), names(b));
  const rels = (e: ElfFile): string[] =>
    e.relocationSections
      .filter((rs) => (rs.target.flags & SHF_EXECINSTR) !== 0)
      .flatMap((rs) => rs.relocations.map((r) => `${rs.target.name} ${r.type} ${e.symbol(r.symbol)?.name}`));
  assert.deepEqual(rels(a), rels(b));
  assert.ok(rels(a).some((r) => r.includes(` ${R_BPF_64_64} `)));
});

function expectElfError(bytes: Uint8Array, pattern: RegExp): ElfError {
  let caught: unknown;
  try {
    const elf = parseElf(bytes, 'bad.o');
    void elf.symbols;
    void elf.relocationSections;
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ElfError, `expected ElfError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.equal(caught.location.file, 'bad.o');
  return caught;
}

test('malformed input throws ElfError naming the file, section and offset', () => {
  const path = join(TESTDATA, 'calls-el.o');
  const good = new Uint8Array(readFileSync(path));
  const elf = parseElf(good, path);

  expectElfError(new Uint8Array(0), /bad magic/);
  expectElfError(good.slice(0, 40), /out of bounds/);
  const elf32 = good.slice();
  elf32[4] = 1;
  expectElfError(elf32, /ELFCLASS64/);
  const badData = good.slice();
  badData[5] = 9;
  expectElfError(badData, /data encoding/);

  // A section whose data runs past the end of the file.
  const text = elf.section('.text')!;
  const past = good.slice();
  const dv = new DataView(past.buffer);
  dv.setBigUint64(elf.header.shoff + text.index * 64 + 32, BigInt(good.length), true);
  const e1 = expectElfError(past, /section \d+ '\.text' data/);
  assert.equal(e1.location.offset, text.offset);

  // A symbol whose name is outside the string table: the error names .symtab and the offset.
  const symtab = elf.symtab!;
  const badName = good.slice();
  new DataView(badName.buffer).setUint32(symtab.offset + 24, 0xfffffff0, true);
  const e2 = expectElfError(badName, /string offset/);
  assert.ok(e2.message.includes('.strtab'), e2.message);

  // A relocation naming a symbol that does not exist.
  const rel = elf.relocationSections[0]!.section;
  const badRel = good.slice();
  new DataView(badRel.buffer).setUint32(rel.offset + 12, 0xffff, true);
  const e3 = expectElfError(badRel, /names symbol 65535/);
  assert.equal(e3.location.section, rel.name);
  assert.equal(e3.location.offset, rel.offset);
});
