// Finding BTF in what a caller hands over: an ELF object's .BTF/.BTF.ext sections, or raw BTF bytes.
import { NotFoundError } from '../errors.js';
import { parseElf, type ElfFile } from '../elf/index.js';
import { Btf, type BtfParseOptions } from './btf.js';

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
