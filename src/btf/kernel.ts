// Kernel BTF discovery: /sys/kernel/btf/vmlinux and module BTF split on top of it, read once and cached.
// The only file reading in src/btf.
import { readFileSync } from 'node:fs';
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

/** Returns a sysfs BTF file's bytes without reading it, or undefined to fall back to a read. */
export type KernelBtfMapper = (path: string) => Uint8Array | undefined;
let mapper: KernelBtfMapper | undefined;

/**
 * Lets src/sys, which owns mmap, supply the bytes of vmlinux BTF as a read-only mapping (Linux
 * 6.16+): no 5 MB copy, pages shared with every process mapping it. This module stays free of
 * the native addon, so pure code that only reads kernel BTF runs without it.
 */
export function setKernelBtfMapper(fn: KernelBtfMapper | undefined): void {
  mapper = fn;
}

/** Parses the running kernel's vmlinux BTF, bypassing the cache: mapped where possible, else read. */
export function parseKernelBtf(path = `${KERNEL_BTF_DIR}/vmlinux`): Btf {
  return Btf.parse(mapper?.(path) ?? readOrThrow(path, 'vmlinux'), { file: path });
}

/** The running kernel's BTF (/sys/kernel/btf/vmlinux), parsed once per process. */
export function loadKernelBtf(): Btf {
  vmlinux ??= parseKernelBtf();
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

/** Forget cached kernel BTF (after a module is loaded or unloaded). */
export function clearKernelBtfCache(): void {
  vmlinux = undefined;
  modules.clear();
}
