// Fd: the owner of one kernel descriptor. Closing is explicit (close() or `using`) and idempotent;
// what is still open when the thread's environment is torn down (a worker terminated) the addon closes.
import { EbpfError } from '../errors.js';
import { SyscallError } from './error.js';
import { native } from './native.js';

export class Fd {
  #fd: number;

  /** Takes ownership of `fd`: closing this object closes the descriptor. */
  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) throw new EbpfError(`invalid file descriptor ${fd}`);
    this.#fd = fd;
    // Closed by the addon when this thread's environment goes (a terminated worker), if not before.
    native().own(fd, true);
  }

  /** The descriptor number; throws once closed, so a stale number is never used. */
  get fd(): number {
    if (this.#fd < 0) throw new EbpfError('use of a closed file descriptor');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the descriptor; later calls do nothing. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    // close(2) releases the descriptor even when it reports an error, so there is no retry.
    native().close(fd);
  }

  /**
   * A new descriptor for the same open file (close-on-exec), owned by the caller: it keeps the
   * kernel object alive and its number reserved however this one is closed.
   */
  dup(): Fd {
    return Fd.dup(this.fd);
  }

  /** A close-on-exec duplicate of descriptor number `fd`, owned by the caller. */
  static dup(fd: number): Fd {
    const r = native().dup(fd);
    if (r < 0) throw new SyscallError('dup', -r);
    return new Fd(r);
  }

  /** Gives up ownership without closing: the caller now owns the number. */
  release(): number {
    const fd = this.fd;
    this.#fd = -1;
    native().own(fd, false);
    return fd;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  toString(): string {
    return this.#fd < 0 ? 'fd(closed)' : `fd(${this.#fd})`;
  }
}
