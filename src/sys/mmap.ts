// Shared memory mappings of BPF maps and perf buffers, as ArrayBuffers that munmap detaches.
import { SyscallError } from './error.js';
import { native } from './native.js';

/** Page size of this machine, which mmap offsets and ring sizes are counted in. */
export function pageSize(): number {
  return native().PAGE_SIZE;
}

/**
 * Maps `length` bytes of `fd` at `offset` (MAP_SHARED, or MAP_PRIVATE with `private`, which
 * read-only sysfs files such as /sys/kernel/btf/vmlinux require). With `at`, the mapping must
 * start at that address (MAP_FIXED_NOREPLACE: EEXIST when something is mapped there already,
 * never replacing it). The result is an ArrayBuffer over the mapping; munmap() detaches it, and a
 * collected one is unmapped by its finalizer.
 */
export function mmap(
  fd: number,
  length: number,
  opts: { write?: boolean; offset?: number; private?: boolean; at?: bigint } = {},
): ArrayBuffer {
  const n = native();
  const prot = n.PROT_READ | (opts.write ? n.PROT_WRITE : 0);
  let flags = opts.private ? n.MAP_PRIVATE : n.MAP_SHARED;
  if (opts.at !== undefined) flags |= n.MAP_FIXED_NOREPLACE;
  const r = n.mmap(fd, length, prot, flags, opts.offset ?? 0, opts.at ?? 0n);
  if (typeof r === 'number') throw new SyscallError('mmap', -r);
  return r;
}

/** Unmaps a buffer from mmap(): it is detached first (byteLength 0), so no view reads freed memory. */
export function munmap(buffer: ArrayBuffer): void {
  const r = native().munmap(buffer);
  if (r < 0) throw new SyscallError('munmap', -r);
}

/** The address at which a buffer from mmap() is mapped in this process. */
export function mappedAddress(buffer: ArrayBuffer): bigint {
  return native().addressOf(new Uint8Array(buffer));
}

/** Bytes of a slab(): native/ebpf.c's SLAB_BYTES (a constant here, so importing needs no addon). */
export const SLAB_BYTES = 64 * 1024;

/**
 * Memory to copy records into: an ArrayBuffer of SLAB_BYTES whose bytes are unspecified (write
 * before reading). Once collected, its memory goes back to a pool for the next slab() instead of
 * to malloc, so that a stream of copies keeps reusing pages already faulted in.
 */
export function slab(): ArrayBuffer {
  const r = native().slab();
  if (typeof r === 'number') throw new SyscallError('malloc', -r);
  return r;
}
