// Program: the handle on one loaded BPF program. Owns its descriptor; the kernel frees the program
// once every descriptor, pin and link that refers to it is gone.
import { unlinkSync } from 'node:fs';
import { progTypeName, type ProgType } from '../constants.js';
import { EbpfError } from '../errors.js';
import { objGet, objPin, progGetFdById, progGetInfo } from '../sys/bpf.js';
import type { Fd } from '../sys/fd.js';

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
   * (BPF_OBJ_GET_INFO_BY_FD); a descriptor that is not a program then fails with SyscallError.
   */
  static fromFd(fd: Fd, opts: ProgramOptions = {}): Program {
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
    return Program.fromFd(progGetFdById(id));
  }

  /** Opens the program pinned at `path` in a bpffs (BPF_OBJ_GET). */
  static fromPin(path: string): Program {
    const fd = objGet(path);
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

  /** Pins the program at `path` in a bpffs (BPF_OBJ_PIN); the program outlives this process. */
  pin(path: string): void {
    objPin(this.fd.fd, path);
    this.#pinnedAt = path;
  }

  /** Removes the pin made by pin() or opened by fromPin(); nothing to do when there is none. */
  unpin(): void {
    const path = this.#pinnedAt;
    if (path === undefined) return;
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new EbpfError(
          `cannot remove pin ${path}: ${(err as Error).message}`,
          { program: this.name },
          { cause: err },
        );
      }
    }
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
