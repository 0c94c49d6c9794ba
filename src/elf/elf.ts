// The ELF64 reader: header, sections, symbols, relocations and string tables, either byte order.
// Every read goes through a bounds-checked BinaryReader; malformed input throws ElfError.
import { ElfError, type Location } from '../errors.js';
import { BinaryReader } from '../internal/reader.js';
import { readInputFile } from '../internal/file.js';
import {
  ELF64_EHDR_SIZE,
  ELF64_PHDR_SIZE,
  ELF64_REL_SIZE,
  ELF64_RELA_SIZE,
  ELF64_SHDR_SIZE,
  ELF64_SYM_SIZE,
  ELFCLASS64,
  ELFDATA2LSB,
  ELFDATA2MSB,
  EM_BPF,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHN_XINDEX,
  PT_LOAD,
  SHT_DYNSYM,
  SHT_NOBITS,
  SHT_NULL,
  SHT_REL,
  SHT_RELA,
  SHT_STRTAB,
  SHT_SYMTAB,
  SHT_SYMTAB_SHNDX,
} from './constants.js';

export interface ElfHeader {
  /** EI_CLASS; always ELFCLASS64 here. */
  class: number;
  /** EI_DATA: ELFDATA2LSB or ELFDATA2MSB. */
  data: number;
  /** EI_VERSION. */
  version: number;
  osabi: number;
  abiversion: number;
  /** e_type, e.g. ET_REL. */
  type: number;
  /** e_machine, EM_BPF for BPF objects. */
  machine: number;
  entry: bigint;
  phoff: number;
  shoff: number;
  flags: number;
  ehsize: number;
  phentsize: number;
  phnum: number;
  shentsize: number;
  /** Number of sections, after SHN_XINDEX escapes are resolved. */
  shnum: number;
  /** Index of the section-name string table, after SHN_XINDEX escapes are resolved. */
  shstrndx: number;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The section's bytes (a view into the file); empty for SHT_NOBITS. */
  data(): Uint8Array;
}

/** One program header: a segment of the file as a loader maps it. */
export interface ElfSegment {
  index: number;
  /** PT_* */
  type: number;
  /** PF_R | PF_W | PF_X */
  flags: number;
  /** Where the segment's bytes start in the file. */
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  /** Bytes in the file (the rest up to memsz is zero-filled in memory). */
  filesz: number;
  memsz: bigint;
  align: bigint;
}

export interface ElfSymbol {
  /** Index in the symbol table (0 is the null symbol). */
  index: number;
  name: string;
  value: bigint;
  size: bigint;
  /** STB_* */
  bind: number;
  /** STT_* */
  type: number;
  /** STV_* */
  visibility: number;
  /** Section index, or SHN_UNDEF / SHN_ABS / SHN_COMMON; SHN_XINDEX escapes are resolved. */
  shndx: number;
}

export interface ElfRelocation {
  /** Offset of the relocated bytes in the target section. */
  offset: number;
  /** Index into the symbol table named by the relocation section's sh_link. */
  symbol: number;
  /** R_BPF_* */
  type: number;
  /** Explicit addend (SHT_RELA) or 0n (SHT_REL, whose addend is in the relocated bytes). */
  addend: bigint;
  /** Index of the section these bytes are in (the relocation section's sh_info). */
  section: number;
}

export interface ElfRelocationSection {
  /** The SHT_REL or SHT_RELA section itself. */
  section: ElfSection;
  /** The section it patches (sh_info). */
  target: ElfSection;
  relocations: ElfRelocation[];
}

const elfError = (message: string, location: Location): ElfError => new ElfError(message, location);

/** A parsed ELF64 file. Sections are read eagerly; symbols and relocations on first use. */
export class ElfFile {
  readonly bytes: Uint8Array;
  readonly file: string | undefined;
  readonly header: ElfHeader;
  readonly littleEndian: boolean;
  readonly sections: readonly ElfSection[];
  private readonly reader: BinaryReader;
  private readonly byName = new Map<string, ElfSection>();
  private symbolCache: ElfSymbol[] | undefined;
  private dynamicSymbolCache: ElfSymbol[] | undefined;
  private segmentCache: ElfSegment[] | undefined;
  private relocationCache: ElfRelocationSection[] | undefined;

  constructor(bytes: Uint8Array, file?: string) {
    this.bytes = bytes;
    this.file = file;
    const loc: Location = file === undefined ? {} : { file };
    const ident = new BinaryReader(bytes, true, loc, elfError);
    if (
      bytes.length < 16 ||
      ident.u8(0) !== 0x7f ||
      ident.u8(1) !== 0x45 ||
      ident.u8(2) !== 0x4c ||
      ident.u8(3) !== 0x46
    ) {
      // Raw BTF (/sys/kernel/btf/*) is the other input users have at hand: say so.
      const btf =
        bytes.length >= 2 &&
        ((bytes[0] === 0x9f && bytes[1] === 0xeb) || (bytes[0] === 0xeb && bytes[1] === 0x9f));
      const what = bytes.length === 0 ? ': empty file' : btf ? ': raw BTF, not an ELF object' : '';
      throw new ElfError(`not an ELF file (bad magic${what})`, { ...loc, offset: 0 });
    }
    const cls = ident.u8(4);
    if (cls !== ELFCLASS64)
      throw new ElfError(`unsupported ELF class ${cls} (only ELFCLASS64)`, { ...loc, offset: 4 });
    const data = ident.u8(5);
    if (data !== ELFDATA2LSB && data !== ELFDATA2MSB) {
      throw new ElfError(`unknown ELF data encoding ${data}`, { ...loc, offset: 5 });
    }
    this.littleEndian = data === ELFDATA2LSB;
    const r = new BinaryReader(bytes, this.littleEndian, loc, elfError);
    this.reader = r;
    r.check(0, ELF64_EHDR_SIZE, 'ELF header');
    const header: ElfHeader = {
      class: cls,
      data,
      version: r.u8(6),
      osabi: r.u8(7),
      abiversion: r.u8(8),
      type: r.u16(16),
      machine: r.u16(18),
      entry: r.u64(24),
      phoff: r.u64n(32, 'e_phoff'),
      shoff: r.u64n(40, 'e_shoff'),
      flags: r.u32(48),
      ehsize: r.u16(52),
      phentsize: r.u16(54),
      phnum: r.u16(56),
      shentsize: r.u16(58),
      shnum: r.u16(60),
      shstrndx: r.u16(62),
    };
    this.header = header;
    this.sections = this.readSections(header);
    for (const s of this.sections) if (s.name !== '' && !this.byName.has(s.name)) this.byName.set(s.name, s);
  }

  private location(extra: Location = {}): Location {
    return this.file === undefined ? { ...extra } : { file: this.file, ...extra };
  }

  private readSections(h: ElfHeader): ElfSection[] {
    const r = this.reader;
    if (h.shoff === 0) {
      if (h.shnum !== 0) throw r.error(`e_shnum is ${h.shnum} but e_shoff is 0`, 60);
      return [];
    }
    if (h.shentsize !== ELF64_SHDR_SIZE)
      throw r.error(`e_shentsize is ${h.shentsize}, expected ${ELF64_SHDR_SIZE}`, 58);
    // Section 0 carries the real count and string-table index when they overflow 16 bits.
    r.check(h.shoff, ELF64_SHDR_SIZE, 'section header 0');
    let shnum = h.shnum;
    if (shnum === 0) shnum = r.u64n(h.shoff + 32, 'section count');
    let shstrndx = h.shstrndx;
    if (shstrndx === SHN_XINDEX) shstrndx = r.u32(h.shoff + 40);
    h.shnum = shnum;
    h.shstrndx = shstrndx;
    r.check(h.shoff, shnum * ELF64_SHDR_SIZE, 'section header table');

    const raw = [];
    for (let i = 0; i < shnum; i++) {
      const o = h.shoff + i * ELF64_SHDR_SIZE;
      raw.push({
        nameOff: r.u32(o),
        type: r.u32(o + 4),
        flags: r.u64n(o + 8, 'sh_flags'),
        addr: r.u64(o + 16),
        offset: r.u64n(o + 24, 'sh_offset'),
        size: r.u64n(o + 32, 'sh_size'),
        link: r.u32(o + 40),
        info: r.u32(o + 44),
        addralign: r.u64n(o + 48, 'sh_addralign'),
        entsize: r.u64n(o + 56, 'sh_entsize'),
        headerOffset: o,
      });
    }
    let names: BinaryReader | undefined;
    if (shstrndx !== SHN_UNDEF) {
      const s = raw[shstrndx];
      if (s === undefined) throw r.error(`e_shstrndx ${shstrndx} out of range (${shnum} sections)`, 62);
      if (s.type === SHT_NOBITS) throw r.error(`section-name table ${shstrndx} has no data`, s.headerOffset);
      names = r.sub(s.offset, s.size, this.location({ section: `[${shstrndx}]`, offset: s.offset }));
    }
    const bytes = this.bytes;
    return raw.map((s, index) => {
      const name = names === undefined || s.type === SHT_NULL ? '' : readString(names, s.nameOff);
      if (s.type !== SHT_NOBITS && s.type !== SHT_NULL) {
        r.check(s.offset, s.size, `section ${index} '${name}' data`);
      }
      const empty = new Uint8Array(0);
      const view =
        s.type === SHT_NOBITS || s.type === SHT_NULL ? empty : bytes.subarray(s.offset, s.offset + s.size);
      return {
        index,
        name,
        type: s.type,
        flags: s.flags,
        addr: s.addr,
        offset: s.offset,
        size: s.size,
        link: s.link,
        info: s.info,
        addralign: s.addralign,
        entsize: s.entsize,
        data: () => view,
      };
    });
  }

  /** A section by index or name (the first of that name). */
  section(which: number | string): ElfSection | undefined {
    return typeof which === 'number' ? this.sections[which] : this.byName.get(which);
  }

  /** Every section whose name is `name` (names need not be unique). */
  sectionsNamed(name: string): ElfSection[] {
    return this.sections.filter((s) => s.name === name);
  }

  /** A bounds-checked reader over a section's bytes, whose errors name the file and section. */
  sectionReader(section: ElfSection): BinaryReader {
    return new BinaryReader(
      section.data(),
      this.littleEndian,
      this.location({ section: section.name || `[${section.index}]`, offset: section.offset }),
      elfError,
    );
  }

  /** The NUL-terminated string at `offset` in string-table section `index`. */
  string(index: number, offset: number): string {
    const s = this.sections[index];
    if (s === undefined) throw new ElfError(`string table index ${index} out of range`, this.location());
    if (s.type !== SHT_STRTAB) {
      throw new ElfError(`section ${index} is not a string table`, this.location({ section: s.name }));
    }
    return readString(this.sectionReader(s), offset);
  }

  /** The SHT_SYMTAB section, if any. */
  get symtab(): ElfSection | undefined {
    return this.sections.find((s) => s.type === SHT_SYMTAB);
  }

  /** The symbol table (index 0 is the null symbol); empty if the file has none. */
  get symbols(): readonly ElfSymbol[] {
    this.symbolCache ??= this.readSymbols();
    return this.symbolCache;
  }

  /** The dynamic symbol table (.dynsym, SHT_DYNSYM), which stripped shared objects keep; empty if none. */
  get dynamicSymbols(): readonly ElfSymbol[] {
    this.dynamicSymbolCache ??= this.readSymbolTable(this.sections.find((s) => s.type === SHT_DYNSYM));
    return this.dynamicSymbolCache;
  }

  /** The program headers (segments), read on first use; empty for relocatable objects. */
  get segments(): readonly ElfSegment[] {
    this.segmentCache ??= this.readSegments();
    return this.segmentCache;
  }

  /**
   * The file offset of virtual address `vaddr`, through the PT_LOAD segment that maps it from the
   * file; undefined when no segment does (or the address is in a segment's zero-filled tail).
   */
  fileOffsetOf(vaddr: bigint): number | undefined {
    for (const p of this.segments) {
      if (p.type !== PT_LOAD || vaddr < p.vaddr || vaddr >= p.vaddr + BigInt(p.filesz)) continue;
      return p.offset + Number(vaddr - p.vaddr);
    }
    return undefined;
  }

  private readSegments(): ElfSegment[] {
    const h = this.header;
    const r = this.reader;
    if (h.phoff === 0 || h.phnum === 0) return [];
    if (h.phentsize !== ELF64_PHDR_SIZE)
      throw r.error(`e_phentsize is ${h.phentsize}, expected ${ELF64_PHDR_SIZE}`, 54);
    r.check(h.phoff, h.phnum * ELF64_PHDR_SIZE, 'program header table');
    const out: ElfSegment[] = [];
    for (let i = 0; i < h.phnum; i++) {
      const o = h.phoff + i * ELF64_PHDR_SIZE;
      const seg: ElfSegment = {
        index: i,
        type: r.u32(o),
        flags: r.u32(o + 4),
        offset: r.u64n(o + 8, 'p_offset'),
        vaddr: r.u64(o + 16),
        paddr: r.u64(o + 24),
        filesz: r.u64n(o + 32, 'p_filesz'),
        memsz: r.u64(o + 40),
        align: r.u64(o + 48),
      };
      if (seg.type === PT_LOAD) r.check(seg.offset, seg.filesz, `segment ${i} data`);
      out.push(seg);
    }
    return out;
  }

  /** A symbol by table index. */
  symbol(index: number): ElfSymbol | undefined {
    return this.symbols[index];
  }

  /** Symbols defined in section `index`, in table order. */
  symbolsIn(index: number): ElfSymbol[] {
    return this.symbols.filter((s) => s.shndx === index && s.index !== 0);
  }

  private readSymbols(): ElfSymbol[] {
    return this.readSymbolTable(this.symtab);
  }

  private readSymbolTable(symtab: ElfSection | undefined): ElfSymbol[] {
    if (symtab === undefined) return [];
    const r = this.sectionReader(symtab);
    if (symtab.entsize !== ELF64_SYM_SIZE) {
      throw r.error(`symbol table entry size ${symtab.entsize}, expected ${ELF64_SYM_SIZE}`);
    }
    if (symtab.size % ELF64_SYM_SIZE !== 0)
      throw r.error(`symbol table size ${symtab.size} not a multiple of 24`);
    const strtab = this.sections[symtab.link];
    if (strtab === undefined || strtab.type !== SHT_STRTAB) {
      throw r.error(`symbol table sh_link ${symtab.link} is not a string table`);
    }
    const names = this.sectionReader(strtab);
    let xindex: BinaryReader | undefined;
    const shndxSection = this.sections.find((s) => s.type === SHT_SYMTAB_SHNDX && s.link === symtab.index);
    if (shndxSection !== undefined) xindex = this.sectionReader(shndxSection);
    const out: ElfSymbol[] = [];
    const count = symtab.size / ELF64_SYM_SIZE;
    for (let i = 0; i < count; i++) {
      const o = i * ELF64_SYM_SIZE;
      const info = r.u8(o + 4);
      let shndx = r.u16(o + 6);
      if (shndx === SHN_XINDEX) {
        if (xindex === undefined)
          throw r.error(`symbol ${i} uses SHN_XINDEX without SHT_SYMTAB_SHNDX`, o + 6);
        shndx = xindex.u32(i * 4);
      }
      out.push({
        index: i,
        name: readString(names, r.u32(o)),
        bind: info >> 4,
        type: info & 0xf,
        visibility: r.u8(o + 5) & 0x3,
        shndx,
        value: r.u64(o + 8),
        size: r.u64(o + 16),
      });
    }
    return out;
  }

  /** The section a symbol is defined in, if it is an ordinary section index. */
  symbolSection(sym: ElfSymbol): ElfSection | undefined {
    if (sym.shndx === SHN_UNDEF || (sym.shndx >= SHN_LORESERVE && sym.shndx !== SHN_XINDEX)) return undefined;
    return this.sections[sym.shndx];
  }

  /** Every SHT_REL / SHT_RELA section with its decoded entries. */
  get relocationSections(): readonly ElfRelocationSection[] {
    this.relocationCache ??= this.sections
      .filter((s) => s.type === SHT_REL || s.type === SHT_RELA)
      .map((s) => this.readRelocations(s));
    return this.relocationCache;
  }

  /** Relocations that patch section `index`, in file order, from every REL/RELA section for it. */
  relocationsFor(index: number): ElfRelocation[] {
    const out: ElfRelocation[] = [];
    for (const rs of this.relocationSections) if (rs.target.index === index) out.push(...rs.relocations);
    return out;
  }

  private readRelocations(section: ElfSection): ElfRelocationSection {
    const r = this.sectionReader(section);
    const rela = section.type === SHT_RELA;
    const entsize = rela ? ELF64_RELA_SIZE : ELF64_REL_SIZE;
    if (section.size % entsize !== 0) throw r.error(`size ${section.size} not a multiple of ${entsize}`);
    const target = this.sections[section.info];
    if (target === undefined || section.info === 0) throw r.error(`sh_info ${section.info} names no section`);
    const symbolCount = this.symtab === undefined ? 0 : this.symbols.length;
    const relocations: ElfRelocation[] = [];
    for (let o = 0; o < section.size; o += entsize) {
      const offset = r.u64n(o, 'r_offset');
      const infoHi = r.u32(o + (this.littleEndian ? 12 : 8));
      const infoLo = r.u32(o + (this.littleEndian ? 8 : 12));
      const addend = rela ? r.i64(o + 16) : 0n;
      if (infoHi >= symbolCount && infoHi !== 0) {
        throw r.error(`relocation names symbol ${infoHi} but the symbol table has ${symbolCount}`, o);
      }
      if (target.type !== SHT_NOBITS && offset >= target.size) {
        throw r.error(
          `relocation offset 0x${offset.toString(16)} outside section '${target.name}' (size ${target.size})`,
          o,
        );
      }
      relocations.push({ offset, symbol: infoHi, type: infoLo, addend, section: target.index });
    }
    return { section, target, relocations };
  }
}

function readString(r: BinaryReader, offset: number): string {
  if (offset >= r.length)
    throw r.error(`string offset ${offset} outside string table (size ${r.length})`, offset);
  return r.cstring(offset);
}

/** Parse an ELF64 file of either byte order; `file` names it in error messages. */
export function parseElf(bytes: Uint8Array, file?: string): ElfFile {
  return new ElfFile(bytes, file);
}

/** Reads and parses the ELF file at `path`; a missing or unreadable file is an error naming it. */
export function readElfFile(path: string): ElfFile {
  return parseElf(readInputFile(path), path);
}

/**
 * Throws unless `elf` is a BPF object (e_machine EM_BPF): the reader itself also serves host
 * binaries (uprobe targets), but reading an x86 object as BPF would only produce nonsense.
 */
export function expectBpfObject(elf: ElfFile, file = elf.file): void {
  const m = elf.header.machine;
  if (m === EM_BPF) return;
  const loc: Location = file === undefined ? { offset: 18 } : { file, offset: 18 };
  throw new ElfError(`not a BPF object: e_machine is ${m}, not EM_BPF (${EM_BPF})`, loc);
}
