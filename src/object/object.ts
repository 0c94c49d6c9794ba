// loadObjectSpec: an ELF object → ObjectSpec. Finds programs (function symbols of executable
// sections), maps and global data, records each relocation symbolically as libbpf classifies it,
// and links every entry program with the subprograms it uses.
import { basename } from 'node:path';
import { BPF_CALL, BPF_JMP, BPF_LD_IMM64, BPF_PSEUDO_CALL, decode } from '../asm/index.js';
import type { Btf } from '../btf/btf.js';
import type { BtfExt } from '../btf/ext.js';
import { btfExtFromElf, btfFromElf } from '../btf/from-elf.js';
import { MapType, ProgType } from '../constants.js';
import {
  R_BPF_64_32,
  R_BPF_64_64,
  R_BPF_NAMES,
  SHF_EXECINSTR,
  SHN_LORESERVE,
  SHN_UNDEF,
  SHT_PROGBITS,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STT_NOTYPE,
  STT_SECTION,
  expectBpfObject,
  parseElf,
  type ElfFile,
  type ElfSection,
  type ElfSymbol,
} from '../elf/index.js';
import type { Location } from '../errors.js';
import { readCString } from '../internal/cstring.js';
import { readInputFile } from '../internal/file.js';
import { parseBtfMaps, type BtfMapDef } from './btf-maps.js';
import { MapDefinitionError, ObjectError, RelocationError } from './errors.js';
import { ARENA_SECTION, arenaVariables, dataMap, dataSectionKind, internalMapName } from './globals.js';
import { withGlobals } from './globals-view.js';
import { parseLegacyMaps } from './legacy-maps.js';
import { collectExterns } from './externs.js';
import { linkProgram, type ElfFunction, type ExtInfo, type FunctionRelo } from './subprograms.js';
import { isAutoload, matchSection } from './sections.js';
import { isStructOpsSection, structOpsMaps } from './struct-ops.js';
import type { ExternSpec, MapSpec, ObjectSpec, ProgramSpec, Reference, VariableSpec } from './spec.js';
import { checkArgument, checkOptionsArgument, isPath } from '../internal/options.js';

export interface LoadObjectOptions {
  /** Object name, as libbpf's `object_name` option; defaults to the file name up to the first '.'. */
  name?: string;
  /** File name for messages when passing bytes. */
  file?: string;
  /** Page size for ring buffer rounding (default 4096). */
  pageSize?: number;
}

/** libbpf's object name: the base name up to its first '.', at most 15 characters. */
export function objectName(path: string): string {
  const base = basename(path);
  const dot = base.indexOf('.');
  return (dot >= 0 ? base.slice(0, dot) : base).slice(0, 15);
}

const CALL = BPF_JMP | BPF_CALL;

/** Read an object file (path) or its bytes into an ObjectSpec. */
export function loadObjectSpec(input: Uint8Array | string, opts: LoadObjectOptions = {}): ObjectSpec {
  checkArgument(
    'loadObjectSpec',
    'input',
    input,
    'a path or the object file bytes (a Uint8Array)',
    isPath(input) || input instanceof Uint8Array,
  );
  checkOptionsArgument('loadObjectSpec', opts);
  const file = typeof input === 'string' ? input : opts.file;
  const bytes = typeof input === 'string' ? readInputFile(input) : input;
  const name = (opts.name ?? (file !== undefined ? objectName(file) : 'object')).slice(0, 15);
  const elf = parseElf(bytes, file);
  const spec = new ObjectReader(elf, name, opts).read();
  elfOfSpec.set(spec, elf);
  return spec;
}

/** The ELF each spec was read from: the loader needs its section sizes for BTF fix-ups. */
const elfOfSpec = new WeakMap<ObjectSpec, ElfFile>();

/** The parsed ELF a spec was read from (undefined for a spec built by hand). */
export function specElf(spec: ObjectSpec): ElfFile | undefined {
  return elfOfSpec.get(spec);
}

/** Build an ObjectSpec from an already parsed ELF file. */
export function objectSpecFromElf(elf: ElfFile, opts: LoadObjectOptions = {}): ObjectSpec {
  const file = opts.file ?? elf.file;
  const name = (opts.name ?? (file !== undefined ? objectName(file) : 'object')).slice(0, 15);
  const spec = new ObjectReader(elf, name, opts).read();
  elfOfSpec.set(spec, elf);
  return spec;
}

interface MapSlot {
  spec: MapSpec;
  sectionIndex: number;
  /** Offset of the definition in its section (maps) or 0 (data). */
  offset: number;
}

class ObjectReader {
  private readonly loc: Location;
  private btf: Btf | undefined;
  private btfExt: BtfExt | undefined;
  private textIndex = -1;
  private readonly functions: ElfFunction[] = [];
  private readonly maps: MapSlot[] = [];
  private readonly dataBySection = new Map<number, MapSpec>();
  private readonly variables = new Map<string, VariableSpec>();
  private externs: ExternSpec[] = [];
  private btfMaps: BtfMapDef[] = [];
  private btfMapsIndex = -1;
  private legacyMapsIndex = -1;

  constructor(
    private readonly elf: ElfFile,
    private readonly name: string,
    private readonly opts: LoadObjectOptions,
  ) {
    const file = opts.file ?? elf.file;
    this.loc = file !== undefined ? { file } : {};
  }

  read(): ObjectSpec {
    const elf = this.elf;
    expectBpfObject(elf, this.loc.file);
    if (elf.symtab === undefined)
      throw new ObjectError('no symbol table (stripped object?)', { ...this.loc, section: '.symtab' });
    let license = '';
    let kernelVersion = 0;
    const licenseSec = elf.section('license');
    if (licenseSec !== undefined) license = this.license(licenseSec);
    const versionSec = elf.section('version');
    if (versionSec !== undefined) {
      if (versionSec.size !== 4) {
        throw new ObjectError(`invalid kver section size ${versionSec.size}`, {
          ...this.loc,
          section: 'version',
        });
      }
      kernelVersion = elf.sectionReader(versionSec).u32(0);
    }
    if (elf.section('.BTF') !== undefined) {
      this.btf = btfFromElf(elf);
      this.btfExt = btfExtFromElf(elf, this.btf);
    }

    for (const s of elf.sections) {
      if (s.name === '.text' && (s.flags & SHF_EXECINSTR) !== 0) this.textIndex = s.index;
    }
    for (const s of elf.sections) {
      if (s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0 && s.size > 0) this.addFunctions(s);
    }
    this.functions.sort((a, b) => a.sectionIndex - b.sectionIndex || a.start - b.start);

    this.collectMaps();
    this.collectRelocations();
    const programs = this.link(license, kernelVersion);
    this.collectMapSlots(programs);

    return withGlobals({
      name: this.name,
      file: this.loc.file,
      license,
      kernelVersion,
      littleEndian: elf.littleEndian,
      btf: this.btf,
      btfExt: this.btfExt,
      programs,
      maps: this.maps.map((m) => m.spec),
      variables: this.variables,
      externs: this.externs,
    });
  }

  private license(s: ElfSection): string {
    return readCString(s.data());
  }

  private addFunctions(section: ElfSection): void {
    const insns = decode(section.data(), this.elf.littleEndian, { ...this.loc, section: section.name });
    for (const sym of this.elf.symbolsIn(section.index)) {
      if (sym.type !== STT_FUNC) continue;
      const where: Location = { ...this.loc, section: section.name, program: sym.name };
      const off = Number(sym.value);
      const size = Number(sym.size);
      if (off % 8 !== 0 || size % 8 !== 0 || off + size > section.size) {
        throw new ObjectError(
          `function at offset ${off} (${size} bytes) crosses the section boundary`,
          where,
        );
      }
      if (section.index !== this.textIndex && sym.bind === STB_LOCAL) {
        throw new ObjectError('static programs are not supported (libbpf refuses them too)', where);
      }
      const start = off / 8;
      const length = size / 8;
      const own = insns.filter((i) => i.index >= start && i.index < start + length);
      const last = own[own.length - 1];
      if (last !== undefined && last.index + last.size / 8 > start + length) {
        throw new ObjectError('function ends inside an ld_imm64 instruction', where);
      }
      this.functions.push({
        name: sym.name,
        sectionName: section.name,
        sectionIndex: section.index,
        start,
        length,
        global: sym.bind === STB_GLOBAL || sym.bind === STB_WEAK,
        instructions: own,
        relos: new Map(),
      });
    }
  }

  private collectMaps(): void {
    const elf = this.elf;
    const legacy = elf.section('maps');
    if (legacy !== undefined) {
      this.legacyMapsIndex = legacy.index;
      for (const d of parseLegacyMaps(elf, legacy, this.loc)) {
        this.maps.push({ spec: d.spec, sectionIndex: legacy.index, offset: d.offset });
      }
    }
    const mapsSec = elf.section('.maps');
    if (mapsSec !== undefined) {
      this.btfMapsIndex = mapsSec.index;
      if (this.btf === undefined) {
        throw new MapDefinitionError("'.maps' section needs BTF, and the object has none", {
          ...this.loc,
          section: '.maps',
        });
      }
      const opts =
        this.opts.pageSize !== undefined
          ? { pageSize: this.opts.pageSize, location: this.loc }
          : { location: this.loc };
      const syms = elf.symbolsIn(mapsSec.index);
      const symbolOffset = (n: string): number | undefined => {
        const sym = syms.find((x) => x.name === n && x.type !== STT_SECTION);
        return sym === undefined ? undefined : Number(sym.value);
      };
      this.btfMaps = parseBtfMaps(this.btf, mapsSec.size, symbolOffset, opts);
      for (const d of this.btfMaps)
        this.maps.push({ spec: d.spec, sectionIndex: mapsSec.index, offset: d.offset });
    }
    for (const s of elf.sections) {
      const kind = dataSectionKind(s);
      if (kind === undefined || s.size === 0) continue;
      const dm = dataMap(elf, this.btf, this.name, s, kind);
      this.maps.push({ spec: dm.spec, sectionIndex: s.index, offset: 0 });
      this.dataBySection.set(s.index, dm.spec);
      for (const v of dm.variables) {
        const key = this.variables.has(v.name) ? `${s.name}/${v.name}` : v.name;
        this.variables.set(key, v);
      }
    }
    this.collectArena();
    // libbpf's order: BTF maps, global data, .kconfig, then struct_ops.
    const ext = collectExterns(elf, this.btf, this.name, this.loc);
    this.externs = ext.externs;
    if (ext.kconfigMap !== undefined) this.maps.push({ spec: ext.kconfigMap, sectionIndex: -1, offset: -1 });
    for (const s of elf.sections) {
      if (s.type === SHT_PROGBITS && s.size > 0 && isStructOpsSection(s.name)) {
        for (const spec of structOpsMaps(elf, this.btf, s, this.loc)) {
          this.maps.push({ spec, sectionIndex: s.index, offset: -1 });
        }
      }
    }
  }

  /**
   * The arena map (one at most, as libbpf allows) and the `__arena` globals it starts with: clang's
   * `.addr_space.1` section, whose references become offsets into the arena.
   */
  private collectArena(): void {
    const arenas = this.maps.filter((m) => m.spec.type === MapType.ARENA);
    if (arenas.length > 1) {
      throw new MapDefinitionError(
        `only one BPF_MAP_TYPE_ARENA map is supported ('${arenas[0]!.spec.name}' and '${arenas[1]!.spec.name}')`,
        { ...this.loc, section: '.maps', map: arenas[1]!.spec.name },
      );
    }
    const section = this.elf.section(ARENA_SECTION);
    if (section === undefined) return;
    const arena = arenas[0]?.spec;
    if (arena === undefined) {
      throw new MapDefinitionError('__arena globals need a BPF_MAP_TYPE_ARENA map declared in SEC(".maps")', {
        ...this.loc,
        section: ARENA_SECTION,
      });
    }
    this.dataBySection.set(section.index, arena);
    for (const v of arenaVariables(this.elf, this.btf, section, arena)) {
      const key = this.variables.has(v.name) ? `${section.name}/${v.name}` : v.name;
      this.variables.set(key, v);
    }
  }

  private functionAt(sectionIndex: number, slot: number): ElfFunction | undefined {
    return this.functions.find(
      (f) => f.sectionIndex === sectionIndex && slot >= f.start && slot < f.start + f.length,
    );
  }

  private symbolName(sym: ElfSymbol): string {
    if (sym.type === STT_SECTION && sym.name === '') return this.elf.sections[sym.shndx]?.name ?? '';
    return sym.name;
  }

  private collectRelocations(): void {
    const elf = this.elf;
    for (const rs of elf.relocationSections) {
      const target = rs.target;
      if (target.type !== SHT_PROGBITS || (target.flags & SHF_EXECINSTR) === 0) continue;
      for (const rel of rs.relocations) {
        const where: Location = { ...this.loc, section: target.name, offset: rel.offset };
        if (rel.type !== R_BPF_64_64 && rel.type !== R_BPF_64_32) {
          throw new RelocationError(
            `unsupported relocation type ${R_BPF_NAMES[rel.type] ?? rel.type} in program code`,
            where,
          );
        }
        const sym = elf.symbol(rel.symbol);
        if (sym === undefined) throw new RelocationError(`symbol #${rel.symbol} not found`, where);
        if (rel.offset % 8 !== 0 || rel.offset >= target.size) {
          throw new RelocationError(`invalid relocation offset 0x${rel.offset.toString(16)}`, where);
        }
        const slot = rel.offset / 8;
        const fn = this.functionAt(target.index, slot);
        // Like libbpf: code outside any function (an overridden weak function) is not relocated.
        if (fn === undefined) continue;
        const local = slot - fn.start;
        const insn = fn.instructions.find((i) => i.index === slot);
        const at: Location = { ...where, program: fn.name, instruction: slot };
        if (insn === undefined)
          throw new RelocationError('relocation points into the middle of an instruction', at);
        fn.relos.set(local, this.classify(insn.opcode, insn.src, insn.imm, sym, at));
      }
    }
  }

  private classify(opcode: number, src: number, imm: number, sym: ElfSymbol, at: Location): FunctionRelo {
    const symName = this.symbolName(sym);
    const isCall = opcode === CALL;
    if (!isCall && opcode !== BPF_LD_IMM64) {
      throw new RelocationError(
        `relocation against '${symName}' on instruction with opcode 0x${opcode.toString(16)}`,
        at,
      );
    }
    const weak = sym.bind === STB_WEAK;
    if (sym.shndx === SHN_UNDEF && (sym.bind === STB_GLOBAL || weak) && sym.type === STT_NOTYPE) {
      return { type: 'ref', reference: this.externReference(sym, isCall, weak, at) };
    }
    if (isCall) {
      if (src !== BPF_PSEUDO_CALL)
        throw new RelocationError(`incorrect call opcode for relocation against '${symName}'`, at);
      if (sym.shndx === 0 || sym.shndx !== this.textIndex) {
        const secName = this.elf.sections[sym.shndx]?.name ?? `#${sym.shndx}`;
        throw new RelocationError(
          `call to '${symName}' in section '${secName}': only .text functions can be called`,
          at,
        );
      }
      if (sym.value % 8n !== 0n)
        throw new RelocationError(`call to '${symName}' at unaligned offset ${sym.value}`, at);
      return { type: 'call', symOff: Number(sym.value) };
    }
    if (sym.shndx === SHN_UNDEF || sym.shndx >= SHN_LORESERVE) {
      throw new RelocationError(
        `relocation against '${symName}' in special section 0x${sym.shndx.toString(16)} (uninitialised global?)`,
        at,
      );
    }
    if (
      sym.shndx === this.textIndex &&
      ((sym.bind === STB_LOCAL && sym.type === STT_SECTION) ||
        ((sym.bind === STB_GLOBAL || weak) && sym.type === STT_FUNC))
    ) {
      if (sym.value % 8n !== 0n || imm % 8 !== 0) {
        throw new RelocationError(
          `bad subprogram address relocation against '${symName}' at ${sym.value}+${imm}`,
          at,
        );
      }
      return { type: 'subprog_addr', symOff: Number(sym.value) };
    }
    if (sym.shndx === this.btfMapsIndex || sym.shndx === this.legacyMapsIndex) {
      const m = this.maps.find((x) => x.sectionIndex === sym.shndx && x.offset === Number(sym.value));
      if (m === undefined) {
        throw new RelocationError(
          `no map at offset ${sym.value} of section '${this.elf.sections[sym.shndx]?.name}' for '${symName}'`,
          at,
        );
      }
      return { type: 'ref', reference: { kind: 'map', map: m.spec.name } };
    }
    const data = this.dataBySection.get(sym.shndx);
    if (data !== undefined) {
      const ref: Reference = { kind: 'data', map: data.name, offset: Number(sym.value) + imm };
      if (sym.type !== STT_SECTION) ref.symbol = sym.name;
      return { type: 'ref', reference: ref };
    }
    const secName = this.elf.sections[sym.shndx]?.name ?? `#${sym.shndx}`;
    throw new RelocationError(
      `relocation against '${symName}' in section '${secName}', which is neither maps nor data`,
      at,
    );
  }

  private externReference(sym: ElfSymbol, isCall: boolean, weak: boolean, at: Location): Reference {
    if (isCall) return { kind: 'kfunc', name: sym.name, weak };
    const btf = this.btf;
    const sec = btf
      ?.findByKind('DATASEC')
      .find((d) => d.vars.some((v) => btf!.type(v.type).name === sym.name));
    if (sec?.name === '.kconfig') {
      // libbpf lays .kconfig out itself (collectExterns); the instruction's own offset is ignored.
      const ext = this.externs.find((e) => e.name === sym.name && e.kconfig !== undefined);
      return {
        kind: 'kconfig',
        map: internalMapName(this.name, '.kconfig'),
        name: sym.name,
        offset: ext?.kconfig?.offset ?? 0,
        weak,
      };
    }
    if (sec !== undefined && sec.name !== '.ksyms') {
      throw new RelocationError(
        `extern '${sym.name}' is in section '${sec.name}', expected .kconfig or .ksyms`,
        at,
      );
    }
    return { kind: 'ksym', name: sym.name, weak };
  }

  private link(license: string, kernelVersion: number): ProgramSpec[] {
    const ext: ExtInfo = {
      funcInfo: this.btfExt?.funcInfo ?? new Map(),
      lineInfo: this.btfExt?.lineInfo ?? new Map(),
      coreRelos: this.btfExt?.coreRelos ?? new Map(),
    };
    const text = this.functions.filter((f) => f.sectionIndex === this.textIndex);
    const programs: ProgramSpec[] = [];
    for (const fn of this.functions) {
      if (fn.sectionIndex === this.textIndex) continue;
      const sectionName = fn.sectionName.startsWith('?') ? fn.sectionName.slice(1) : fn.sectionName;
      const m = matchSection(sectionName);
      const linked = linkProgram(fn, text, ext, this.loc);
      programs.push({
        name: fn.name,
        sectionName,
        section: m,
        // An unknown section leaves the type unset, as libbpf does; the loader then refuses it.
        type: m?.progType ?? ProgType.UNSPEC,
        expectedAttachType: m?.expectedAttachType ?? 0,
        attachTo: m?.target,
        sleepable: m?.sleepable ?? false,
        xdpFrags: m?.xdpFrags ?? false,
        autoload: isAutoload(fn.sectionName),
        global: fn.global,
        instructions: linked.instructions,
        linked: linked.linked,
        funcInfo: linked.funcInfo,
        lineInfo: linked.lineInfo,
        coreRelos: linked.coreRelos,
        license,
        kernelVersion,
        sectionIndex: fn.sectionIndex,
        sectionOffset: fn.start,
      });
    }
    return programs;
  }

  /** `.rel.maps`: initial prog-array slots (program names) and map-in-map slots (map names). */
  private collectMapSlots(programs: ProgramSpec[]): void {
    const rs = this.elf.relocationSections.find((r) => r.target.index === this.btfMapsIndex);
    if (rs === undefined) return;
    for (const rel of rs.relocations) {
      const where: Location = { ...this.loc, section: '.rel.maps', offset: rel.offset };
      const sym = this.elf.symbol(rel.symbol);
      if (sym === undefined) throw new RelocationError(`symbol #${rel.symbol} not found`, where);
      const def = this.btfMaps.find((d) => d.offset <= rel.offset && rel.offset + 8 <= d.offset + d.size);
      if (def === undefined)
        throw new RelocationError(`no map definition at offset ${rel.offset} for '${sym.name}'`, where);
      const map = def.spec;
      const at: Location = { ...where, map: map.name };
      let value: string;
      if (map.type === MapType.ARRAY_OF_MAPS || map.type === MapType.HASH_OF_MAPS) {
        if (sym.shndx !== this.btfMapsIndex)
          throw new RelocationError(`'${sym.name}' isn't a BTF-defined map`, at);
        if (!this.btfMaps.some((d) => d.spec.name === sym.name)) {
          throw new RelocationError(`'${sym.name}' isn't a valid map reference`, at);
        }
        value = sym.name;
      } else if (map.type === MapType.PROG_ARRAY) {
        const prog = programs.find((p) => p.name === sym.name);
        if (
          prog === undefined ||
          prog.sectionIndex !== sym.shndx ||
          prog.sectionOffset * 8 !== Number(sym.value)
        ) {
          throw new RelocationError(`'${sym.name}' isn't an entry-point program`, at);
        }
        value = sym.name;
      } else {
        throw new RelocationError(
          `initial values for map type ${map.type}, which is neither prog array nor map of maps`,
          at,
        );
      }
      if (def.valuesOffset === undefined || rel.offset - def.offset < def.valuesOffset) {
        throw new RelocationError(`relocation before the 'values' member`, at);
      }
      const moff = rel.offset - def.offset - def.valuesOffset;
      if (moff % 8 !== 0) throw new RelocationError(`misaligned 'values' slot`, at);
      const slots = (map.initialSlots ??= []);
      while (slots.length <= moff / 8) slots.push(undefined);
      slots[moff / 8] = value;
    }
  }
}
