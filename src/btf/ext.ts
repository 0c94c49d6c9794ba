// .BTF.ext: per-section func_info, line_info and CO-RE relocation records, and the kernel's
// bpf_func_info / bpf_line_info arrays that BPF_PROG_LOAD takes.
import { BtfError, type Location } from '../errors.js';
import { BinaryReader, BinaryWriter } from '../internal/reader.js';
import { BTF_MAGIC, type Btf } from './btf.js';

export interface FuncInfo {
  /** Byte offset of the function's first instruction in its ELF section (as in the file). */
  insnOff: number;
  /** The FUNC type. */
  typeId: number;
}

export interface LineInfo {
  /** Byte offset of the instruction in its ELF section (as in the file). */
  insnOff: number;
  fileName: string;
  /** Source line number (line_col >> 10). */
  line: number;
  /** Column (line_col & 0x3ff). */
  col: number;
  /** The source text of the line. */
  lineText: string;
  /** String offsets of fileName and lineText in the .BTF string section. */
  fileNameOff: number;
  lineOff: number;
}

/** bpf_core_relo_kind from include/uapi/linux/bpf.h. */
export const CoreReloKind = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;
export type CoreReloKindName = keyof typeof CoreReloKind;

export interface CoreRelo {
  /** Byte offset of the instruction to patch in its ELF section. */
  insnOff: number;
  /** The local root type the access starts from. */
  typeId: number;
  /** The accessor string, e.g. "0:1:2". */
  accessStr: string;
  /** A CoreReloKind value. */
  kind: number;
}

export interface BtfExtHeader {
  magic: number;
  version: number;
  flags: number;
  hdrLen: number;
  funcInfoOff: number;
  funcInfoLen: number;
  lineInfoOff: number;
  lineInfoLen: number;
  coreReloOff: number;
  coreReloLen: number;
}

export interface BtfExt {
  header: BtfExtHeader;
  littleEndian: boolean;
  /** Record sizes declared by the file (0 when the subsection is absent). */
  funcInfoRecSize: number;
  lineInfoRecSize: number;
  coreReloRecSize: number;
  /** Records by ELF section name, in file order. */
  funcInfo: Map<string, FuncInfo[]>;
  lineInfo: Map<string, LineInfo[]>;
  coreRelos: Map<string, CoreRelo[]>;
}

export interface BtfExtParseOptions {
  file?: string;
}

const MIN_HEADER = 24;
const CORE_HEADER = 32;
const FUNC_INFO_MIN = 8;
const LINE_INFO_MIN = 16;
const CORE_RELO_MIN = 16;

/**
 * Parse a .BTF.ext section. Section names and strings resolve in `btf`'s string table. Record
 * sizes come from the file, so a newer, longer record still parses (the extra bytes are skipped).
 */
export function parseBtfExt(bytes: Uint8Array, btf: Btf, opts: BtfExtParseOptions = {}): BtfExt {
  const loc: Location =
    opts.file !== undefined ? { file: opts.file, section: '.BTF.ext' } : { section: '.BTF.ext' };
  const mk = (m: string, l: Location): BtfError => new BtfError(m, l);
  if (bytes.length < MIN_HEADER)
    throw new BtfError(`${bytes.length} bytes is too short for a .BTF.ext header`, loc);
  let le: boolean;
  const probe = new BinaryReader(bytes, true, loc, mk);
  if (probe.u16(0) === BTF_MAGIC) le = true;
  else if (new BinaryReader(bytes, false, loc, mk).u16(0) === BTF_MAGIC) le = false;
  else throw new BtfError(`bad magic 0x${probe.u16(0).toString(16)}`, { ...loc, offset: 0 });
  const r = new BinaryReader(bytes, le, loc, mk);
  const hdrLen = r.u32(4);
  if (hdrLen < MIN_HEADER || hdrLen > bytes.length) throw r.error(`bad header length ${hdrLen}`, 4);
  const header: BtfExtHeader = {
    magic: BTF_MAGIC,
    version: r.u8(2),
    flags: r.u8(3),
    hdrLen,
    funcInfoOff: r.u32(8),
    funcInfoLen: r.u32(12),
    lineInfoOff: r.u32(16),
    lineInfoLen: r.u32(20),
    coreReloOff: hdrLen >= CORE_HEADER ? r.u32(24) : 0,
    coreReloLen: hdrLen >= CORE_HEADER ? r.u32(28) : 0,
  };
  if (header.version !== 1) throw r.error(`unsupported .BTF.ext version ${header.version}`, 2);
  const str = (off: number, at: number): string => {
    if (off >= btf.strings.end) throw r.error(`string offset ${off} outside the .BTF string section`, at);
    return btf.string(off);
  };

  const fi = readInfo(
    r,
    hdrLen,
    header.funcInfoOff,
    header.funcInfoLen,
    FUNC_INFO_MIN,
    'func_info',
    str,
    (q, at) => ({
      insnOff: q.u32(at),
      typeId: q.u32(at + 4),
    }),
  );
  const li = readInfo(
    r,
    hdrLen,
    header.lineInfoOff,
    header.lineInfoLen,
    LINE_INFO_MIN,
    'line_info',
    str,
    (q, at) => {
      const fileNameOff = q.u32(at + 4);
      const lineOff = q.u32(at + 8);
      const lineCol = q.u32(at + 12);
      return {
        insnOff: q.u32(at),
        fileName: str(fileNameOff, at + 4),
        line: lineCol >>> 10,
        col: lineCol & 0x3ff,
        lineText: str(lineOff, at + 8),
        fileNameOff,
        lineOff,
      };
    },
  );
  const cr = readInfo(
    r,
    hdrLen,
    header.coreReloOff,
    header.coreReloLen,
    CORE_RELO_MIN,
    'core_relo',
    str,
    (q, at) => ({
      insnOff: q.u32(at),
      typeId: q.u32(at + 4),
      accessStr: str(q.u32(at + 8), at + 8),
      kind: q.u32(at + 12),
    }),
  );
  return {
    header,
    littleEndian: le,
    funcInfoRecSize: fi.recSize,
    lineInfoRecSize: li.recSize,
    coreReloRecSize: cr.recSize,
    funcInfo: fi.records,
    lineInfo: li.records,
    coreRelos: cr.records,
  };
}

/** One subsection: u32 record size, then {sec_name_off, num_info, records[num_info]} until its end. */
function readInfo<T>(
  r: BinaryReader,
  hdrLen: number,
  off: number,
  len: number,
  minRec: number,
  what: string,
  str: (off: number, at: number) => string,
  decode: (r: BinaryReader, at: number) => T,
): { recSize: number; records: Map<string, T[]> } {
  const records = new Map<string, T[]>();
  if (len === 0) return { recSize: 0, records };
  const start = hdrLen + off;
  const end = start + len;
  r.check(start, len, what);
  if (len < 4) throw r.error(`${what} subsection too short`, start);
  const recSize = r.u32(start);
  if (recSize < minRec || recSize % 4 !== 0) throw r.error(`${what} record size ${recSize} invalid`, start);
  let at = start + 4;
  while (at < end) {
    if (at + 8 > end) throw r.error(`${what} section header truncated`, at);
    const name = str(r.u32(at), at);
    const n = r.u32(at + 4);
    at += 8;
    if (n === 0) throw r.error(`${what} for section '${name}' has no records`, at - 4);
    if (n > (end - at) / recSize)
      throw r.error(`${what} for section '${name}': ${n} records overrun the subsection`, at - 4);
    let list = records.get(name);
    if (!list) records.set(name, (list = []));
    for (let i = 0; i < n; i++, at += recSize) {
      // Every record starts with insn_off, a byte offset: anything but whole instructions would
      // make the kernel's instruction index a fraction.
      const insnOff = r.u32(at);
      if (insnOff % 8 !== 0)
        throw r.error(`${what} for section '${name}': insn_off ${insnOff} is not a multiple of 8`, at);
      list.push(decode(r, at));
    }
  }
  return { recSize, records };
}

/** bpf_func_info as BPF_PROG_LOAD takes it: the offset counts instructions, not bytes. */
export interface KernelFuncInfo {
  insn: number;
  typeId: number;
}

/** bpf_line_info as BPF_PROG_LOAD takes it; string offsets index the loaded BTF's strings. */
export interface KernelLineInfo {
  insn: number;
  fileNameOff: number;
  lineOff: number;
  line: number;
  col: number;
}

export const FUNC_INFO_REC_SIZE = 8;
export const LINE_INFO_REC_SIZE = 16;

/** Convert file records (byte offsets) to kernel records relative to a program's first instruction. */
export function toKernelFuncInfo(infos: readonly FuncInfo[], baseInsn = 0): KernelFuncInfo[] {
  return infos.map((f) => ({ insn: f.insnOff / 8 - baseInsn, typeId: f.typeId }));
}

export function toKernelLineInfo(infos: readonly LineInfo[], baseInsn = 0): KernelLineInfo[] {
  return infos.map((l) => ({
    insn: l.insnOff / 8 - baseInsn,
    fileNameOff: l.fileNameOff,
    lineOff: l.lineOff,
    line: l.line,
    col: l.col,
  }));
}

function checkInsn(insn: number, what: string): void {
  if (!Number.isInteger(insn) || insn < 0 || insn > 0xffffffff) {
    throw new BtfError(`${what} instruction offset ${insn} is not a valid instruction index`);
  }
}

/** The bpf_func_info array (rec size FUNC_INFO_REC_SIZE) for BPF_PROG_LOAD. */
export function marshalFuncInfo(infos: readonly KernelFuncInfo[], littleEndian = true): Uint8Array {
  const w = new BinaryWriter(littleEndian, infos.length * FUNC_INFO_REC_SIZE || 8);
  for (const f of infos) {
    checkInsn(f.insn, 'func_info');
    w.u32(f.insn).u32(f.typeId);
  }
  return w.finish();
}

/** The bpf_line_info array (rec size LINE_INFO_REC_SIZE) for BPF_PROG_LOAD. */
export function marshalLineInfo(infos: readonly KernelLineInfo[], littleEndian = true): Uint8Array {
  const w = new BinaryWriter(littleEndian, infos.length * LINE_INFO_REC_SIZE || 8);
  for (const l of infos) {
    checkInsn(l.insn, 'line_info');
    if (l.col > 0x3ff || l.line > 0x3fffff)
      throw new BtfError(`line_info line ${l.line}:${l.col} out of range`);
    w.u32(l.insn)
      .u32(l.fileNameOff)
      .u32(l.lineOff)
      .u32(((l.line << 10) | l.col) >>> 0);
  }
  return w.finish();
}
