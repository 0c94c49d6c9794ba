// Where a uprobe goes: `binary:symbol[+offset]` parsed, the binary found (path, PATH, library
// directories), and the symbol's address turned into the file offset the uprobe PMU wants.
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, isAbsolute, resolve } from 'node:path';
import { parseElf, type ElfFile, type ElfSymbol } from '../elf/elf.js';
import { SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_FUNC, STT_GNU_IFUNC, STT_NOTYPE } from '../elf/constants.js';
import { EbpfError, NotFoundError, NotSupportedError } from '../errors.js';

export interface UprobeTarget {
  binary: string;
  /** The function; undefined when `offset` is a file offset by itself. */
  symbol: string | undefined;
  offset: bigint;
}

const NUMBER = /^(0x[0-9a-fA-F]+|\d+)$/;

/**
 * Parses libbpf's uprobe target text: `binary:symbol`, `binary:symbol+0x10`, or `binary:0x1234`
 * (a file offset). The binary is everything before the last `:` (`/proc/self/exe:main`).
 */
export function parseUprobeTarget(text: string): UprobeTarget {
  const colon = text.lastIndexOf(':');
  if (colon <= 0 || colon === text.length - 1)
    throw new EbpfError(`uprobe target '${text}' is not binary:function[+offset]`);
  const binary = text.slice(0, colon);
  const fn = text.slice(colon + 1);
  if (NUMBER.test(fn)) return { binary, symbol: undefined, offset: BigInt(fn) };
  const plus = fn.indexOf('+');
  if (plus < 0) return { binary, symbol: fn, offset: 0n };
  const off = fn.slice(plus + 1);
  if (plus === 0 || !NUMBER.test(off))
    throw new EbpfError(`uprobe target '${text}': '${fn}' is not function+offset`);
  return { binary, symbol: fn.slice(0, plus), offset: BigInt(off) };
}

/** Library directories searched for a bare `libfoo.so.N`, the usual ld.so ones for 64-bit. */
const LIBRARY_DIRS = [
  '/lib64',
  '/usr/lib64',
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib',
  '/usr/lib',
  '/usr/local/lib',
];

function usable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute path of `binary`: a path is taken as it is (relative to the working directory);
 * a bare name is looked for in the library directories when it looks like a library (`.so`),
 * else in PATH. The kernel resolves the path itself, so it must name the file the probe is for.
 */
export function resolveBinary(binary: string): string {
  if (binary.includes('/')) {
    const p = isAbsolute(binary) ? binary : resolve(binary);
    if (!usable(p)) throw new NotFoundError(`uprobe binary ${p} not found or not readable`);
    return p;
  }
  const dirs = binary.includes('.so')
    ? LIBRARY_DIRS
    : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).filter((d) => d !== '');
  for (const d of dirs) {
    const p = `${d}/${binary}`;
    if (usable(p)) return p;
  }
  throw new NotFoundError(`uprobe binary '${binary}' not found in ${dirs.join(':')}`);
}

/** A symbol name without its version (`memcpy@@GLIBC_2.14` in some .symtab entries). */
export const unversioned = (name: string): string => {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
};
const baseName = (s: ElfSymbol): string => unversioned(s.name);

/**
 * The defined function symbol `name` in .symtab, else .dynsym. Several entries are fine when they
 * agree on the address (the same function in both tables, a weak alias); two addresses are an error.
 */
export function findFunctionSymbol(elf: ElfFile, name: string): ElfSymbol {
  const where = elf.file === undefined ? {} : { file: elf.file };
  for (const table of [elf.symbols, elf.dynamicSymbols]) {
    const found = table.filter(
      (s) =>
        s.shndx !== SHN_UNDEF &&
        s.value !== 0n &&
        (s.type === STT_FUNC || s.type === STT_GNU_IFUNC || s.type === STT_NOTYPE) &&
        (s.name === name || baseName(s) === name),
    );
    if (found.length === 0) continue;
    const globals = found.filter((s) => s.bind === STB_GLOBAL || s.bind === STB_WEAK);
    const pick = new Set((globals.length > 0 ? globals : found).map((s) => s.value));
    if (pick.size > 1) {
      const addrs = [...pick].map((v) => `0x${v.toString(16)}`).join(', ');
      throw new EbpfError(`symbol '${name}' is at several addresses (${addrs}); give binary:0xOFFSET`, where);
    }
    const sym = (globals.length > 0 ? globals : found)[0]!;
    if (sym.type === STT_GNU_IFUNC) {
      throw new NotSupportedError(
        `'${name}' is an indirect function (STT_GNU_IFUNC): probing it would probe its resolver`,
        where,
      );
    }
    return sym;
  }
  throw new NotFoundError(`no function '${name}' in the symbol tables (.symtab, .dynsym)`, where);
}

/**
 * The file offset of `symbol` + `offset` in `elf`: its virtual address mapped through the PT_LOAD
 * segment that holds it (through its section when the file has no program headers).
 */
export function symbolFileOffset(elf: ElfFile, symbol: string, offset = 0n): bigint {
  const sym = findFunctionSymbol(elf, symbol);
  const vaddr = sym.value + offset;
  const where = elf.file === undefined ? {} : { file: elf.file };
  if (elf.segments.length > 0) {
    const off = elf.fileOffsetOf(vaddr);
    if (off === undefined) {
      throw new EbpfError(
        `'${symbol}'+${offset} (0x${vaddr.toString(16)}) is in no loadable segment of the file`,
        where,
      );
    }
    return BigInt(off);
  }
  const sec = elf.symbolSection(sym);
  if (sec === undefined) throw new EbpfError(`'${symbol}' is in no section`, where);
  return vaddr - sec.addr + BigInt(sec.offset);
}

/** Parses the binary at `path` (an absolute path) for symbol lookups. */
export function readBinary(path: string): ElfFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new NotFoundError(`cannot read uprobe binary ${path}`, { file: path }, { cause: err });
  }
  return parseElf(bytes, path);
}
