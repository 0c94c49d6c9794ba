// RingBuffers: several ring buffer maps read together, as libbpf's ring_buffer__add() builds one
// manager: one epoll descriptor holds every ring's map descriptor, one poller on Node's loop
// watches it, and each ring has its own callback.
import type { Codec } from '../btf/codec.js';
import { EbpfError } from '../errors.js';
import { SyscallError } from '../sys/error.js';
import { Fd } from '../sys/fd.js';
import { native } from '../sys/native.js';
import { Poller, PollEvent } from '../sys/poll.js';
import { decodeRecord } from './decode.js';
import type { EventMapLike } from './event-map.js';
import { waitOf, type Wait, type WaitOptions } from './reader.js';
import { RingBuffer, type RecordView } from './ring-buffer.js';

const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;

interface Member {
  ring: RingBuffer;
  fn: RecordView;
}

/**
 * Ring buffers read as one: add() each map with its callback, then poll() (waits, then reads
 * every ring: ring_buffer__poll), consume() (reads without waiting), or start() (a handler mode
 * on the event loop). Callbacks get the ring's own bytes as RingBuffer.consume() hands them out,
 * or a decoded value when add() is given a codec (`obj.codec('event')`, typed by `ebpf gen
 * types`). Rings are read in the order they were added. close() closes every ring's reader.
 */
export class RingBuffers implements Disposable {
  readonly #epoll: Fd;
  readonly #members: Member[] = [];
  #poller: Poller | undefined;
  #keepAlive = true;
  #handler: { active: boolean } | undefined;
  /** start()'s reading of every ring, called when the epoll descriptor is readable. */
  #onReadable: (() => void) | undefined;
  #waiters: (() => void)[] = [];
  #closed = false;

  constructor() {
    const r = native().epollCreate();
    if (r < 0) throw new SyscallError('epoll_create1', -r);
    this.#epoll = new Fd(r);
  }

  /** The epoll descriptor every ring is registered with (libbpf's ring_buffer__epoll_fd). */
  get epollFd(): number {
    return this.#epoll.fd;
  }

  /** The readers, in the order added. */
  get rings(): readonly RingBuffer[] {
    return this.#members.map((m) => m.ring);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds the ring buffer `map` (not taken over: the reader holds its own descriptor) with the
   * callback for its records: `fn(view, offset, length)` over the ring's bytes, or `fn(value)`
   * with each record decoded by `codec`. Returns this set.
   */
  add(map: EventMapLike, fn: RecordView): this;
  add<T>(map: EventMapLike, codec: Codec<T>, fn: (record: T) => void): this;
  add<T>(map: EventMapLike, a: RecordView | Codec<T>, b?: (record: T) => void): this {
    this.checkOpen();
    let fn: RecordView;
    const ring = RingBuffer.open(map);
    if (typeof a === 'function') {
      fn = a;
    } else {
      if (b === undefined) {
        ring.close();
        throw new EbpfError('add(map, codec, fn): the callback is missing', { map: ring.name });
      }
      const where = { map: ring.name };
      fn = (view, offset, length) => b(decodeRecord(a, view, offset, length, where));
    }
    const r = native().epollCtl(this.#epoll.fd, EPOLL_CTL_ADD, ring.pollFd, EPOLLIN);
    if (r < 0) {
      ring.close();
      throw new SyscallError('epoll_ctl', -r);
    }
    this.#members.push({ ring, fn });
    return this;
  }

  /** Reads every record now in every ring to its callback; never waits. Returns how many. */
  consume(): number {
    this.checkOpen();
    let n = 0;
    for (const m of this.#members) n += m.ring.consume(m.fn);
    return n;
  }

  /**
   * Waits until a ring has records, or the wait ends (a timeout in ms, negative: none; or
   * WaitOptions with a deadline and an AbortSignal, whose reason it rejects with), then reads
   * every ring. Returns how many records the callbacks saw (0 when the wait ended or the set
   * closed).
   */
  async poll(timeoutMs: number | WaitOptions = -1): Promise<number> {
    const w = waitOf(timeoutMs);
    for (;;) {
      w.signal?.throwIfAborted();
      if (this.#closed) return 0;
      const n = this.consume();
      if (n > 0) return n;
      if (!(await this.waitUntil(w))) return 0;
    }
  }

  /**
   * Handler mode: from now on every ring is read to its callbacks as soon as the event loop
   * reports records (those already there on the next turn). An exception from a callback
   * propagates as an uncaught exception; a malformed record goes to `onError` when given.
   * Returns a function that stops it.
   */
  start(onError?: (error: EbpfError) => void): () => void {
    this.checkOpen();
    if (this.#handler !== undefined) throw new EbpfError('already started');
    const state = { active: true };
    this.#handler = state;
    const read = (): void => {
      if (!state.active || this.#closed) return;
      try {
        this.consume();
      } catch (e) {
        if (onError === undefined || !(e instanceof EbpfError)) throw e;
        onError(e);
      }
    };
    this.#onReadable = read;
    this.arm();
    setImmediate(read);
    return () => {
      if (this.#handler !== state) return;
      state.active = false;
      this.#handler = undefined;
      this.#onReadable = undefined;
      this.updateArming();
    };
  }

  /** Whether waiting keeps the process alive (default true). */
  ref(keepAlive = true): void {
    this.#keepAlive = keepAlive;
    if (this.#poller !== undefined && !this.#poller.closed) this.#poller.ref(keepAlive);
  }

  unref(): void {
    this.ref(false);
  }

  /** Stops waiting (pending polls return 0), closes every ring's reader and the epoll descriptor. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#handler !== undefined) this.#handler.active = false;
    this.#handler = undefined;
    this.#onReadable = undefined;
    this.#poller?.close();
    this.#poller = undefined;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
    for (const m of this.#members) m.ring.close();
    this.#epoll.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private checkOpen(): void {
    if (this.#closed) throw new EbpfError('ring buffer set is closed');
  }

  private async waitUntil(w: Wait): Promise<boolean> {
    const left = w.deadline - Date.now();
    if (left <= 0) return false;
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        w.signal?.removeEventListener('abort', leave);
        resolve();
      };
      const leave = (): void => {
        const i = this.#waiters.indexOf(finish);
        if (i >= 0) this.#waiters.splice(i, 1);
        this.updateArming();
        finish();
      };
      this.#waiters.push(finish);
      if (left !== Infinity) timer = setTimeout(leave, left);
      w.signal?.addEventListener('abort', leave, { once: true });
      this.arm();
    });
    w.signal?.throwIfAborted();
    return true;
  }

  /** The poller runs only while someone waits: epoll descriptors are level-triggered here. */
  private arm(): void {
    if (this.#poller === undefined) {
      this.#poller = new Poller(this.#epoll.fd, PollEvent.READABLE, () => this.readable());
      if (!this.#keepAlive) this.#poller.ref(false);
    } else {
      this.#poller.start(PollEvent.READABLE);
    }
  }

  private updateArming(): void {
    if (this.#closed || this.#poller === undefined) return;
    if (this.#handler !== undefined || this.#waiters.length > 0) return;
    this.#poller.stop();
  }

  private readable(): void {
    if (this.#closed) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
    this.#onReadable?.();
    this.updateArming();
  }
}
