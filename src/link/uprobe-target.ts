// Where a uprobe goes: `binary:symbol[+offset]` parsed, the binary found (path, PATH, library
// directories), and the symbol's address turned into the file offset the uprobe PMU wants.
import { accessSync, closeSync, constants, fstatSync, openSync, readFileSync } from 'node:fs';
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

/** A symbol table's defined functions by name and by name without version, built once per table. */
const functionIndexes = new WeakMap<readonly ElfSymbol[], Map<string, ElfSymbol[]>>();
function functionsByName(table: readonly ElfSymbol[]): Map<string, ElfSymbol[]> {
  let index = functionIndexes.get(table);
  if (index !== undefined) return index;
  index = new Map();
  const add = (name: string, s: ElfSymbol): void => {
    const list = index!.get(name);
    if (list === undefined) index!.set(name, [s]);
    else list.push(s);
  };
  for (const s of table) {
    if (s.shndx === SHN_UNDEF || s.value === 0n) continue;
    if (s.type !== STT_FUNC && s.type !== STT_GNU_IFUNC && s.type !== STT_NOTYPE) continue;
    add(s.name, s);
    const base = baseName(s);
    if (base !== s.name) add(base, s);
  }
  functionIndexes.set(table, index);
  return index;
}

/**
 * The defined function symbol `name` in .symtab, else .dynsym. Several entries are fine when they
 * agree on the address (the same function in both tables, a weak alias); two addresses are an error.
 */
export function findFunctionSymbol(elf: ElfFile, name: string): ElfSymbol {
  const where = elf.file === undefined ? {} : { file: elf.file };
  for (const table of [elf.symbols, elf.dynamicSymbols]) {
    const found = functionsByName(table).get(name) ?? [];
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

/** One parsed binary, valid while the file at its path is the same (`key`). */
interface CachedBinary {
  key: string;
  elf: ElfFile;
  bytes: number;
}

/**
 * Parsed binaries by path, least recently used first (a Map keeps insertion order). Attaching by
 * symbol parses the target's symbol tables, seconds for a binary the size of Node's (100 MB,
 * 100,000+ symbols); repeated attaches to the same binary parse it once.
 */
const binaries = new Map<string, CachedBinary>();
/** At most this many binaries, and this many bytes of them, stay parsed. */
export const BINARY_CACHE_LIMITS = { entries: 4, bytes: 512 * 1024 * 1024 };

/** Forgets every parsed binary (their memory goes with the last link attached through them). */
export function clearBinaryCache(): void {
  binaries.clear();
}

/**
 * Parses the binary at `path` (an absolute path) for symbol lookups, or returns the parse kept
 * from an earlier call while the file is unchanged: same device, inode, size, mtime and ctime,
 * read from the descriptor the bytes come from (a file replaced or rewritten in place is re-read).
 */
export function readBinary(path: string): ElfFile {
  let bytes: Uint8Array;
  let key: string;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd, { bigint: true });
    key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const hit = binaries.get(path);
    if (hit !== undefined && hit.key === key) {
      binaries.delete(path);
      binaries.set(path, hit);
      return hit.elf;
    }
    bytes = readFileSync(fd);
  } catch (err) {
    throw new NotFoundError(`cannot read uprobe binary ${path}`, { file: path }, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const elf = parseElf(bytes, path);
  binaries.delete(path);
  binaries.set(path, { key, elf, bytes: bytes.length });
  let total = 0;
  for (const b of binaries.values()) total += b.bytes;
  for (const [oldest, b] of binaries) {
    if (binaries.size <= 1) break;
    if (binaries.size <= BINARY_CACHE_LIMITS.entries && total <= BINARY_CACHE_LIMITS.bytes) break;
    binaries.delete(oldest);
    total -= b.bytes;
  }
  return elf;
}
