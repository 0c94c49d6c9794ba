// EventReader: what ring buffers and perf buffers share — waiting on descriptors through the
// event loop, and the ways to consume (async iteration, poll with a timeout, handler, sync drain).
import type { Codec } from '../btf/codec.js';
import { EbpfError } from '../errors.js';
import { decodeRecord } from './decode.js';
import type { SyscallError } from '../sys/error.js';
import { Poller, PollEvent } from '../sys/poll.js';

/** How long a wait may last: poll(), ready(), records(). */
export interface WaitOptions {
  /** Milliseconds from the call (negative: no limit). */
  timeoutMs?: number;
  /** A Date.now() time; the earlier of this and timeoutMs ends the wait. */
  deadline?: number;
  /** Aborts the wait: it rejects (or the iteration throws) with the signal's reason. */
  signal?: AbortSignal;
  /** poll(): at most this many records. */
  max?: number;
}

/** A wait's end and signal, as poll() and records() take them. */
export interface Wait {
  deadline: number;
  signal: AbortSignal | undefined;
  max: number | undefined;
}

export function waitOf(w: number | WaitOptions): Wait {
  const o = typeof w === 'number' ? { timeoutMs: w } : w;
  const now = Date.now();
  let deadline = o.timeoutMs === undefined || o.timeoutMs < 0 ? Infinity : now + o.timeoutMs;
  if (o.deadline !== undefined) deadline = Math.min(deadline, o.deadline);
  return { deadline, signal: o.signal, max: o.max };
}

/** Whether a handler mode is still on: cleared when it is stopped or the reader closes. */
export interface HandlerState {
  active: boolean;
}

/** Errors found reading a buffer (as opposed to thrown by user callbacks), for onError. */
const readErrors = new WeakSet<object>();

/** Called for each record when a reader runs in handler mode (see onData). */
export type EventHandler<T> = (record: T) => void;

/**
 * A stream of records from memory shared with the kernel. Records are read one at a time and
 * the kernel's space is released after each, so the kernel buffer itself is the queue: nothing
 * is read ahead into JavaScript. Waiting is readiness of the descriptors on Node's own loop
 * (uv_poll), armed only while someone waits, so an idle reader costs nothing.
 */
export abstract class EventReader<T> implements AsyncIterable<T>, Disposable {
  #pollers: Poller[] | undefined;
  #armed = false;
  #keepAlive = true;
  #waiters: (() => void)[] = [];
  /** The current handler mode's state, and its reading of what is there. */
  #handler: HandlerState | undefined;
  #deliver: (() => void) | undefined;
  #onError: ((error: EbpfError) => void) | undefined;
  #error: EbpfError | undefined;
  #closed = false;
  #wakeups = 0;
  #recheckPending = false;
  /**
   * Whether polling a descriptor consumes its readiness, as perf events' poll does (it reads and
   * clears a flag the kernel sets at each wakeup). Then registering a descriptor with epoll, which
   * polls it once, can swallow the wakeup of data written before: epoll queues the descriptor as
   * ready, polls it again before reporting, finds the flag clear and reports nothing. Readers for
   * which this is true check for data once the registration has surely happened.
   */
  protected readonly pollConsumesReadiness: boolean = false;

  /** One record, consumed; undefined when none is complete. */
  protected abstract readNext(): T | undefined;
  /**
   * Hands every record now there to `take` while `state.active`, for handler mode; a subclass may
   * release the kernel's space once for all of them rather than after each.
   * @internal For the readers in this package.
   */
  protected drain(take: (record: T) => void, state: HandlerState): void {
    while (state.active) {
      const r = this.readNext();
      if (r === undefined) return;
      take(r);
    }
  }

  /** Whether a record (or a discarded one, or a loss report) is waiting, without consuming it. */
  protected abstract hasData(): boolean;
  /** The descriptors whose readability means records may be there. */
  protected abstract pollFds(): number[];
  /** Unmaps and closes what the subclass owns; called once, after the pollers are closed. */
  protected abstract release(): void;
  /** Names the reader in errors. */
  protected abstract errorContext(): { map?: string };

  get closed(): boolean {
    return this.#closed;
  }

  /** How often the event loop reported the descriptors readable (for diagnostics and tests). */
  get wakeups(): number {
    return this.#wakeups;
  }

  protected checkOpen(): void {
    if (this.#closed) throw new EbpfError('event reader is closed', this.errorContext());
  }

  /** Every complete record now in the buffer (at most `max`), consumed; never waits. */
  readAvailable(max = Infinity): T[] {
    this.checkOpen();
    const out: T[] = [];
    while (out.length < max) {
      const r = this.readNext();
      if (r === undefined) break;
      out.push(r);
    }
    return out;
  }

  /**
   * Waits until at least one record is there or the wait ends (`timeoutMs` passed, negative: no
   * limit; or `opts.deadline`, a Date.now() time), then returns what is available (empty when it
   * ended or the reader closed). `opts.signal` aborts the wait: the promise rejects with the
   * signal's reason. Does not block the event loop.
   */
  async poll(timeoutMs: number | WaitOptions = -1, max = Infinity): Promise<T[]> {
    const w = waitOf(timeoutMs);
    for (;;) {
      w.signal?.throwIfAborted();
      if (this.#closed) return [];
      this.throwPending();
      const got = this.readAvailable(w.max ?? max);
      if (got.length > 0) return got;
      if (!(await this.waitUntil(w))) return [];
    }
  }

  /**
   * Waits until records are there (true) or the wait ends or the reader closed (false), without
   * reading any: for consume(), which hands out the records' bytes without copying
   * (`while (await ring.ready()) ring.consume(fn)`). Takes a timeout or the options of poll().
   * Does not block the event loop.
   */
  async ready(timeoutMs: number | WaitOptions = -1): Promise<boolean> {
    const w = waitOf(timeoutMs);
    for (;;) {
      w.signal?.throwIfAborted();
      if (this.#closed) return false;
      this.throwPending();
      if (this.hasData()) return true;
      if (!(await this.waitUntil(w))) return false;
    }
  }

  /**
   * Records as an async iterable that ends at `opts.deadline` or after `opts.timeoutMs` (counted
   * from this call) or when the reader closes, and throws the reason of `opts.signal` once it is
   * aborted (as Node's own iterables do): `for await (const r of ring.records({ signal }))`.
   * Leaving the loop does not close the reader.
   */
  records(opts: WaitOptions = {}): AsyncIterable<T> {
    const w = waitOf(opts);
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<T>> => {
          for (;;) {
            w.signal?.throwIfAborted();
            if (this.#closed) return { done: true, value: undefined };
            this.throwPending();
            const r = this.readNext();
            if (r !== undefined) return { done: false, value: r };
            if (!(await this.waitUntil(w))) return { done: true, value: undefined };
          }
        },
        return: (): Promise<IteratorResult<T>> => Promise.resolve({ done: true, value: undefined }),
      }),
    };
  }

  /**
   * Waits for readiness until the wait's deadline (false once it passed) or its signal aborts
   * (throws its reason).
   */
  private async waitUntil(w: Wait): Promise<boolean> {
    const left = w.deadline - Date.now();
    if (left <= 0) return false;
    await this.waitReadable(left === Infinity ? undefined : left, w.signal);
    w.signal?.throwIfAborted();
    return true;
  }

  /**
   * Handler mode: from now on every record is passed to `handler` as soon as the event loop
   * reports it (records already there included). An exception from the handler propagates as
   * an uncaught exception, as from an event emitter. Returns a function that stops it.
   * Use one way of consuming at a time: records go to whichever reads first.
   */
  onData(handler: EventHandler<T>, onError?: (error: EbpfError) => void): () => void {
    return this.startHandler(onError, (state) => () => this.drain(handler, state));
  }

  /**
   * Sets the handler mode's reading: `make(state)` returns the function that reads every record
   * now there, called each time the event loop reports data (and once on the next turn, for
   * what is there already). It must stop as soon as `state.active` turns false (the handler was
   * stopped or the reader closed). Errors it throws propagate (as uncaught exceptions), except
   * those made by readError(), which go to `onError` when one is given.
   * @internal For the readers in this package.
   */
  protected startHandler(
    onError: ((error: EbpfError) => void) | undefined,
    make: (state: HandlerState) => () => void,
  ): () => void {
    this.checkOpen();
    if (this.#handler !== undefined)
      throw new EbpfError('a data handler is already set', this.errorContext());
    const state: HandlerState = { active: true };
    const read = make(state);
    this.#handler = state;
    this.#onError = onError;
    this.#deliver = () => {
      try {
        read();
      } catch (e) {
        if (onError === undefined || !readErrors.has(e as object)) throw e;
        onError(e as EbpfError);
      }
    };
    this.arm();
    // What arrived before arming is delivered on the next turn, as later records will be.
    setImmediate(() => this.deliver());
    return () => {
      if (this.#handler !== state) return;
      this.stopHandler();
      this.updateArming();
    };
  }

  private stopHandler(): void {
    if (this.#handler !== undefined) this.#handler.active = false;
    this.#handler = undefined;
    this.#onError = undefined;
    this.#deliver = undefined;
  }

  /** A record decoded by `codec`; its errors count as read errors (see readError). */
  protected decodeChecked<U>(codec: Codec<U>, view: DataView, at: number, length: number): U {
    try {
      return decodeRecord(codec, view, at, length, this.errorContext());
    } catch (e) {
      if (e instanceof EbpfError) this.readError(e);
      throw e;
    }
  }

  /** `error`, marked as one found reading the buffer (a malformed record), not from user code. */
  protected readError<E extends EbpfError>(error: E): E {
    readErrors.add(error);
    return error;
  }

  /**
   * `for await (const rec of reader)`: yields records as they come; ends when the reader is
   * closed. Leaving the loop does not close the reader.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.records()[Symbol.asyncIterator]();
  }

  /** Whether waiting keeps the process alive (default true), like a socket's ref/unref. */
  ref(keepAlive = true): void {
    this.#keepAlive = keepAlive;
    for (const p of this.#pollers ?? []) if (!p.closed) p.ref(keepAlive);
  }

  unref(): void {
    this.ref(false);
  }

  /** Stops waiting (pending iterations end, polls return empty), unmaps and closes. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.stopHandler();
    for (const p of this.#pollers ?? []) p.close();
    this.#pollers = undefined;
    this.#armed = false;
    this.wakeAll();
    this.release();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private throwPending(): void {
    const e = this.#error;
    if (e !== undefined) {
      this.#error = undefined;
      throw e;
    }
  }

  private waitReadable(timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', leave);
        resolve();
      };
      // Timed out or aborted: no longer a waiter (the caller sees which).
      const leave = (): void => {
        const i = this.#waiters.indexOf(finish);
        if (i >= 0) this.#waiters.splice(i, 1);
        this.updateArming();
        finish();
      };
      this.#waiters.push(finish);
      if (timeoutMs !== undefined) timer = setTimeout(leave, timeoutMs);
      signal?.addEventListener('abort', leave, { once: true });
      try {
        this.arm();
      } catch (e) {
        this.#waiters.pop();
        this.#error =
          e instanceof EbpfError ? e : new EbpfError(String(e), this.errorContext(), { cause: e });
        finish();
      }
    });
  }

  private arm(): void {
    if (this.#armed) return;
    if (this.#pollers === undefined) {
      const pollers: Poller[] = [];
      try {
        for (const fd of this.pollFds()) {
          const p = new Poller(fd, PollEvent.READABLE, (err) => this.onReadable(err));
          pollers.push(p);
          if (!this.#keepAlive) p.ref(false);
        }
      } catch (e) {
        for (const p of pollers) p.close();
        throw e;
      }
      this.#pollers = pollers;
    } else {
      for (const p of this.#pollers) p.start(PollEvent.READABLE);
    }
    this.#armed = true;
    if (this.pollConsumesReadiness) this.recheckWhenRegistered();
  }

  /**
   * libuv registers a started poller with epoll in its next poll phase, which may come before or
   * after this turn's immediates; an immediate set from an immediate runs after a poll phase.
   * Data there by then either was seen by that registration (and its wakeup maybe swallowed) or
   * comes with a wakeup epoll reports: so a check then, and the pollers after, miss nothing.
   */
  private recheckWhenRegistered(): void {
    if (this.#recheckPending) return;
    this.#recheckPending = true;
    setImmediate(() =>
      setImmediate(() => {
        this.#recheckPending = false;
        if (this.#armed && !this.#closed && this.hasData()) this.readable();
      }),
    );
  }

  /** Readiness is only watched while someone consumes, else level-triggered polls would spin. */
  private updateArming(): void {
    if (!this.#armed || this.#closed) return;
    if (this.#handler !== undefined || this.#waiters.length > 0) return;
    for (const p of this.#pollers ?? []) p.stop();
    this.#armed = false;
  }

  private onReadable(err: SyscallError | undefined): void {
    if (this.#closed) return;
    this.#wakeups++;
    if (err !== undefined) {
      if (this.#onError) this.#onError(err);
      else this.#error = err;
    }
    this.readable();
  }

  private readable(): void {
    this.wakeAll();
    this.deliver();
    this.updateArming();
  }

  private wakeAll(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  private deliver(): void {
    if (this.#closed) return;
    this.#deliver?.();
  }
}
