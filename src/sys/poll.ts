// Readiness of a descriptor (ring buffer, perf buffer, iterator) through uv_poll on Node's own
// event loop: no thread, no busy polling.
import { EbpfError } from '../errors.js';
import { SyscallError } from './error.js';
import { native, type PollHandle } from './native.js';

/** Event bits, as libuv numbers them. */
export const PollEvent = { READABLE: 1, WRITABLE: 2, DISCONNECT: 4, PRIORITIZED: 8 } as const;

/**
 * Calls back each time the descriptor is ready for `events`. The descriptor stays owned by the
 * caller and must outlive the poller: close the poller first.
 */
export class Poller {
  #handle: PollHandle | undefined;

  /** `callback(error, events)`: error is set when libuv reports a failure for the descriptor. */
  constructor(
    fd: number,
    events: number,
    callback: (error: SyscallError | undefined, events: number) => void,
  ) {
    const r = native().pollStart(fd, events, (status, ev) => {
      callback(status < 0 ? new SyscallError('uv_poll', -status) : undefined, ev);
    });
    if (typeof r === 'number') throw new SyscallError('uv_poll_start', -r);
    this.#handle = r;
  }

  get closed(): boolean {
    return this.#handle === undefined;
  }

  private handle(): PollHandle {
    if (this.#handle === undefined) throw new EbpfError('poller is closed');
    return this.#handle;
  }

  /** Starts again, or changes the events of a running poller. */
  start(events: number): void {
    const r = native().pollUpdate(this.handle(), events);
    if (r < 0) throw new SyscallError('uv_poll_start', -r);
  }

  /** Stops calling back until start(). */
  stop(): void {
    native().pollStop(this.handle());
  }

  /** Whether this poller alone keeps the process running (default true). */
  ref(keepAlive = true): void {
    native().pollRef(this.handle(), keepAlive);
  }

  /** Stops for good; idempotent. No callback runs after close() returns. */
  close(): void {
    const h = this.#handle;
    if (h === undefined) return;
    this.#handle = undefined;
    native().pollClose(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
