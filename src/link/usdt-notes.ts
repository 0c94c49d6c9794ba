// USDT probes as <sys/sdt.h> records them: one ELF note (owner "stapsdt", type 3) per probe site in
// .note.stapsdt, giving the site's address, the .stapsdt.base address it was linked against (to
// undo prelink), the semaphore's address and the argument specs. Read here, and the addresses
// turned into the file offsets uprobes take.
import { ElfError, EbpfError } from '../errors.js';
import type { ElfFile } from '../elf/elf.js';
import { ET_DYN } from '../elf/constants.js';

/** The note type systemtap's <sys/sdt.h> gives its probe descriptors (NT_STAPSDT). */
export const NT_STAPSDT = 3;
export const STAPSDT_NOTE_SECTION = '.note.stapsdt';
export const STAPSDT_BASE_SECTION = '.stapsdt.base';

/** One probe site as its note describes it, addresses as linked. */
export interface UsdtNote {
  provider: string;
  name: string;
  /** The argument specs, space separated (`-4@%eax 8@-8(%rbp)`); '' for none. */
  args: string;
  /** The probe's address (the `nop` sdt.h places), before any prelink adjustment. */
  locAddr: bigint;
  /** The address .stapsdt.base had when the note was written; 0 when the file has none. */
  baseAddr: bigint;
  /** The semaphore's address (a 2-byte counter in .probes), 0 when the probe has none. */
  semaAddr: bigint;
}

/** A probe site located in the file: where its uprobe goes. */
export interface UsdtSite extends UsdtNote {
  /** The probe's virtual address in the file as it is now (prelink undone through .stapsdt.base). */
  address: bigint;
  /** The file offset of `address`: the uprobe's offset. */
  fileOffset: bigint;
  /** The semaphore's file offset (uprobe ref_ctr_offset), 0 when the probe has none. */
  semaphoreOffset: bigint;
}

const align4 = (n: number): number => (n + 3) & ~3;

/** Every stapsdt note of `elf`, in file order; none when the file has no .note.stapsdt. */
export function readUsdtNotes(elf: ElfFile): UsdtNote[] {
  const out: UsdtNote[] = [];
  for (const sec of elf.sectionsNamed(STAPSDT_NOTE_SECTION)) {
    const r = elf.sectionReader(sec);
    const size = sec.data().length;
    for (let off = 0; off < size;) {
      const namesz = r.u32(off);
      const descsz = r.u32(off + 4);
      const type = r.u32(off + 8);
      const nameOff = off + 12;
      const descOff = nameOff + align4(namesz);
      r.check(descOff, descsz, 'note descriptor');
      const owner = namesz > 0 ? r.cstring(nameOff) : '';
      if (owner === 'stapsdt' && type === NT_STAPSDT) {
        const desc = r.sub(descOff, descsz);
        if (descsz < 24) throw desc.error(`stapsdt note of ${descsz} bytes, shorter than its 3 addresses`, 0);
        const provider = desc.cstring(24);
        const name = desc.cstring(24 + Buffer.byteLength(provider) + 1);
        const argsAt = 24 + Buffer.byteLength(provider) + 1 + Buffer.byteLength(name) + 1;
        const args = argsAt < descsz ? desc.cstring(argsAt) : '';
        out.push({
          provider,
          name,
          args: args.trim(),
          locAddr: desc.u64(0),
          baseAddr: desc.u64(8),
          semaAddr: desc.u64(16),
        });
      }
      off = descOff + align4(descsz);
    }
  }
  return out;
}

/** The file offset of `vaddr` through its PT_LOAD segment, or an error naming the probe. */
function fileOffset(elf: ElfFile, vaddr: bigint, what: string): bigint {
  const off = elf.fileOffsetOf(vaddr);
  if (off === undefined) {
    throw new ElfError(`${what} at 0x${vaddr.toString(16)} is in no loadable segment`, {
      ...(elf.file !== undefined && { file: elf.file }),
      section: STAPSDT_NOTE_SECTION,
    });
  }
  return BigInt(off);
}

/**
 * The probe sites of `elf` named provider:name (every site of the probe: sdt.h places one per
 * expansion of the macro, and inlining copies them). NotFoundError-like EbpfError when there are none.
 */
export function findUsdtSites(elf: ElfFile, provider: string, name: string): UsdtSite[] {
  const where = elf.file !== undefined ? { file: elf.file } : {};
  const notes = readUsdtNotes(elf);
  if (notes.length === 0) throw new EbpfError(`no USDT probes (no ${STAPSDT_NOTE_SECTION} notes)`, where);
  const base = elf.section(STAPSDT_BASE_SECTION)?.addr;
  const out: UsdtSite[] = [];
  for (const n of notes) {
    if (n.provider !== provider || n.name !== name) continue;
    // Prelink moves .stapsdt.base with the code but leaves the notes: shift by how far it moved.
    const address = base !== undefined && n.baseAddr !== 0n ? n.locAddr + base - n.baseAddr : n.locAddr;
    const what = `USDT ${provider}:${name}`;
    out.push({
      ...n,
      address,
      fileOffset: fileOffset(elf, address, what),
      semaphoreOffset: n.semaAddr === 0n ? 0n : fileOffset(elf, n.semaAddr, `the semaphore of ${what}`),
    });
  }
  if (out.length === 0) {
    const known = [...new Set(notes.map((n) => `${n.provider}:${n.name}`))].join(', ');
    throw new EbpfError(`no USDT probe ${provider}:${name} (the file has ${known})`, where);
  }
  return out;
}

/** True when the file is position-independent code (ET_DYN: PIE executables, shared libraries). */
export const isPositionIndependent = (elf: ElfFile): boolean => elf.header.type === ET_DYN;

/**
 * Where a probe's address is in process `pid`'s memory, for the no-cookie protocol (the program
 * looks its spec up by instruction pointer): the address itself for a fixed-address executable,
 * else the file offset rebased on the mapping of `path` that covers it (/proc/PID/maps).
 */
export function usdtRuntimeAddress(
  elf: ElfFile,
  site: UsdtSite,
  path: string,
  maps: string | undefined,
): bigint | undefined {
  if (!isPositionIndependent(elf)) return site.address;
  if (maps === undefined) return undefined;
  for (const line of maps.split('\n')) {
    // start-end perms offset dev inode path
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(.*)$/.exec(line);
    if (m === null || m[4] !== path) continue;
    const start = BigInt(`0x${m[1]!}`);
    const end = BigInt(`0x${m[2]!}`);
    const off = BigInt(`0x${m[3]!}`);
    if (site.fileOffset >= off && site.fileOffset < off + (end - start)) return start + site.fileOffset - off;
  }
  return undefined;
}
