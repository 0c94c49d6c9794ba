// Static linking of BPF objects into one, with libbpf's semantics (bpf_linker, `bpftool gen
// object`): sections of the same name are concatenated at their alignment; global, weak and
// extern symbols (functions, maps, variables, .kconfig/.ksyms externs) resolve across files;
// BTF types are appended and deduplicated; DATASECs and .BTF.ext records are re-based onto the
// merged sections. The result has the section, symbol and BTF order libbpf's has.
import { Btf } from '../btf/btf.js';
import { parseBtfExt, type BtfExt, type CoreRelo, type FuncInfo, type LineInfo } from '../btf/ext.js';
import { BTF_MAGIC } from '../btf/btf.js';
import { StringTableBuilder } from '../btf/strings.js';
import { FuncLinkage, VarLinkage, type Type, type VarSecinfo } from '../btf/types.js';
import {
  EM_BPF,
  ELFCLASS64,
  ELF64_REL_SIZE,
  ELF64_SYM_SIZE,
  ET_REL,
  SHF_EXECINSTR,
  SHF_STRINGS,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHT_LLVM_ADDRSIG,
  SHT_NOBITS,
  SHT_PROGBITS,
  SHT_REL,
  SHT_STRTAB,
  SHT_SYMTAB,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_OBJECT,
  STT_SECTION,
  STV_DEFAULT,
  STV_HIDDEN,
} from '../elf/constants.js';
import { ElfFile, type ElfSection, type ElfSymbol } from '../elf/elf.js';
import { BinaryWriter } from '../internal/reader.js';
import { btfMismatch, mapDefMismatch, parseMapDef, typeSize } from './btf-match.js';
import { cloneType, dedupTypes, mapTypeIds, typeStrings } from './dedup.js';
import { writeElf, type OutputSection } from './elf-writer.js';
import { LinkError } from './errors.js';

export interface LinkOptions {
  /**
   * Let BTF dedup resolve a leftover FWD to the one struct or union of its name (default true,
   * as libbpf 1.1.0 on; false gives what bpftool 7.1, built with Linux 6.1's libbpf, writes).
   */
  fwdByName?: boolean;
}

/** One object to link: its bytes and the name errors use for it. */
export interface LinkInput {
  file: string;
  bytes: Uint8Array;
}

const EXTERN_SEC = '.extern';
const MAPS_SEC = '.maps';
const BPF_CALL = 0x85;
const FUNC_INFO_SIZE = 8;
const LINE_INFO_SIZE = 16;
const CORE_RELO_SIZE = 16;
const BTF_EXT_HEADER_SIZE = 32;

interface SrcSec {
  name: string;
  /** Position in the object's section list: the ELF index, or after them for ephemeral ones. */
  id: number;
  elf: ElfSection | undefined;
  skipped: boolean;
  /** A section only BTF knows (.kconfig, .ksyms): no bytes, no ELF section. */
  ephemeral: boolean;
  dstId: number;
  dstOff: number;
  /** Its DATASEC in the object's BTF, 0 when none. */
  secTypeId: number;
}

interface SrcObj {
  file: string;
  elf: ElfFile;
  secs: SrcSec[];
  symtab: ElfSection;
  symbols: readonly ElfSymbol[];
  btf: Btf | undefined;
  /** The object's types by id, copied (the linker edits DATASEC sizes and offsets). */
  types: (Type | undefined)[];
  ext: BtfExt | undefined;
  /** Source symbol index -> output symbol index. */
  symMap: number[];
  /** Source type id -> output type id. */
  typeMap: number[];
}

interface DstSec {
  name: string;
  id: number;
  ephemeral: boolean;
  /** Output ELF section index; 0 while ephemeral. */
  elfIndex: number;
  type: number;
  flags: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  data: Uint8Array;
  size: number;
  secSymIdx: number;
  hasBtf: boolean;
  vars: VarSecinfo[];
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
  coreRelos: CoreRelo[];
}

interface OutSym {
  name: string;
  nameOff: number;
  bind: number;
  type: number;
  visibility: number;
  shndx: number;
  value: bigint;
  size: bigint;
}

interface GlobSym {
  name: string;
  symIdx: number;
  /** Output section id (not ELF index: ephemeral sections have none); 0 for .extern. */
  secId: number;
  btfId: number;
  /** The VAR's/FUNC's underlying type once resolved; negative: a source id still to map; 0: to update. */
  underlying: number;
  varIdx: number;
  isExtern: boolean;
  isWeak: boolean;
  /** The file whose definition (or first extern) the symbol has now. */
  file: string;
}

const isNonStatic = (t: Type | undefined): boolean =>
  (t?.kind === 'VAR' && t.linkage !== VarLinkage.STATIC) ||
  (t?.kind === 'FUNC' && t.linkage !== FuncLinkage.STATIC);

class Linker {
  private readonly secs: (DstSec | undefined)[] = [undefined];
  private readonly elfSecs: DstSec[] = [];
  private readonly strtab = new StringTableBuilder();
  private readonly syms: OutSym[] = [];
  private readonly globs = new Map<string, GlobSym>();
  private readonly types: (Type | undefined)[] = [undefined];
  /** The merged BTF's strings in the order they were first added (libbpf keeps that order). */
  private readonly btfStrings = new Set<string>(['']);
  private littleEndian: boolean | undefined;

  constructor(private readonly opts: LinkOptions = {}) {
    const strtab = this.addDstSec('.strtab');
    this.initSec(strtab, { type: SHT_STRTAB, flags: SHF_STRINGS, addralign: 1, entsize: 0 });
    const symtab = this.addDstSec('.symtab');
    this.initSec(symtab, { type: SHT_SYMTAB, flags: 0, addralign: 8, entsize: ELF64_SYM_SIZE });
    symtab.link = strtab.elfIndex;
    this.syms.push({ name: '', nameOff: 0, bind: 0, type: 0, visibility: 0, shndx: 0, value: 0n, size: 0n });
  }

  add(input: LinkInput): void {
    const obj = this.load(input);
    this.appendSecData(obj);
    this.appendSyms(obj);
    this.appendRelos(obj);
    this.appendBtf(obj);
    this.appendBtfExt(obj);
  }

  // ---- sections -------------------------------------------------------------------------

  private addDstSec(name: string): DstSec {
    const s: DstSec = {
      name,
      id: this.secs.length,
      ephemeral: false,
      elfIndex: 0,
      type: 0,
      flags: 0,
      link: 0,
      info: 0,
      addralign: 0,
      entsize: 0,
      data: new Uint8Array(0),
      size: 0,
      secSymIdx: 0,
      hasBtf: false,
      vars: [],
      funcInfo: [],
      lineInfo: [],
      coreRelos: [],
    };
    this.secs.push(s);
    return s;
  }

  private initSec(
    dst: DstSec,
    src: { type: number; flags: number; addralign: number; entsize: number; ephemeral?: boolean },
  ): void {
    dst.size = 0;
    dst.elfIndex = 0;
    dst.ephemeral = src.ephemeral === true;
    if (dst.ephemeral) return;
    this.elfSecs.push(dst);
    dst.elfIndex = this.elfSecs.length;
    this.strtab.add(dst.name);
    dst.type = src.type;
    dst.flags = src.flags;
    dst.addralign = src.addralign;
    dst.entsize = src.entsize;
  }

  private findDstSec(name: string): DstSec | undefined {
    return this.secs.find((s) => s?.name === name);
  }

  private dst(id: number): DstSec {
    const s = this.secs[id];
    if (s === undefined) throw new LinkError(`internal: no output section ${id}`);
    return s;
  }

  private extendSec(dst: DstSec, src: SrcSec, file: string): void {
    if (src.ephemeral || !src.elf) return;
    if (dst.ephemeral) this.initSec(dst, src.elf);
    const a = src.elf.addralign;
    if (a > 4096 || (a & (a - 1)) !== 0) {
      throw new LinkError(`section alignment ${a} is not a power of two up to 4096`, {
        file,
        section: src.name,
      });
    }
    const align = Math.max(dst.addralign || 1, a);
    const start = Math.ceil(dst.size / align) * align;
    const end = start + src.elf.size;
    if (end > 0xffffffff)
      throw new LinkError(`merged section would be ${end} bytes`, { file, section: src.name });
    if (src.elf.type !== SHT_NOBITS) {
      if (end > dst.data.length) {
        const grown = new Uint8Array(Math.max(end, dst.data.length * 2));
        grown.set(dst.data.subarray(0, dst.size));
        dst.data = grown;
      }
      dst.data.fill(0, dst.size, start);
      dst.data.set(src.elf.data(), start);
    }
    dst.size = end;
    dst.addralign = align;
    src.dstOff = start;
  }

  // ---- loading one object ------------------------------------------------------------------

  private load(input: LinkInput): SrcObj {
    const file = input.file;
    const elf = new ElfFile(input.bytes, file);
    const h = elf.header;
    if (h.class !== ELFCLASS64 || h.type !== ET_REL || h.machine !== EM_BPF) {
      throw new LinkError('not a relocatable BPF object (ELF64, ET_REL, EM_BPF)', { file });
    }
    if (this.littleEndian === undefined) this.littleEndian = elf.littleEndian;
    else if (this.littleEndian !== elf.littleEndian) {
      throw new LinkError(
        `byte order differs from the objects before it (${elf.littleEndian ? 'little' : 'big'} endian)`,
        { file },
      );
    }
    const secs: SrcSec[] = [];
    let symtab: ElfSection | undefined;
    let btf: Btf | undefined;
    let extSec: ElfSection | undefined;
    for (const s of elf.sections) {
      if (s.index === 0) continue;
      const sec: SrcSec = {
        name: s.name,
        id: s.index,
        elf: s,
        skipped: false,
        ephemeral: false,
        dstId: 0,
        dstOff: 0,
        secTypeId: 0,
      };
      secs[s.index] = sec;
      if (s.name === '') throw new LinkError(`section #${s.index} has an empty name`, { file });
      if (isIgnoredSec(s)) {
        sec.skipped = true;
        continue;
      }
      switch (s.type) {
        case SHT_SYMTAB:
          if (symtab) throw new LinkError('more than one symbol table', { file, section: s.name });
          symtab = s;
          break;
        case SHT_PROGBITS:
          if (s.name === '.BTF') {
            btf = Btf.parse(s.data(), { file });
            sec.skipped = true;
          } else if (s.name === '.BTF.ext') {
            extSec = s;
            sec.skipped = true;
          }
          break;
        case SHT_NOBITS:
        case SHT_REL:
          break;
        default:
          throw new LinkError(`unrecognized section type ${s.type}`, { file, section: s.name });
      }
    }
    if (!symtab) throw new LinkError('no symbol table', { file, section: '.symtab' });
    const types: (Type | undefined)[] = [undefined];
    if (btf) for (const t of btf.types()) types.push(cloneType(t));
    const ext = extSec && btf ? parseBtfExt(extSec.data(), btf, { file }) : undefined;
    if (ext) {
      const sizes: [string, number, number][] = [
        ['func_info', ext.funcInfoRecSize, FUNC_INFO_SIZE],
        ['line_info', ext.lineInfoRecSize, LINE_INFO_SIZE],
        ['core_relo', ext.coreReloRecSize, CORE_RELO_SIZE],
      ];
      for (const [what, got, want] of sizes) {
        if (got !== 0 && got !== want) {
          throw new LinkError(`${what} record size ${got} is not ${want}`, { file, section: '.BTF.ext' });
        }
      }
    }
    const obj: SrcObj = {
      file,
      elf,
      secs,
      symtab,
      symbols: elf.symbols,
      btf,
      types,
      ext,
      symMap: [],
      typeMap: [],
    };
    this.checkSymbols(obj);
    this.fixupBtf(obj);
    return obj;
  }

  private checkSymbols(obj: SrcObj): void {
    const n = obj.elf.sections.length;
    for (const sym of obj.symbols) {
      if (sym.index === 0) continue;
      const where = { file: obj.file, section: obj.symtab.name };
      if (sym.shndx !== SHN_UNDEF && sym.shndx < SHN_LORESERVE && sym.shndx >= n) {
        throw new LinkError(
          `symbol #${sym.index} '${sym.name}' is in section ${sym.shndx}, which does not exist`,
          where,
        );
      }
      if (sym.type === STT_SECTION && sym.value !== 0n) {
        throw new LinkError(`section symbol #${sym.index} has a non-zero value`, where);
      }
      if (sym.bind !== STB_LOCAL && sym.bind !== STB_GLOBAL && sym.bind !== STB_WEAK) {
        throw new LinkError(`symbol #${sym.index} '${sym.name}' has unsupported binding ${sym.bind}`, where);
      }
      if (sym.visibility !== STV_DEFAULT && sym.visibility !== STV_HIDDEN) {
        throw new LinkError(
          `symbol #${sym.index} '${sym.name}' has unsupported visibility ${sym.visibility}`,
          where,
        );
      }
    }
  }

  /** DATASEC sizes and global variable offsets (the compiler leaves them 0), ephemeral sections. */
  private fixupBtf(obj: SrcObj): void {
    for (let id = 1; id < obj.types.length; id++) {
      const t = obj.types[id]!;
      if (t.kind !== 'DATASEC') continue;
      let sec = obj.secs.find((s) => s?.name === t.name);
      if (sec) {
        if (sec.elf) t.size = sec.elf.size;
      } else {
        if (t.name === EXTERN_SEC) continue;
        sec = {
          name: t.name,
          id: obj.secs.length,
          elf: undefined,
          skipped: false,
          ephemeral: true,
          dstId: 0,
          dstOff: 0,
          secTypeId: 0,
        };
        obj.secs.push(sec);
      }
      sec.secTypeId = id;
      const shndx = sec.elf?.index ?? 0;
      for (const vi of t.vars) {
        const vt = obj.types[vi.type];
        if (vt === undefined) {
          throw new LinkError(`DATASEC '${t.name}' lists type [${vi.type}], which does not exist`, {
            file: obj.file,
            typeId: id,
          });
        }
        // FUNCs (.ksyms) and externs keep their offsets; only allocated variables move.
        if (vt.kind !== 'VAR') continue;
        if (vt.linkage !== VarLinkage.GLOBAL_ALLOCATED) continue;
        const sym = obj.symbols.find((s) => s.shndx === shndx && s.type === STT_OBJECT && s.name === vt.name);
        if (!sym) {
          throw new LinkError(`no symbol for variable '${vt.name}' in section '${t.name}'`, {
            file: obj.file,
            typeId: vi.type,
          });
        }
        vi.offset = Number(sym.value);
      }
    }
  }

  private appendSecData(obj: SrcObj): void {
    for (const src of obj.secs) {
      if (!src || src.skipped) continue;
      if (!src.ephemeral && src.elf!.type !== SHT_PROGBITS && src.elf!.type !== SHT_NOBITS) continue;
      let dst = this.findDstSec(src.name);
      if (!dst) {
        dst = this.addDstSec(src.name);
        this.initSec(dst, src.elf ?? { type: 0, flags: 0, addralign: 0, entsize: 0, ephemeral: true });
      } else {
        this.checkSecsMatch(obj, dst, src);
        if (src.name === 'license' || src.name === 'version') {
          const data = src.elf!.data();
          const same =
            dst.size === src.elf!.size && dst.data.subarray(0, dst.size).every((b, i) => b === data[i]);
          if (!same) {
            throw new LinkError(`section '${src.name}' differs from the one of an earlier object`, {
              file: obj.file,
              section: src.name,
            });
          }
          src.skipped = true;
          src.dstId = dst.id;
          continue;
        }
      }
      src.dstId = dst.id;
      this.extendSec(dst, src, obj.file);
    }
  }

  private checkSecsMatch(obj: SrcObj, dst: DstSec, src: SrcSec): void {
    if (dst.ephemeral || src.ephemeral || !src.elf) return;
    const e = src.elf;
    const what =
      dst.type !== e.type
        ? 'type'
        : dst.flags !== e.flags
          ? 'flags'
          : dst.entsize !== e.entsize
            ? 'entsize'
            : '';
    if (what) {
      throw new LinkError(`section '${src.name}' ${what} differ from an earlier object's`, {
        file: obj.file,
        section: src.name,
      });
    }
  }

  // ---- symbols -------------------------------------------------------------------------------

  private appendSyms(obj: SrcObj): void {
    obj.symMap = new Array<number>(obj.symbols.length).fill(0);
    for (const sym of obj.symbols) if (sym.index !== 0) this.appendSym(obj, sym);
  }

  private appendSym(obj: SrcObj, sym: ElfSymbol): void {
    const isExtern = sym.shndx === SHN_UNDEF;
    let srcSec: SrcSec | undefined;
    let dstSec: DstSec | undefined;
    const where = { file: obj.file, section: obj.symtab.name };
    if (isExtern) {
      if (!obj.btf) throw new LinkError(`extern '${sym.name}' needs BTF, and the object has none`, where);
    } else if (sym.shndx < SHN_LORESERVE) {
      srcSec = obj.secs[sym.shndx];
      if (!srcSec || srcSec.skipped) return;
      dstSec = this.dst(srcSec.dstId);
      if (sym.type === STT_SECTION && dstSec.secSymIdx) {
        obj.symMap[sym.index] = dstSec.secSymIdx;
        return;
      }
    }

    if (sym.bind !== STB_LOCAL) {
      const found = this.findGlobSymBtf(obj, sym);
      if (isExtern && found.secTypeId) {
        const secName = obj.types[found.secTypeId]!.name;
        if (secName !== EXTERN_SEC) {
          srcSec = obj.secs.find((s) => s?.name === secName);
          if (!srcSec) throw new LinkError(`no section '${secName}' for extern '${sym.name}'`, where);
          dstSec = this.dst(srcSec.dstId);
        }
      }
      const glob = this.globs.get(sym.name);
      if (glob) {
        obj.symMap[sym.index] = glob.symIdx;
        // As in libbpf, a __weak definition that replaced an extern counts as strong from then on.
        if (!isExtern && !glob.isExtern && !glob.isWeak && sym.bind !== STB_WEAK) {
          throw new LinkError(
            `conflicting definitions of '${sym.name}' in ${glob.file} and ${obj.file}: at most one may be strong (not __weak)`,
            where,
          );
        }
        this.checkGlobSymsMatch(obj, sym.name, glob, found.btfId);
        const dstSym = this.syms[glob.symIdx]!;
        if (sym.bind === STB_GLOBAL) {
          dstSym.bind = STB_GLOBAL;
          glob.isWeak = false;
        }
        // A stricter visibility wins, even from an extern.
        if (sym.visibility > dstSym.visibility) dstSym.visibility = sym.visibility;
        if (isExtern) return;
        if (!glob.isExtern && sym.bind === STB_WEAK) return;
        // A strong definition (or the first definition of an extern) takes the symbol over.
        dstSym.type = sym.type;
        dstSym.shndx = dstSec!.elfIndex;
        dstSym.value = BigInt(srcSec!.dstOff) + sym.value;
        dstSym.size = sym.size;
        glob.secId = dstSec!.id;
        glob.isExtern = false;
        glob.file = obj.file;
        this.completeExternBtf(glob.btfId, obj, found.btfId);
        glob.underlying = 0;
        return;
      }
    }

    const nameOff = this.strtab.add(sym.name);
    const idx = this.syms.length;
    this.syms.push({
      name: sym.name,
      nameOff,
      bind: sym.bind,
      type: sym.type,
      visibility: sym.visibility,
      shndx: dstSec ? dstSec.elfIndex : sym.shndx,
      value: sym.type === STT_SECTION ? 0n : BigInt(srcSec?.dstOff ?? 0) + sym.value,
      size: sym.size,
    });
    obj.symMap[sym.index] = idx;
    if (sym.type === STT_SECTION && dstSec) dstSec.secSymIdx = idx;
    if (sym.bind !== STB_LOCAL) {
      this.globs.set(sym.name, {
        name: sym.name,
        symIdx: idx,
        secId: dstSec ? dstSec.id : 0,
        btfId: 0,
        underlying: 0,
        varIdx: -1,
        isExtern,
        isWeak: sym.bind === STB_WEAK,
        file: obj.file,
      });
    }
  }

  /** The VAR or FUNC type of a global or extern symbol, and the DATASEC that lists it (if any). */
  private findGlobSymBtf(obj: SrcObj, sym: ElfSymbol): { secTypeId: number; btfId: number } {
    const where = { file: obj.file, section: obj.symtab.name };
    if (!obj.btf) throw new LinkError(`global '${sym.name}' needs BTF, and the object has none`, where);
    let btfId = 0;
    for (let id = 1; id < obj.types.length; id++) {
      const t = obj.types[id]!;
      if (isNonStatic(t)) {
        if (t.name === sym.name) btfId = id;
        continue;
      }
      if (t.kind !== 'DATASEC') continue;
      for (const vi of t.vars) {
        const vt = obj.types[vi.type];
        if (vt?.name !== sym.name || !isNonStatic(vt)) continue;
        if (btfId && btfId !== vi.type) {
          throw new LinkError(
            `BTF of global '${sym.name}' is ambiguous: types [${btfId}] and [${vi.type}]`,
            where,
          );
        }
        return { secTypeId: id, btfId: vi.type };
      }
    }
    if (btfId) return { secTypeId: 0, btfId };
    throw new LinkError(`no BTF for global or extern '${sym.name}'`, where);
  }

  private checkGlobSymsMatch(obj: SrcObj, name: string, glob: GlobSym, btfId: number): void {
    const where = { file: obj.file };
    const both = `'${name}' in ${glob.file} and ${obj.file}`;
    if (!glob.btfId || !btfId) throw new LinkError(`BTF missing for global symbol ${both}`, where);
    const src = obj.types[btfId];
    if (src?.kind !== 'VAR' && src?.kind !== 'FUNC') {
      throw new LinkError(
        `only extern variables and functions can be linked, '${name}' is ${src?.kind}`,
        where,
      );
    }
    if (glob.secId && this.dst(glob.secId).name === MAPS_SEC) {
      const a = parseMapDef(this.types, glob.btfId);
      const b = parseMapDef(obj.types, btfId);
      if (typeof a === 'string' || typeof b === 'string') {
        throw new LinkError(
          `invalid map definition of ${both}: ${typeof a === 'string' ? a : String(b)}`,
          where,
        );
      }
      const why = mapDefMismatch(name, this.types, a, obj.types, b);
      if (why !== undefined) throw new LinkError(`${why} between ${both}`, where);
      return;
    }
    const why = btfMismatch(name, true, this.types, glob.btfId, obj.types, btfId);
    if (why !== undefined) throw new LinkError(`global ${both}: ${why}`, where);
  }

  /** The extern's VAR/FUNC becomes the definition's: allocated linkage, parameter names filled in. */
  private completeExternBtf(dstId: number, obj: SrcObj, srcId: number): void {
    const d = this.types[dstId];
    const s = obj.types[srcId];
    if (d?.kind === 'VAR') {
      d.linkage = VarLinkage.GLOBAL_ALLOCATED;
      return;
    }
    if (d?.kind !== 'FUNC' || s?.kind !== 'FUNC') return;
    d.linkage = FuncLinkage.GLOBAL;
    const dp = this.types[d.type];
    const sp = obj.types[s.type];
    if (dp?.kind !== 'FUNC_PROTO' || sp?.kind !== 'FUNC_PROTO') return;
    dp.params.forEach((p, i) => {
      const name = sp.params[i]?.name ?? '';
      if (name === '') return;
      this.btfStrings.add(name);
      p.name = name;
    });
  }

  // ---- relocations --------------------------------------------------------------------------

  private appendRelos(obj: SrcObj): void {
    const symtab = this.secs[2]!;
    for (const rs of obj.elf.relocationSections) {
      const src = obj.secs[rs.section.index];
      if (!src || src.skipped || rs.section.type !== SHT_REL) continue;
      const linked = obj.secs[rs.section.info];
      if (!linked || linked.skipped) continue;
      let dst = this.findDstSec(src.name);
      if (!dst) {
        dst = this.addDstSec(src.name);
        this.initSec(dst, src.elf!);
      } else this.checkSecsMatch(obj, dst, src);
      dst.link = symtab.elfIndex;
      const dstLinked = this.dst(linked.dstId);
      dst.info = dstLinked.elfIndex;
      src.dstId = dst.id;
      this.extendSec(dst, src, obj.file);
      const w = new BinaryWriter(this.littleEndian!, rs.relocations.length * ELF64_REL_SIZE);
      for (const r of rs.relocations) {
        const where = { file: obj.file, section: src.name, offset: r.offset };
        const ssym = obj.symbols[r.symbol];
        if (!ssym) throw new LinkError(`relocation against symbol #${r.symbol}, which does not exist`, where);
        const off = r.offset + linked.dstOff;
        w.u64(BigInt(off)).u64((BigInt(obj.symMap[r.symbol]!) << 32n) | BigInt(r.type));
        if (ssym.type !== STT_SECTION) continue;
        // A call or load through a section symbol carries an offset into that section, which
        // moved by where the section landed in the merged one.
        if (!(linked.elf!.flags & SHF_EXECINSTR)) {
          throw new LinkError('relocation against a section symbol in a non-code section', where);
        }
        const target = obj.secs[ssym.shndx];
        if (off + 8 > dstLinked.size) throw new LinkError('relocation past the end of its section', where);
        const view = new DataView(dstLinked.data.buffer, dstLinked.data.byteOffset);
        const shift = target?.dstOff ?? 0;
        const imm = view.getInt32(off + 4, this.littleEndian);
        const code = dstLinked.data[off];
        view.setInt32(off + 4, imm + (code === BPF_CALL ? shift / 8 : shift), this.littleEndian);
      }
      dst.data.set(w.finish(), src.dstOff);
    }
  }

  // ---- BTF ----------------------------------------------------------------------------------

  private appendBtf(obj: SrcObj): void {
    if (!obj.btf) return;
    const start = this.types.length;
    const map = new Array<number>(obj.types.length).fill(0);
    obj.typeMap = map;
    for (let id = 1; id < obj.types.length; id++) {
      const t = obj.types[id]!;
      if (t.kind === 'DATASEC') continue;
      let glob: GlobSym | undefined;
      if (isNonStatic(t)) {
        glob = this.globs.get(t.name);
        // Variables of a deduplicated section (license, version) have no symbol of their own.
        if (!glob) continue;
        const under = (t as { type: number }).type;
        if (glob.underlying === 0) glob.underlying = -under;
        if (glob.btfId) {
          map[id] = glob.btfId;
          continue;
        }
      }
      const copy = cloneType(t);
      for (const str of typeStrings(copy)) this.btfStrings.add(str);
      copy.id = this.types.length;
      this.types.push(copy);
      map[id] = copy.id;
      if (glob) {
        glob.btfId = copy.id;
        glob.underlying = -(t as { type: number }).type;
      }
    }
    for (let id = start; id < this.types.length; id++) {
      mapTypeIds(this.types[id]!, (ref) => {
        const to = map[ref];
        if (ref !== 0 && !to) {
          throw new LinkError(`type [${ref}] has no place in the linked BTF`, {
            file: obj.file,
            typeId: ref,
          });
        }
        return to ?? 0;
      });
    }
    for (const glob of this.globs.values()) {
      if (glob.underlying >= 0) continue;
      glob.underlying = map[-glob.underlying] ?? 0;
      const gt = this.types[glob.btfId] as { type: number };
      gt.type = glob.underlying;
    }
    for (const src of obj.secs) {
      if (!src || !src.secTypeId || src.skipped) continue;
      const dst = this.dst(src.dstId);
      dst.hasBtf = true;
      const ds = obj.types[src.secTypeId];
      if (ds?.kind !== 'DATASEC') continue;
      for (const sv of ds.vars) {
        const newId = map[sv.type] ?? 0;
        const t = this.types[newId];
        let glob: GlobSym | undefined;
        if (isNonStatic(t)) {
          glob = this.globs.get(t!.name);
          if (glob && glob.secId !== dst.id) {
            throw new LinkError(
              `global '${t!.name}' is in section '${dst.name}' here but in '${this.secs[glob.secId]?.name ?? '.extern'}' in ${glob.file}`,
              { file: obj.file, section: dst.name },
            );
          }
        }
        if (glob && glob.varIdx >= 0) {
          const size = typeSize(this.types, glob.underlying);
          if (size === undefined) {
            throw new LinkError(`global '${glob.name}': its type has no size`, { file: obj.file });
          }
          dst.vars[glob.varIdx]!.size = size;
          continue;
        }
        dst.vars.push({ type: newId, size: sv.size, offset: src.dstOff + sv.offset });
        if (glob) glob.varIdx = dst.vars.length - 1;
      }
    }
  }

  private appendBtfExt(obj: SrcObj): void {
    const ext = obj.ext;
    if (!ext) return;
    const dstFor = (name: string): [DstSec, SrcSec] => {
      const src = obj.secs.find((s) => s?.name === name);
      if (!src) {
        throw new LinkError(`.BTF.ext names section '${name}', which the object lacks`, {
          file: obj.file,
          section: '.BTF.ext',
        });
      }
      return [this.dst(src.dstId), src];
    };
    const typeOf = (id: number): number => obj.typeMap[id] ?? 0;
    for (const [name, recs] of ext.funcInfo) {
      const [dst, src] = dstFor(name);
      for (const r of recs) dst.funcInfo.push({ insnOff: r.insnOff + src.dstOff, typeId: typeOf(r.typeId) });
    }
    for (const [name, recs] of ext.lineInfo) {
      const [dst, src] = dstFor(name);
      for (const r of recs) {
        this.btfStrings.add(r.fileName);
        this.btfStrings.add(r.lineText);
        dst.lineInfo.push({ ...r, insnOff: r.insnOff + src.dstOff });
      }
    }
    for (const [name, recs] of ext.coreRelos) {
      const [dst, src] = dstFor(name);
      for (const r of recs) {
        this.btfStrings.add(r.accessStr);
        dst.coreRelos.push({ ...r, insnOff: r.insnOff + src.dstOff, typeId: typeOf(r.typeId) });
      }
    }
  }

  // ---- output -------------------------------------------------------------------------------

  finish(): Uint8Array {
    const le = this.littleEndian ?? true;
    const extra: OutputSection[] = [];
    if (this.types.length > 1) {
      for (const sec of this.secs) {
        if (!sec?.hasBtf) continue;
        this.btfStrings.add(sec.name);
        this.types.push({
          kind: 'DATASEC',
          id: this.types.length,
          name: sec.name,
          size: sec.size,
          vars: sec.vars.map((v) => ({ ...v })),
        });
      }
      const withExt = this.secs.filter((s): s is DstSec => s !== undefined);
      for (const s of withExt) if (s.funcInfo.length) this.btfStrings.add(s.name);
      for (const s of withExt) if (s.lineInfo.length) this.btfStrings.add(s.name);
      for (const s of withExt) if (s.coreRelos.length) this.btfStrings.add(s.name);
      const d = dedupTypes(this.types.slice(1) as Type[], {
        ...(this.opts.fwdByName !== undefined ? { fwdByName: this.opts.fwdByName } : {}),
        littleEndian: le,
        strings: this.btfStrings,
      });
      extra.push(this.rawSection('.BTF', d.bytes));
      const hasExt = withExt.some((s) => s.funcInfo.length || s.lineInfo.length || s.coreRelos.length);
      if (hasExt) {
        extra.push(
          this.rawSection(
            '.BTF.ext',
            buildBtfExt(withExt, le, d.stringOffset, (id) => d.remap[id] ?? 0),
          ),
        );
      }
    }
    const strtab = this.secs[1]!;
    const symtab = this.secs[2]!;
    const sw = new BinaryWriter(le, this.syms.length * ELF64_SYM_SIZE);
    for (const s of this.syms) {
      sw.u32(s.nameOff)
        .u8(((s.bind << 4) | s.type) & 0xff)
        .u8(s.visibility)
        .u16(s.shndx);
      sw.u64(s.value).u64(s.size);
    }
    symtab.data = sw.finish();
    symtab.size = symtab.data.length;
    // Names of .BTF and .BTF.ext were added to strtab by rawSection, so it is complete now.
    strtab.data = this.strtab.finish();
    strtab.size = strtab.data.length;
    const sections: OutputSection[] = this.elfSecs.map((s) => ({
      nameOff: this.strtab.add(s.name),
      type: s.type,
      flags: s.flags,
      link: s.link,
      info: s.info,
      addralign: s.addralign,
      entsize: s.entsize,
      data: s.data,
      size: s.size,
    }));
    return writeElf({
      littleEndian: le,
      type: ET_REL,
      machine: EM_BPF,
      shstrndx: strtab.elfIndex,
      sections: [...sections, ...extra],
    });
  }

  private rawSection(name: string, data: Uint8Array): OutputSection {
    return {
      nameOff: this.strtab.add(name),
      type: SHT_PROGBITS,
      flags: 0,
      link: 0,
      info: 0,
      addralign: 8,
      entsize: 0,
      data,
      size: data.length,
    };
  }
}

function isIgnoredSec(s: ElfSection): boolean {
  if (s.type === SHT_STRTAB || s.type === SHT_LLVM_ADDRSIG) return true;
  if (s.type === SHT_PROGBITS && s.size === 0 && s.name === '.text') return true;
  if (s.name.startsWith('.debug_')) return true;
  if (s.name.startsWith('.rel')) {
    const target = s.name.slice(4);
    if (target.startsWith('.debug_') || target === '.BTF' || target === '.BTF.ext') return true;
  }
  return false;
}

/** .BTF.ext of the merged sections: func_info, line_info, CO-RE relocations, each by section. */
function buildBtfExt(
  secs: readonly DstSec[],
  le: boolean,
  str: (s: string) => number,
  typeId: (id: number) => number,
): Uint8Array {
  const part = (
    recSize: number,
    records: (s: DstSec) => unknown[],
    write: (w: BinaryWriter, s: DstSec) => void,
  ): Uint8Array => {
    const used = secs.filter((s) => records(s).length > 0);
    if (used.length === 0) return new Uint8Array(0);
    const w = new BinaryWriter(le);
    w.u32(recSize);
    for (const s of used) {
      w.u32(str(s.name)).u32(records(s).length);
      write(w, s);
    }
    return w.finish();
  };
  const funcs = part(
    FUNC_INFO_SIZE,
    (s) => s.funcInfo,
    (w, s) => {
      for (const r of s.funcInfo) w.u32(r.insnOff).u32(typeId(r.typeId));
    },
  );
  const lines = part(
    LINE_INFO_SIZE,
    (s) => s.lineInfo,
    (w, s) => {
      for (const r of s.lineInfo)
        w.u32(r.insnOff)
          .u32(str(r.fileName))
          .u32(str(r.lineText))
          .u32((r.line << 10) | r.col);
    },
  );
  const core = part(
    CORE_RELO_SIZE,
    (s) => s.coreRelos,
    (w, s) => {
      for (const r of s.coreRelos) w.u32(r.insnOff).u32(typeId(r.typeId)).u32(str(r.accessStr)).u32(r.kind);
    },
  );
  const w = new BinaryWriter(le);
  w.u16(BTF_MAGIC).u8(1).u8(0).u32(BTF_EXT_HEADER_SIZE);
  w.u32(0).u32(funcs.length);
  w.u32(funcs.length).u32(lines.length);
  w.u32(funcs.length + lines.length).u32(core.length);
  w.bytes(funcs).bytes(lines).bytes(core);
  return w.finish();
}

/**
 * Link BPF objects into one, as `bpftool gen object OUT IN...` (libbpf's bpf_linker) does; the
 * output is a relocatable object any loader takes. Throws LinkError on conflicts (two strong
 * definitions, extern and definition of different types, two map definitions that disagree),
 * naming the symbol and both files.
 */
export function linkObjects(inputs: readonly LinkInput[], opts: LinkOptions = {}): Uint8Array {
  if (inputs.length === 0) throw new LinkError('nothing to link');
  const l = new Linker(opts);
  for (const i of inputs) l.add(i);
  return l.finish();
}
