// `ebpf build`: compiling a `.bpf.c` into a BPF object with clang, the way libbpf-bootstrap's
// Makefile does (-g -O2 -target bpf -D__TARGET_ARCH_<arch>, the host's system include directories
// as -idirafter), against a vmlinux.h written from the running kernel's BTF.
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EbpfError, NotFoundError } from '../errors.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import { vmlinuxHeader, type VmlinuxHeaderOptions } from './vmlinux.js';

/** Compilation failed, or no compiler: the message carries clang's diagnostics or what to install. */
export class BuildError extends EbpfError {}

/** `bpfel` little-endian, `bpfeb` big-endian: the BPF target (`bpf` is the host's byte order). */
export type BpfTarget = 'bpfel' | 'bpfeb';

export interface BuildOptions extends VmlinuxHeaderOptions {
  /** The C source. */
  source: string;
  /** The object to write; default the source with `.c` replaced by `.o` (`x.bpf.c` → `x.bpf.o`). */
  output?: string;
  /** Default the host's byte order. */
  target?: BpfTarget;
  /** -I directories, searched before the vmlinux.h directory. */
  includeDirs?: readonly string[];
  /** -D definitions: `NAME` or `NAME=VALUE`. */
  defines?: readonly string[];
  /** More clang arguments, last. */
  cflags?: readonly string[];
  /** The compiler: default $CLANG, else the first of clang-19, clang-20, clang-21, clang-18, clang on PATH. */
  clang?: string;
  /** False: no vmlinux.h (the source brings its own headers). */
  vmlinux?: boolean;
  /** `__TARGET_ARCH_<arch>` (what bpf_tracing.h's PT_REGS macros read); default the host's. */
  arch?: string;
}

export interface BuildResult {
  output: string;
  /** The clang command run (argv). */
  command: string[];
  /** clang's warnings (empty when none). */
  diagnostics: string;
  /** The vmlinux.h used, and whether it came from the cache. */
  vmlinux?: { path: string; cached: boolean };
}

/** Compilers looked for on PATH, in order (the project is tested with clang-19). */
export const CLANG_CANDIDATES = ['clang-19', 'clang-20', 'clang-21', 'clang-18', 'clang'] as const;

const INSTALL_HINT =
  'install clang (Debian/Ubuntu: `apt-get install clang-19`; Fedora: `dnf install clang`), ' +
  'or name one with --clang PATH or CLANG=PATH';

/** Node's process.arch → the kernel's arch directory name, as libbpf-bootstrap maps `uname -m`. */
const KERNEL_ARCH: Record<string, string> = {
  x64: 'x86',
  ia32: 'x86',
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'powerpc',
  ppc: 'powerpc',
  s390x: 's390',
  s390: 's390',
  riscv64: 'riscv',
  loong64: 'loongarch',
  mips: 'mips',
  mipsel: 'mips',
  mips64el: 'mips',
};

/** The host's `__TARGET_ARCH_` name. */
export function hostKernelArch(): string {
  const a = KERNEL_ARCH[process.arch];
  if (a === undefined) throw new BuildError(`no kernel arch known for '${process.arch}': give --arch`);
  return a;
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The compiler to run: `explicit`, else $CLANG, else the first candidate on PATH; BuildError when none. */
export function findClang(explicit?: string): string {
  const named = explicit ?? process.env.CLANG;
  if (named !== undefined && named !== '') {
    const found = named.includes('/') ? (existsSync(named) ? named : undefined) : onPath(named);
    if (found === undefined) throw new BuildError(`clang '${named}' not found: ${INSTALL_HINT}`);
    return found;
  }
  for (const c of CLANG_CANDIDATES) {
    const p = onPath(c);
    if (p !== undefined) return p;
  }
  throw new BuildError(`no clang on PATH (looked for ${CLANG_CANDIDATES.join(', ')}): ${INSTALL_HINT}`);
}

const systemIncludes = new Map<string, string[]>();

/**
 * The host's system include directories as clang searches them for the host target: with
 * `-target bpf` clang drops the multiarch ones (asm/types.h lives in /usr/include/<triple>), so
 * they are added back with -idirafter, after everything else, as libbpf-bootstrap does.
 */
export function clangSystemIncludes(clang: string): string[] {
  let dirs = systemIncludes.get(clang);
  if (dirs === undefined) {
    const r = spawnSync(clang, ['-v', '-E', '-x', 'c', '-'], {
      input: '',
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (r.error !== undefined)
      throw new BuildError(`cannot run ${clang}: ${r.error.message}: ${INSTALL_HINT}`);
    dirs = [];
    let inList = false;
    for (const line of r.stderr.split('\n')) {
      if (line.startsWith('#include <...> search starts here:')) inList = true;
      else if (line.startsWith('End of search list.')) break;
      else if (inList && line.startsWith(' '))
        dirs.push(line.trim().replace(/ \(framework directory\)$/, ''));
    }
    systemIncludes.set(clang, dirs);
  }
  return dirs;
}

/** The host's BPF target by byte order. */
export function hostTarget(): BpfTarget {
  return HOST_LITTLE_ENDIAN ? 'bpfel' : 'bpfeb';
}

/** `x.bpf.c` → `x.bpf.o`; any other name gets `.o` in place of its extension. */
export function defaultOutput(source: string): string {
  const base = basename(source);
  const dot = base.lastIndexOf('.');
  return join(dirname(source), (dot > 0 ? base.slice(0, dot) : base) + '.o');
}

/**
 * Compiles `opts.source` into a BPF object with BTF. The object is written whole or not at all.
 * Throws BuildError with clang's diagnostics when compilation fails, or saying what to install
 * when there is no clang; NotFoundError for a missing source or kernel BTF.
 */
export function buildObject(opts: BuildOptions): BuildResult {
  if (!existsSync(opts.source)) throw new NotFoundError('no such source file', { file: opts.source });
  const clang = findClang(opts.clang);
  const output = opts.output ?? defaultOutput(opts.source);
  const defines = opts.defines ?? [];
  const args = ['-g', '-O2', '-target', opts.target ?? hostTarget()];
  if (!defines.some((d) => d.startsWith('__TARGET_ARCH_'))) {
    args.push(`-D__TARGET_ARCH_${opts.arch ?? hostKernelArch()}`);
  }
  for (const d of defines) args.push(`-D${d}`);
  for (const dir of opts.includeDirs ?? []) args.push('-I', dir);
  let vmlinux: BuildResult['vmlinux'];
  if (opts.vmlinux !== false) {
    const h = vmlinuxHeader({
      ...(opts.btf !== undefined && { btf: opts.btf }),
      ...(opts.cacheDir !== undefined && { cacheDir: opts.cacheDir }),
    });
    args.push('-I', h.dir);
    vmlinux = { path: h.path, cached: h.cached };
  }
  for (const dir of clangSystemIncludes(clang)) args.push('-idirafter', dir);
  args.push(...(opts.cflags ?? []));
  const tmp = `${output}.${process.pid}.tmp`;
  args.push('-c', opts.source, '-o', tmp);
  const r = spawnSync(clang, args, { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });
  const command = [clang, ...args.slice(0, -1), output];
  if (r.error !== undefined) {
    rmSync(tmp, { force: true });
    throw new BuildError(`cannot run ${clang}: ${r.error.message}`, { file: opts.source });
  }
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    const how = r.status === null ? `killed by ${r.signal ?? 'a signal'}` : `exit ${r.status}`;
    throw new BuildError(
      `clang failed (${how}):\n${r.stderr.trimEnd() || '(no diagnostics)'}\n  command: ${command.join(' ')}`,
      { file: opts.source },
    );
  }
  try {
    renameSync(tmp, output);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new BuildError(`cannot write: ${(e as Error).message}`, { file: output }, { cause: e });
  }
  return { output, command, diagnostics: r.stderr, ...(vmlinux !== undefined && { vmlinux }) };
}
