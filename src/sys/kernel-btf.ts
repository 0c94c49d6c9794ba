// Maps /sys/kernel/btf files instead of reading them, where the kernel allows it (Linux 6.16+),
// and hands that to src/btf's kernel discovery, which must not depend on the native addon itself.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { setKernelBtfMapper } from '../btf/kernel.js';
import { mmap } from './mmap.js';

/**
 * A private read-only mapping of a sysfs BTF file, or undefined when the kernel refuses
 * (EACCES/EINVAL/ENODEV before 6.16) so the caller reads the file instead.
 */
export function mapKernelBtfFile(path: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    // The mapping outlives the descriptor; its ArrayBuffer unmaps itself when collected.
    return new Uint8Array(mmap(fd, size, { private: true }));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

setKernelBtfMapper(mapKernelBtfFile);
