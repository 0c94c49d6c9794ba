// uprobes and uretprobes: a KPROBE-type program run when a process executes an instruction of a
// file (a function's entry, or its return), through the uprobe PMU's perf event. Requires Linux 4.17
// (PMU), 5.15 for a bpf_link and bpf_cookie.
import { ProgType } from '../constants.js';
import { NotSupportedError } from '../errors.js';
import {
  checkBoolean,
  checkInteger,
  checkOffset,
  checkU64,
  checkOptionsArgument,
} from '../internal/options.js';
import type { Program } from '../program/program.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { perfEventOpenProbe } from '../sys/probe-event.js';
import { requireProgramType, type Link } from './link.js';
import { attachToPerfEvent, pmuConfigBit, pmuType, ProbeLink } from './probe-link.js';
import { readBinary, resolveBinary, symbolFileOffset } from './uprobe-target.js';
import { checkProgramArgument } from './link.js';

export interface UprobeOptions {
  /** The function to probe; without it `offset` is a file offset by itself. */
  symbol?: string;
  /** Bytes past the function's start (with `symbol`), or the file offset (without). Default 0. */
  offset?: number | bigint;
  /** Run when the function returns rather than when it is entered. */
  retprobe?: boolean;
  /** Only this process (default -1: every process that runs the file). */
  pid?: number;
  /** What bpf_get_attach_cookie returns in the program. Requires Linux 5.15. */
  cookie?: bigint;
  /** File offset of a USDT semaphore the kernel increments while the probe is on. */
  refCtrOffset?: number;
}

export class UprobeLink extends ProbeLink {
  /** The binary's absolute path, as given to the kernel. */
  readonly path: string;
  readonly symbol: string | undefined;
  /** The file offset probed. */
  readonly fileOffset: bigint;
  readonly retprobe: boolean;
  /** -1 for every process. */
  readonly pid: number;

  constructor(
    event: Fd,
    link: Link | undefined,
    t: { path: string; symbol: string | undefined; fileOffset: bigint; retprobe: boolean; pid: number },
  ) {
    super(event, link);
    this.path = t.path;
    this.symbol = t.symbol;
    this.fileOffset = t.fileOffset;
    this.retprobe = t.retprobe;
    this.pid = t.pid;
  }
}

/**
 * Attaches a KPROBE program to a function of `binary` (an executable or shared library: path, or
 * a name looked up in PATH / the library directories). The symbol is found in the file's .symtab
 * or .dynsym and its address turned into a file offset through the program headers.
 */
export function attachUprobe(program: Program, binary: string, opts: UprobeOptions = {}): UprobeLink {
  checkProgramArgument('attachUprobe', program);
  checkOptionsArgument('attachUprobe', opts);
  const at = { program: program.name };
  checkOffset('offset', opts.offset, at);
  checkBoolean('retprobe', opts.retprobe, at);
  checkInteger('pid', opts.pid, -1, 0x7fffffff, at);
  checkU64('cookie', opts.cookie, at);
  checkInteger('refCtrOffset', opts.refCtrOffset, 0, Number.MAX_SAFE_INTEGER, at);
  requireProgramType(program, 'a uprobe (BPF_PROG_TYPE_KPROBE)', ProgType.KPROBE);
  const path = resolveBinary(binary);
  const offset = BigInt(opts.offset ?? 0);
  const fileOffset =
    opts.symbol === undefined ? offset : symbolFileOffset(readBinary(path), opts.symbol, offset);
  const retprobe = opts.retprobe ?? false;
  const pid = opts.pid ?? -1;
  const type = pmuType('uprobe');
  if (type === undefined) {
    throw new NotSupportedError(
      'uprobes unavailable: no uprobe PMU (/sys/bus/event_source/devices/uprobe; Linux 4.17, CONFIG_UPROBE_EVENTS)',
      { program: program.name },
    );
  }
  let config = retprobe ? 1n << BigInt(pmuConfigBit('uprobe', 'retprobe')) : 0n;
  if (opts.refCtrOffset !== undefined && opts.refCtrOffset !== 0)
    config |= BigInt(opts.refCtrOffset) << BigInt(pmuConfigBit('uprobe', 'ref_ctr_offset'));
  const what = `${path}:${opts.symbol ?? ''}${opts.symbol === undefined ? `0x${offset.toString(16)}` : offset !== 0n ? `+0x${offset.toString(16)}` : ''}`;
  let event: Fd;
  try {
    event = perfEventOpenProbe({ type, config, name: path, offset: fileOffset }, pid, pid < 0 ? 0 : -1);
  } catch (err) {
    if (err instanceof SyscallError) {
      const hint =
        err.code === 'ESRCH'
          ? `no process ${pid}`
          : err.code === 'EINVAL'
            ? `the kernel refused a ${retprobe ? 'uretprobe' : 'uprobe'} at ${what} (file offset 0x${fileOffset.toString(16)})`
            : err.hint;
      throw new SyscallError(err.command, err.errno, {
        location: { program: program.name, file: path },
        ...(hint !== undefined && { hint }),
      });
    }
    throw err;
  }
  try {
    const link = attachToPerfEvent(program, event, opts.cookie ?? 0n);
    return new UprobeLink(event, link, { path, symbol: opts.symbol, fileOffset, retprobe, pid });
  } catch (err) {
    event.close();
    throw err;
  }
}

/** attachUprobe with `retprobe: true`: the program runs as the function returns. */
export function attachUretprobe(
  program: Program,
  binary: string,
  opts: Omit<UprobeOptions, 'retprobe'> = {},
): UprobeLink {
  checkProgramArgument('attachUretprobe', program);
  checkOptionsArgument('attachUretprobe', opts);
  return attachUprobe(program, binary, { ...opts, retprobe: true });
}
