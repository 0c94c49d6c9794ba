// The kernel side of kernel BTF: vmlinux mapped instead of read (Linux 6.16+), BTF objects fetched
// by id, and a module's BTF object found by name. What the bytes mean is src/btf/kernel.ts's.
import { closeSync, fstatSync, openSync } from 'node:fs';
import type { Btf } from '../btf/btf.js';
import { loadKernelBtf, parseKernelBtfObject } from '../btf/kernel.js';
import { btfGetFdById, btfGetInfo, btfGetNextId } from './bpf.js';
import { E } from './errno.js';
import { isErrno } from './error.js';
import type { Fd } from './fd.js';
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

/** The running kernel's vmlinux BTF, parsed once per process, from a mapping where the kernel allows. */
export function runningKernelBtf(): Btf {
  return loadKernelBtf(mapKernelBtfFile);
}

/** The BTF commands used here; the loader passes its own, counted for fault injection. */
export interface BtfCalls {
  btfGetNextId: typeof btfGetNextId;
  btfGetFdById: typeof btfGetFdById;
  btfGetInfo: typeof btfGetInfo;
}

const direct: BtfCalls = { btfGetNextId, btfGetFdById, btfGetInfo };

/**
 * The BTF object `id` from the kernel (BPF_BTF_GET_FD_BY_ID + BPF_OBJ_GET_INFO_BY_FD), parsed,
 * named `file` in errors; split BTF gets vmlinux as its base. Not cached.
 */
export function readKernelBtfObject(id: number, file: string, calls: BtfCalls = direct): Btf {
  const fd = calls.btfGetFdById(id);
  let got: ReturnType<typeof btfGetInfo>;
  try {
    got = calls.btfGetInfo(fd.fd, true);
  } finally {
    fd.close();
  }
  return parseKernelBtfObject(
    { data: got.data ?? new Uint8Array(0), name: got.name, kernel: got.info.kernel_btf !== 0 },
    file,
    runningKernelBtf,
  );
}

const byId = new Map<number, Btf>();

/** The BTF object `id` from the kernel, parsed; cached by id (the kernel allocates ids cyclically). */
export function btfFromKernel(id: number): Btf {
  let btf = byId.get(id);
  if (btf === undefined) {
    btf = readKernelBtfObject(id, `btf id ${id}`);
    byId.set(id, btf);
  }
  return btf;
}

/**
 * A descriptor of the kernel's BTF object named `name` (a module's), found by walking BTF ids;
 * undefined when there is none. The caller owns the descriptor.
 */
export function openKernelBtfByName(name: string, calls: BtfCalls = direct): Fd | undefined {
  for (let id = calls.btfGetNextId(0); id !== undefined; id = calls.btfGetNextId(id)) {
    let fd: Fd;
    try {
      fd = calls.btfGetFdById(id);
    } catch (e) {
      if (isErrno(e, E.ENOENT)) continue; // gone meanwhile
      throw e;
    }
    let found = false;
    try {
      found = calls.btfGetInfo(fd.fd).name === name;
    } finally {
      if (!found) fd.close();
    }
    if (found) return fd;
  }
  return undefined;
}
