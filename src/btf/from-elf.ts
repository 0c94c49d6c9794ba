// Finding BTF in what a caller hands over: an ELF object's .BTF/.BTF.ext sections, or raw BTF bytes.
import { NotFoundError } from '../errors.js';
import { readInputFile } from '../internal/file.js';
import { parseElf, type ElfFile } from '../elf/index.js';
import { Btf, type BtfParseOptions } from './btf.js';
import { parseBtfExt, type BtfExt } from './ext.js';

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** The .BTF section of an ELF object, parsed; NotFoundError when the object has none. */
export function btfFromElf(elf: ElfFile, opts: BtfParseOptions = {}): Btf {
  const sec = elf.section('.BTF');
  const file = opts.file ?? elf.file;
  if (!sec) throw new NotFoundError('object has no .BTF section', file !== undefined ? { file } : {});
  return Btf.parse(sec.data(), file !== undefined ? { ...opts, file } : opts);
}

/** BTF from a file's bytes: an ELF object (its .BTF section) or raw BTF such as /sys/kernel/btf/vmlinux. */
export function parseBtfFile(bytes: Uint8Array, opts: BtfParseOptions = {}): Btf {
  if (isElf(bytes)) return btfFromElf(parseElf(bytes, opts.file), opts);
  return Btf.parse(bytes, opts);
}

/** BTF from the file at `path`: an ELF object's .BTF, or raw BTF (`/sys/kernel/btf/*`, with `base` for split BTF). */
export function readBtfFile(path: string, opts: Omit<BtfParseOptions, 'file'> = {}): Btf {
  return parseBtfFile(readInputFile(path), { ...opts, file: path });
}

/** The .BTF.ext section of an ELF object, parsed against its .BTF; undefined when absent. */
export function btfExtFromElf(elf: ElfFile, btf: Btf): BtfExt | undefined {
  const sec = elf.section('.BTF.ext');
  if (!sec) return undefined;
  return parseBtfExt(sec.data(), btf, elf.file !== undefined ? { file: elf.file } : {});
}
