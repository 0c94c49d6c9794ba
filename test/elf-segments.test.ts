// Program headers and the dynamic symbol table of src/elf, against llvm-readelf-19's JSON output for
// real executables and shared libraries on this machine; fileOffsetOf through PT_LOAD segments.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseElf, PT_LOAD, SHN_UNDEF } from '../src/elf/index.js';
import { ElfError } from '../src/errors.js';
import { needTool, run, TESTDATA } from './helpers.js';

const BINARIES = ['/bin/ls', '/lib/x86_64-linux-gnu/libc.so.6', process.execPath];

interface ReadelfSegment {
  ProgramHeader: {
    Type: { Value: number };
    Offset: number;
    VirtualAddress: number;
    PhysicalAddress: number;
    FileSize: number;
    MemSize: number;
    Flags: { Value: number };
    Alignment: number;
  };
}
interface ReadelfSymbol {
  Symbol: { Name: { Name: string }; Value: number; Section: { Value: number } };
}

function readelf(path: string, what: string): Record<string, unknown> {
  const out = JSON.parse(run('llvm-readelf-19', [what, '--elf-output-style=JSON', path])) as Record<
    string,
    unknown
  >[];
  return out[0]!;
}

test('segments equal llvm-readelf --program-headers', (t) => {
  if (!needTool(t, 'llvm-readelf-19')) return;
  for (const path of BINARIES) {
    const elf = parseElf(readFileSync(path), path);
    const want = (readelf(path, '--program-headers').ProgramHeaders as ReadelfSegment[]).map((s) => ({
      type: s.ProgramHeader.Type.Value,
      flags: s.ProgramHeader.Flags.Value,
      offset: s.ProgramHeader.Offset,
      vaddr: BigInt(s.ProgramHeader.VirtualAddress),
      paddr: BigInt(s.ProgramHeader.PhysicalAddress),
      filesz: s.ProgramHeader.FileSize,
      memsz: BigInt(s.ProgramHeader.MemSize),
      align: BigInt(s.ProgramHeader.Alignment),
    }));
    assert.ok(want.length > 0, path);
    assert.deepEqual(
      elf.segments.map(({ index: _, ...s }) => s),
      want,
      path,
    );
  }
});

test('dynamicSymbols equal llvm-readelf --dyn-syms', (t) => {
  if (!needTool(t, 'llvm-readelf-19')) return;
  for (const path of BINARIES) {
    const elf = parseElf(readFileSync(path), path);
    const want = (readelf(path, '--dyn-syms').DynamicSymbols as ReadelfSymbol[]).map((s) => ({
      // llvm-readelf appends the symbol version (`@GLIBC_2.3`, `@@...`) from .gnu.version.
      name: s.Symbol.Name.Name.replace(/@.*$/, ''),
      value: BigInt(s.Symbol.Value),
    }));
    assert.ok(want.length > 1, path);
    assert.deepEqual(
      elf.dynamicSymbols.map((s) => ({ name: s.name, value: s.value })),
      want,
      path,
    );
  }
});

test('fileOffsetOf maps addresses through the PT_LOAD that holds them', () => {
  const elf = parseElf(readFileSync(process.execPath), process.execPath);
  const loads = elf.segments.filter((s) => s.type === PT_LOAD);
  // Node's text segment is mapped at an address other than its file offset: a real test.
  assert.ok(loads.some((s) => s.vaddr !== BigInt(s.offset)));
  for (const s of loads) {
    assert.equal(elf.fileOffsetOf(s.vaddr), s.offset);
    if (s.filesz > 0) assert.equal(elf.fileOffsetOf(s.vaddr + BigInt(s.filesz - 1)), s.offset + s.filesz - 1);
  }
  const fn = elf.dynamicSymbols.find((s) => s.name === 'uv_os_getppid' && s.shndx !== SHN_UNDEF);
  assert.ok(fn !== undefined);
  const off = elf.fileOffsetOf(fn.value);
  assert.ok(off !== undefined);
  // The section holding the symbol agrees: address - sh_addr + sh_offset.
  const sec = elf.symbolSection(fn)!;
  assert.equal(off, Number(fn.value - sec.addr) + sec.offset);
  assert.equal(elf.fileOffsetOf(0xffff_ffff_ffff_0000n), undefined);
});

test('relocatable objects have no segments; a cut program header table is an ElfError', () => {
  const bytes = readFileSync(join(TESTDATA, 'calls-el.o'));
  const obj = parseElf(bytes);
  assert.deepEqual(obj.segments, []);
  assert.equal(obj.fileOffsetOf(0n), undefined);

  const ls = new Uint8Array(readFileSync('/bin/ls'));
  const view = new DataView(ls.buffer, ls.byteOffset, ls.byteLength);
  const phoff = Number(view.getBigUint64(32, true));
  const cut = ls.slice(0, phoff + 56 + 10); // the second header ends past the end
  // Keep the section headers out of reach too: e_shoff/e_shnum 0, so only segments are read.
  const cv = new DataView(cut.buffer);
  cv.setBigUint64(40, 0n, true);
  cv.setUint16(60, 0, true);
  cv.setUint16(62, 0, true);
  const elf = parseElf(cut, 'cut-ls');
  assert.throws(
    () => elf.segments,
    (e: unknown) => e instanceof ElfError && /program header table/.test(e.message),
  );
  const bad = ls.slice();
  new DataView(bad.buffer).setUint16(54, 32, true); // e_phentsize
  assert.throws(() => parseElf(bad).segments, /e_phentsize is 32/);
});
