// uprobe_multi links: one KPROBE program (loaded for BPF_TRACE_UPROBE_MULTI, sections
// `uprobe.multi`/`uretprobe.multi`) on many functions of one binary through a single link, with a
// cookie per function (Linux 6.6); and uprobe sessions (BPF_TRACE_UPROBE_SESSION, section
// `uprobe.session`, Linux 6.13), where one program runs at entry and, if it returned 0 there, again
// at return. Functions are given by name, by glob over the binary's symbols, or as file offsets.
import { AttachType, ProgType } from '../constants.js';
import { STT_FUNC, SHN_UNDEF } from '../elf/constants.js';
import type { ElfFile } from '../elf/elf.js';
import { EbpfError, NotFoundError, NotSupportedError } from '../errors.js';
import { haveFeature, UPROBE_MULTI_LINK, UPROBE_SESSION } from '../features/index.js';
import { checkChoice } from '../internal/options.js';
import type { Program } from '../program/program.js';
import { cString, linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { Link, requireProgramType } from './link.js';
import { attachEach, MULTI_MODES, ProbeGroup, singleProbesReason, type MultiMode } from './probe-group.js';
import { attachUprobe, type UprobeLink } from './uprobe.js';
import { readBinary, resolveBinary, symbolFileOffset, unversioned } from './uprobe-target.js';
import { checkProgramArgument } from './link.js';
import { checkOptionsArgument } from '../internal/options.js';

/** BPF_F_UPROBE_MULTI_RETURN: the program runs when the functions return. */
export const BPF_F_UPROBE_MULTI_RETURN = 1;

export interface UprobeMultiOptions {
  /** Function names or globs (`*`, `?`) over the binary's function symbols. */
  symbols?: readonly string[];
  /** File offsets, instead of `symbols`. */
  offsets?: readonly bigint[];
  /** One cookie per function found (in the order of `functions` on the link). */
  cookies?: readonly bigint[];
  /** USDT-style semaphore file offsets, one per function. */
  refCtrOffsets?: readonly bigint[];
  /** Run as the functions return (uretprobe.multi). */
  retprobe?: boolean;
  /** A uprobe session (uprobe.session): entry and, when entry returned 0, return. Linux 6.13. */
  session?: boolean;
  /** Only this process (default every process). */
  pid?: number;
  /**
   * auto (default): one uprobe_multi link where the kernel has them (Linux 6.6), else one uprobe
   * per function, with a warning (process.emitWarning, code EBPF_MULTI_LINK_FALLBACK); multi:
   * the link or an error; single: one uprobe per function. Single uprobes need the program loaded
   * for them, which the loader does on kernels without uprobe_multi links (or with
   * LoaderFeatures.uprobeMultiLink false). Sessions have no fallback.
   */
  mode?: MultiMode;
}

/** One probed function: its name (undefined when given by offset) and file offset. */
export interface ProbedFunction {
  name: string | undefined;
  offset: bigint;
}

export class UprobeMultiLink extends Link {
  readonly path: string;
  readonly functions: readonly ProbedFunction[];
  readonly retprobe: boolean;
  readonly session: boolean;
  readonly pid: number;

  constructor(
    fd: Fd,
    t: { path: string; functions: ProbedFunction[]; retprobe: boolean; session: boolean; pid: number },
  ) {
    super(fd);
    this.path = t.path;
    this.functions = t.functions;
    this.retprobe = t.retprobe;
    this.session = t.session;
    this.pid = t.pid;
  }
}

/** A uprobe_multi link's stand-in: one uprobe per function. */
export class UprobeGroup extends ProbeGroup<UprobeLink> {
  readonly path: string;
  readonly functions: readonly ProbedFunction[];
  readonly retprobe: boolean;
  readonly session = false;
  /** -1 for every process. */
  readonly pid: number;

  constructor(
    probes: UprobeLink[],
    reason: string,
    t: { path: string; functions: ProbedFunction[]; retprobe: boolean; pid: number },
  ) {
    super(probes, reason);
    this.path = t.path;
    this.functions = t.functions;
    this.retprobe = t.retprobe;
    this.pid = t.pid;
  }
}

/** A glob (`*` any run, `?` one character) as an anchored RegExp. */
export function globRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/**
 * The defined functions of `elf` whose names match `pattern` (a glob, or a plain name), from
 * .symtab and .dynsym, each once (by file offset; the first name seen wins), in address order.
 */
export function binaryFunctionsMatching(elf: ElfFile, pattern: string): ProbedFunction[] {
  const re = globRegExp(pattern);
  const byOffset = new Map<bigint, string>();
  for (const table of [elf.symbols, elf.dynamicSymbols]) {
    for (const s of table) {
      if (s.type !== STT_FUNC || s.shndx === SHN_UNDEF || s.value === 0n) continue;
      const name = unversioned(s.name);
      if (!re.test(name)) continue;
      const off = elf.fileOffsetOf(s.value);
      if (off !== undefined && !byOffset.has(BigInt(off))) byOffset.set(BigInt(off), name);
    }
  }
  return [...byOffset]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([offset, name]) => ({ name, offset }));
}

function resolveFunctions(elf: ElfFile, opts: UprobeMultiOptions): ProbedFunction[] {
  if (opts.offsets !== undefined) return opts.offsets.map((offset) => ({ name: undefined, offset }));
  const out: ProbedFunction[] = [];
  for (const s of opts.symbols ?? []) {
    if (/[*?]/.test(s)) out.push(...binaryFunctionsMatching(elf, s));
    else out.push({ name: s, offset: symbolFileOffset(elf, s) });
  }
  return out;
}

/**
 * Attaches a KPROBE program loaded for BPF_TRACE_UPROBE_MULTI (or _SESSION with `session`) to
 * many functions of `binary` through one uprobe_multi link (Linux 6.6), or on older kernels one
 * uprobe per function (UprobeGroup, see `mode`). Sessions require Linux 6.13: older kernels give
 * NotSupportedError naming the version.
 */
export function attachUprobeMulti(
  program: Program,
  binary: string,
  opts: UprobeMultiOptions,
): UprobeMultiLink | UprobeGroup {
  checkProgramArgument('attachUprobeMulti', program);
  checkOptionsArgument('attachUprobeMulti', opts);
  requireProgramType(program, 'a uprobe (BPF_PROG_TYPE_KPROBE)', ProgType.KPROBE);
  const where = { program: program.name };
  if ((opts.symbols === undefined) === (opts.offsets === undefined))
    throw new EbpfError('uprobe_multi: give either symbols or offsets', where);
  const path = resolveBinary(binary);
  const functions = resolveFunctions(readBinary(path), opts);
  if (functions.length === 0) {
    throw new NotFoundError(
      `uprobe_multi: no function of ${path} matches ${(opts.symbols ?? []).join(', ')}`,
      {
        file: path,
        ...where,
      },
    );
  }
  for (const [what, list] of [
    ['cookies', opts.cookies],
    ['refCtrOffsets', opts.refCtrOffsets],
  ] as const) {
    if (list !== undefined && list.length !== functions.length)
      throw new EbpfError(`uprobe_multi: ${list.length} ${what} for ${functions.length} functions`, where);
  }
  const session = opts.session ?? false;
  const retprobe = opts.retprobe ?? false;
  if (session && retprobe) throw new EbpfError('uprobe_multi: a session is not a retprobe', where);
  const pid = opts.pid ?? 0;
  const mode = checkChoice('mode', opts.mode, MULTI_MODES, where) ?? 'auto';
  const reason = singleProbesReason(mode, session, UPROBE_MULTI_LINK, 'uprobes');
  if (reason !== undefined) {
    const probes = attachEach(
      functions,
      (f, i) =>
        attachUprobe(program, path, {
          offset: f.offset,
          retprobe,
          ...(pid !== 0 && { pid }),
          ...(opts.cookies !== undefined && { cookie: opts.cookies[i]! }),
          ...(opts.refCtrOffsets !== undefined && { refCtrOffset: Number(opts.refCtrOffsets[i]!) }),
        }),
      mode === 'single'
        ? undefined
        : `prog '${program.name}': ${reason}; attached ${functions.length} uprobe${functions.length === 1 ? '' : 's'} on ${path}, one per function`,
    );
    return new UprobeGroup(probes, reason, { path, functions, retprobe, pid: pid === 0 ? -1 : pid });
  }
  const pathBytes = cString(path);
  try {
    const fd = linkCreate(
      {
        prog_fd: program.fd.fd,
        attach_type: session ? AttachType.TRACE_UPROBE_SESSION : AttachType.TRACE_UPROBE_MULTI,
        uprobe_multi_cnt: functions.length,
        uprobe_multi_flags: retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0,
        uprobe_multi_pid: pid,
      },
      {
        uprobe_multi_path: pathBytes,
        uprobe_multi_offsets: new BigUint64Array(functions.map((f) => f.offset)),
        ...(opts.cookies !== undefined && { uprobe_multi_cookies: new BigUint64Array(opts.cookies) }),
        ...(opts.refCtrOffsets !== undefined && {
          uprobe_multi_ref_ctr_offsets: new BigUint64Array(opts.refCtrOffsets),
        }),
      },
    );
    return new UprobeMultiLink(fd, { path, functions, retprobe, session, pid: pid === 0 ? -1 : pid });
  } catch (err) {
    if (err instanceof SyscallError && (err.code === 'EINVAL' || err.code === 'EOPNOTSUPP')) {
      const f = session ? UPROBE_SESSION : UPROBE_MULTI_LINK;
      if (!haveFeature(f))
        throw new NotSupportedError(`${f.name} requires Linux ${f.version} or later`, where, { cause: err });
      throw new SyscallError(err.command, err.errno, {
        location: { ...where, file: path },
        hint: `was ${program.name} loaded for ${session ? 'BPF_TRACE_UPROBE_SESSION (uprobe.session)' : 'BPF_TRACE_UPROBE_MULTI (uprobe.multi)'}?`,
      });
    }
    if (err instanceof SyscallError && err.code === 'ESRCH')
      throw new SyscallError(err.command, err.errno, {
        location: { ...where, file: path },
        hint: `no process ${pid}`,
      });
    throw err;
  }
}
