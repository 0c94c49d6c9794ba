// Program: the handle on one loaded BPF program. Owns its descriptor; the kernel frees the program
// once every descriptor, pin and link that refers to it is gone.
import {
  BPF_F_TEST_RUN_ON_CPU,
  BPF_F_TEST_SKB_CHECKSUM_COMPLETE,
  BPF_F_TEST_XDP_LIVE_FRAMES,
  progTypeName,
  ProgType,
  StatsType,
} from '../constants.js';
import { EbpfError } from '../errors.js';
import {
  checkArgument,
  checkFlags,
  checkInteger,
  checkOptionsArgument,
  isObjectId,
  isPath,
} from '../internal/options.js';
import { removePin } from '../internal/pin.js';
import { JUST_LOADED } from './from-load.js';
import {
  enableStats as sysEnableStats,
  objGet,
  pinObject,
  progGetFdById,
  progGetInfo,
  progGetNextId,
  progTestRun,
} from '../sys/bpf.js';
import { E } from '../sys/errno.js';
import { isErrno, SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { requireObjectKind } from '../sys/object-kind.js';
import { programInfo, type InfoOptions, type ProgramInfo } from './info.js';

export interface TestRunOptions {
  /** Packet (or other data) the program sees; XDP and skb programs need at least 14 bytes. */
  dataIn?: Uint8Array;
  /** Room for the packet after the run; default dataIn's length plus 256 for growth. */
  dataSizeOut?: number;
  /** Context (struct xdp_md, __sk_buff, ...) given to the program, for types that accept one. */
  ctxIn?: Uint8Array;
  /** Room for the context after the run; default ctxIn's length. */
  ctxSizeOut?: number;
  /** Runs in a row; duration is the average. 0 and 1 both run once. */
  repeat?: number;
  /** BPF_F_TEST_RUN_ON_CPU, BPF_F_TEST_XDP_LIVE_FRAMES, BPF_F_TEST_SKB_CHECKSUM_COMPLETE. */
  flags?: number;
  /** With BPF_F_TEST_RUN_ON_CPU: which CPU. */
  cpu?: number;
  /** With BPF_F_TEST_XDP_LIVE_FRAMES: frames per batch. */
  batchSize?: number;
}

export interface TestRunResult {
  /** The program's return value (XDP_PASS, TC_ACT_OK, ...). */
  retval: number;
  /** Average nanoseconds per run, as the kernel measured it. */
  duration: number;
  /** The packet after the run (present when data was given). */
  dataOut?: Uint8Array;
  /** The context after the run (present when a context was given or asked for). */
  ctxOut?: Uint8Array;
}

/** The same failure, naming the program it was about. */
function withProgram(err: SyscallError, program: string): SyscallError {
  const opts = { location: { ...err.location, program }, ...(err.hint !== undefined && { hint: err.hint }) };
  return new SyscallError(err.command, err.errno, opts);
}

/** The ids of all loaded programs, in ascending order (BPF_PROG_GET_NEXT_ID). */
export function* programIds(): Generator<number> {
  for (let id = progGetNextId(0); id !== undefined; id = progGetNextId(id)) yield id;
}

/**
 * Turns on run-time statistics (run_cnt, run_time_ns in info()) for every program, while the
 * returned descriptor stays open (BPF_ENABLE_STATS). Requires Linux 5.8 and CAP_SYS_ADMIN.
 */
export function enableStats(): Fd {
  return sysEnableStats(StatsType.RUN_TIME);
}

export interface ProgramOptions {
  /** The program's name; read from the kernel (at most 15 characters) when not given. */
  name?: string;
  /** The program type; read from the kernel when not given. */
  type?: ProgType;
}

export class Program {
  readonly #fd: Fd;
  readonly name: string;
  readonly type: ProgType;
  #pinnedAt: string | undefined;

  private constructor(fd: Fd, name: string, type: ProgType) {
    this.#fd = fd;
    this.name = name;
    this.type = type;
  }

  /**
   * Takes ownership of a program descriptor. Name and type not given are asked of the kernel
   * (BPF_OBJ_GET_INFO_BY_FD). A descriptor that is not a program is closed and fails with
   * EbpfError.
   */
  static fromFd(fd: Fd, opts: ProgramOptions = {}): Program {
    checkOptionsArgument('Program.fromFd', opts);
    const { name: known, type: knownType } = opts;
    if (
      (opts as { [JUST_LOADED]?: boolean })[JUST_LOADED] === true &&
      known !== undefined &&
      knownType !== undefined
    )
      return new Program(fd, known, knownType);
    requireObjectKind(fd, 'prog');
    let { name, type } = opts;
    if (name === undefined || type === undefined) {
      try {
        const info = progGetInfo(fd.fd);
        name ??= info.name;
        type ??= info.info.type as ProgType;
      } catch (err) {
        fd.close();
        throw err;
      }
    }
    return new Program(fd, name, type);
  }

  /** Opens a program by its kernel id (BPF_PROG_GET_FD_BY_ID; needs CAP_SYS_ADMIN). */
  static fromId(id: number): Program {
    checkArgument('Program.fromId', 'id', id, 'a program id (an integer from 1 to 2^32-1)', isObjectId(id));
    return Program.fromFd(progGetFdById(id));
  }

  /** Opens the program pinned at `path` in a bpffs (BPF_OBJ_GET); another kind of pin is an EbpfError. */
  static fromPin(path: string): Program {
    checkArgument('Program.fromPin', 'path', path, 'a path in a bpffs', isPath(path));
    const fd = objGet(path);
    requireObjectKind(fd, 'prog', path);
    const p = Program.fromFd(fd);
    p.#pinnedAt = path;
    return p;
  }

  /** The descriptor; throws once the program is closed. */
  get fd(): Fd {
    if (this.#fd.closed) throw new EbpfError('program is closed', { program: this.name });
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd.closed;
  }

  /** Where this handle pinned the program (or was opened from), if anywhere. */
  get pinnedAt(): string | undefined {
    return this.#pinnedAt;
  }

  /** BPF_OBJ_GET_INFO_BY_FD: id, tag, map ids, sizes, run statistics; instructions when asked. */
  info(opts: InfoOptions = {}): ProgramInfo {
    return programInfo(this.fd.fd, opts);
  }

  /**
   * Runs the program once or `repeat` times on given input, in the kernel (BPF_PROG_TEST_RUN).
   * Requires Linux 4.12 (XDP, skb programs); other types later, and some not at all (EINVAL or
   * ENOTSUPP come back as SyscallError). The kernel stops a run between repetitions when the
   * calling thread has a signal pending; so more than one repetition runs on a thread of the
   * addon's that blocks every signal (the process's other threads take them meanwhile, and
   * default actions such as SIGINT ending the process still apply), and runs to its end.
   */
  testRun(opts: TestRunOptions = {}): TestRunResult {
    const at = { program: this.name };
    for (const k of ['dataSizeOut', 'ctxSizeOut', 'repeat', 'cpu', 'batchSize'] as const)
      checkInteger(k, opts[k], 0, 0xffffffff, at);
    const known = BPF_F_TEST_RUN_ON_CPU | BPF_F_TEST_XDP_LIVE_FRAMES | BPF_F_TEST_SKB_CHECKSUM_COMPLETE;
    checkFlags('flags', opts.flags, known, at);
    if (this.type === ProgType.SYSCALL) return this.#runSyscall(opts);
    const fd = this.fd.fd;
    let dataSize = opts.dataIn !== undefined ? (opts.dataSizeOut ?? opts.dataIn.byteLength + 256) : 0;
    const ctxSize = opts.ctxSizeOut ?? opts.ctxIn?.byteLength ?? 0;
    for (;;) {
      const dataOut = dataSize > 0 ? new Uint8Array(dataSize) : undefined;
      const ctxOut = ctxSize > 0 ? new Uint8Array(ctxSize) : undefined;
      try {
        const r = progTestRun(fd, {
          ...(opts.dataIn !== undefined && { dataIn: opts.dataIn }),
          ...(dataOut !== undefined && { dataOut }),
          ...(opts.ctxIn !== undefined && { ctxIn: opts.ctxIn }),
          ...(ctxOut !== undefined && { ctxOut }),
          repeat: opts.repeat ?? 0,
          flags: opts.flags ?? 0,
          cpu: opts.cpu ?? 0,
          batchSize: opts.batchSize ?? 0,
        });
        const res: TestRunResult = { retval: r.retval, duration: r.duration };
        if (dataOut !== undefined) res.dataOut = dataOut.slice(0, r.dataSizeOut);
        if (ctxOut !== undefined) res.ctxOut = ctxOut.slice(0, r.ctxSizeOut);
        return res;
      } catch (err) {
        // The packet grew past the buffer: the kernel copied what fitted and said ENOSPC. Retry
        // with room for the largest frame a test run can produce, unless the caller fixed the size.
        if (isErrno(err, E.ENOSPC) && opts.dataSizeOut === undefined && dataSize < 65536) {
          dataSize = 65536 + (opts.dataIn?.byteLength ?? 0);
          continue;
        }
        if (err instanceof SyscallError) throw withProgram(err, this.name);
        throw err;
      }
    }
  }

  /**
   * A `syscall` program (Linux 5.14) runs once on its context alone: the kernel writes the context
   * back into the buffer it came in, which is returned as ctxOut (a copy: `ctxIn` is left as given).
   */
  #runSyscall(opts: TestRunOptions): TestRunResult {
    const refused = (['dataIn', 'dataSizeOut', 'ctxSizeOut', 'flags', 'cpu', 'batchSize'] as const).find(
      (k) => opts[k] !== undefined && opts[k] !== 0,
    );
    if (refused !== undefined || (opts.repeat ?? 0) > 1) {
      throw new EbpfError(
        `a syscall program runs once on its context only: no ${refused ?? 'repeat'} (the kernel says EINVAL)`,
        { program: this.name },
      );
    }
    const ctx = opts.ctxIn !== undefined ? opts.ctxIn.slice() : undefined;
    try {
      const r = progTestRun(this.fd.fd, { ...(ctx !== undefined && { ctxIn: ctx }) });
      return { retval: r.retval, duration: r.duration, ...(ctx !== undefined && { ctxOut: ctx }) };
    } catch (err) {
      if (err instanceof SyscallError) throw withProgram(err, this.name);
      throw err;
    }
  }

  /** Pins the program at `path` in a bpffs (BPF_OBJ_PIN); the program outlives this process. */
  pin(path: string): void {
    pinObject(this.fd.fd, path);
    this.#pinnedAt = path;
  }

  /** Removes the pin made by pin() or opened by fromPin(); nothing to do when there is none. */
  unpin(): void {
    const path = this.#pinnedAt;
    if (path === undefined) return;
    removePin(path, { program: this.name });
    this.#pinnedAt = undefined;
  }

  /** Closes this descriptor; pins and links keep the program alive. Later calls do nothing. */
  close(): void {
    this.#fd.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return `Program(${this.name}, ${progTypeName(this.type)}, ${this.#fd.toString()})`;
  }
}
