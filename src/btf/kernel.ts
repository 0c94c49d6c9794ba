// Where kernel BTF comes from, in one place: /sys/kernel/btf/vmlinux, the modules' BTF split on
// top of it (both read once and cached), the list of modules, and BTF bytes the kernel hands back
// for an object id (split or not, decided from its header). The only file reading in src/btf; the
// syscalls and the mapping that fetch bytes live in src/sys/kernel-btf.ts, which calls in here.
import { readdirSync, readFileSync } from 'node:fs';
import { NotFoundError, NotSupportedError } from '../errors.js';
import { Btf } from './btf.js';

export const KERNEL_BTF_DIR = '/sys/kernel/btf';

let vmlinux: Btf | undefined;
const modules = new Map<string, Btf>();

function readOrThrow(path: string, what: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      if (what === 'vmlinux') {
        throw new NotSupportedError(
          `kernel BTF not available (${path} missing; needs CONFIG_DEBUG_INFO_BTF, Linux 5.4+)`,
        );
      }
      throw new NotFoundError(`no BTF for kernel module '${what}' (${path} missing)`);
    }
    throw e;
  }
}

/**
 * Returns a sysfs BTF file's bytes without reading it (src/sys maps it read-only, Linux 6.16+: no
 * 5 MB copy, pages shared with every process mapping it), or undefined to fall back to a read.
 * Passed in by the caller, so pure code that only reads kernel BTF runs without the native addon.
 */
export type KernelBtfMapper = (path: string) => Uint8Array | undefined;

/** Parses the running kernel's vmlinux BTF, bypassing the cache: mapped by `map` where it can, else read. */
export function parseKernelBtf(path = `${KERNEL_BTF_DIR}/vmlinux`, map?: KernelBtfMapper): Btf {
  return Btf.parse(map?.(path) ?? readOrThrow(path, 'vmlinux'), { file: path });
}

/**
 * The running kernel's BTF (/sys/kernel/btf/vmlinux), parsed once per process; `map` is used only
 * by the call that parses it.
 */
export function loadKernelBtf(map?: KernelBtfMapper): Btf {
  vmlinux ??= parseKernelBtf(undefined, map);
  return vmlinux;
}

/** A kernel module's BTF (/sys/kernel/btf/<name>), split on top of vmlinux; cached. */
export function loadModuleBtf(name: string): Btf {
  if (name === 'vmlinux') return loadKernelBtf();
  if (name.includes('/') || name === '' || name === '.' || name === '..') {
    throw new NotFoundError(`'${name}' is not a kernel module name`);
  }
  let btf = modules.get(name);
  if (!btf) {
    const path = `${KERNEL_BTF_DIR}/${name}`;
    btf = Btf.parse(readOrThrow(path, name), { file: path, base: loadKernelBtf() });
    modules.set(name, btf);
  }
  return btf;
}

/** The names of the modules with BTF (files beside vmlinux in /sys/kernel/btf), sorted; none if unreadable. */
export function kernelModuleNames(): string[] {
  try {
    return readdirSync(KERNEL_BTF_DIR)
      .filter((n) => n !== 'vmlinux')
      .sort();
  } catch {
    return [];
  }
}

/**
 * Each module with BTF and its BTF (split on vmlinux), in name order, parsed on first use; a
 * module whose BTF cannot be read (unloaded meanwhile) is left out.
 */
export function* kernelModuleBtfs(): Generator<{ name: string; btf: Btf }> {
  for (const name of kernelModuleNames()) {
    let btf: Btf;
    try {
      btf = loadModuleBtf(name);
    } catch {
      continue;
    }
    yield { name, btf };
  }
}

/** What BPF_OBJ_GET_INFO_BY_FD says about a BTF object, with its bytes. */
export interface KernelBtfObject {
  data: Uint8Array;
  /** The object's name: 'vmlinux', a module's, or '' for BTF a program or map was loaded with. */
  name: string;
  /** Whether the kernel made it (vmlinux or a module) rather than a BPF_BTF_LOAD. */
  kernel: boolean;
}

/**
 * Parses a BTF object the kernel returned. Split BTF (module BTF, or BTF loaded on top of vmlinux)
 * gets the running kernel's vmlinux as its base: standalone BTF's string section starts with a
 * NUL, split BTF's continues its base's.
 */
export function parseKernelBtfObject(
  obj: KernelBtfObject,
  file: string,
  vmlinuxBtf: () => Btf = loadKernelBtf,
): Btf {
  const { data } = obj;
  const { strStart } = Btf.parseHeader(data, { file });
  const split = (obj.kernel && obj.name !== 'vmlinux') || (strStart < data.length && data[strStart] !== 0);
  return Btf.parse(data, split ? { base: vmlinuxBtf(), file } : { file });
}

/** Forget cached kernel BTF (after a module is loaded or unloaded). */
export function clearKernelBtfCache(): void {
  vmlinux = undefined;
  modules.clear();
}
