// vmlinux.h for `ebpf build`: every type of a kernel's BTF as a C header, written by the project's
// own C formatter (the same text as `bpftool btf dump file ... format c`), cached by BTF content.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Btf } from '../btf/btf.js';
import { formatC } from '../btf/format-c.js';
import { KERNEL_BTF_DIR } from '../btf/kernel.js';
import { EbpfError, NotFoundError } from '../errors.js';
import { readInputFile } from '../internal/file.js';

/** Bumped when the formatter's output changes, so cached headers are rewritten. */
const HEADER_VERSION = 1;

export interface VmlinuxHeaderOptions {
  /** The BTF to write the header from; default the running kernel's, /sys/kernel/btf/vmlinux. */
  btf?: string;
  /** Where headers are cached; default $EBPF_CACHE_DIR, else $XDG_CACHE_HOME/ebpf, else ~/.cache/ebpf. */
  cacheDir?: string;
}

export interface VmlinuxHeader {
  /** The directory holding vmlinux.h (give it to clang with -I). */
  dir: string;
  /** The header's path. */
  path: string;
  /** False when this call wrote it. */
  cached: boolean;
}

/** The cache directory `ebpf build` uses. */
export function defaultCacheDir(): string {
  const env = process.env;
  if (env.EBPF_CACHE_DIR) return env.EBPF_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ebpf');
}

/**
 * The directory of a vmlinux.h for `opts.btf` (default the running kernel), written on first use
 * and kept under the cache directory by a hash of the BTF bytes: a new kernel gets a new header.
 * NotFoundError when the kernel has no BTF (CONFIG_DEBUG_INFO_BTF) and none is given.
 */
export function vmlinuxHeader(opts: VmlinuxHeaderOptions = {}): VmlinuxHeader {
  const source = opts.btf ?? `${KERNEL_BTF_DIR}/vmlinux`;
  if (opts.btf === undefined && !existsSync(source)) {
    throw new NotFoundError(
      `no kernel BTF at ${source} (a kernel built with CONFIG_DEBUG_INFO_BTF has it): ` +
        'give a BTF file to write vmlinux.h from (--vmlinux FILE), or your own vmlinux.h with -I',
    );
  }
  const bytes = readInputFile(source);
  const key = createHash('sha256').update(`${HEADER_VERSION}\0`).update(bytes).digest('hex').slice(0, 16);
  const dir = join(opts.cacheDir ?? defaultCacheDir(), `vmlinux-${key}`);
  const path = join(dir, 'vmlinux.h');
  if (existsSync(path)) return { dir, path, cached: true };
  const text = formatC(Btf.parse(bytes, { file: source }));
  // Written aside and renamed: a concurrent build sees the whole header or none.
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    throw new EbpfError(
      `cannot write vmlinux.h: ${(e as Error).message} (set EBPF_CACHE_DIR or --cache-dir to a writable directory)`,
      { file: path },
      { cause: e },
    );
  }
  return { dir, path, cached: false };
}
