// Loads the native addon (native/ebpf.c) and gives it a type; nothing outside src/sys imports it.
// Every syscall wrapper returns a negative errno instead of throwing, so hot paths stay cheap.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotSupportedError } from '../errors.js';

/** Memory the addon can read or write: any typed array, a DataView or an ArrayBuffer. */
export type Bytes = ArrayBufferView | ArrayBuffer;

/** An opaque uv_poll handle. */
export interface PollHandle {
  readonly __pollHandle: unique symbol;
}

export interface NativeAddon {
  /**
   * bpf(2). Optional (offset, buffer) pairs store each buffer's address as a u64 into `attr`
   * before the call (null stores 0). Returns the result, or -errno.
   */
  bpf(cmd: number, attr: Bytes, ...pointers: (number | Bytes | null)[]): number;
  /**
   * bpf(2) as bpf() on a libuv pool thread: resolves to the result, or -errno. The attr and the
   * buffers must not be touched until it settles.
   */
  bpfAsync(cmd: number, attr: Bytes, ...pointers: (number | Bytes | null)[]): Promise<number>;
  /**
   * bpf(2) for the map element commands (lookup, update, delete, next key, lookup-and-delete,
   * freeze) with the attr built natively: map_fd, key, value (or next_key) and flags. Returns the
   * result, or -errno.
   */
  bpfElem(
    cmd: number,
    mapFd: number,
    key: Bytes | null,
    value: Bytes | null,
    flags?: bigint | number,
  ): number;
  /**
   * bpf(2) for the element commands with the attr (map_fd, key, value, flags: 32 bytes) prepared
   * by the caller at the start of `block`, an 8-byte aligned ArrayBuffer. Result or -errno.
   */
  bpfElemAt(cmd: number, block: ArrayBuffer): number;
  addressOf(buffer: Bytes): bigint;
  /** Closes `fd` (and forgets it as this environment's, see own). 0 or -errno. */
  close(fd: number): number;
  /**
   * Marks `fd` as owned by this environment (main thread or worker), or no longer: descriptors
   * still owned when the environment is torn down (a worker terminated or ended) are closed then.
   */
  own(fd: number, owned: boolean): number;
  /** A close-on-exec duplicate of `fd`, or -errno. */
  dup(fd: number): number;
  /** An epoll descriptor (close-on-exec), or -errno. */
  epollCreate(): number;
  /** epoll_ctl with `fd` as the event's data: 0 or -errno. */
  epollCtl(epfd: number, op: number, fd: number, events: number): number;
  ioctl(fd: number, request: number | bigint, arg?: number | bigint | Bytes): number;
  perfEventOpen(attr: Bytes, pid: number, cpu: number, groupFd: number, flags: number): number;
  /** An external ArrayBuffer over the mapping, or -errno. */
  mmap(
    fd: number,
    length: number,
    prot: number,
    flags: number,
    offset: number | bigint,
    addr?: bigint,
  ): ArrayBuffer | number;
  /** Detaches the ArrayBuffer, then unmaps it. 0 or -errno. */
  munmap(buffer: ArrayBuffer): number;
  /**
   * An ArrayBuffer of SLAB_BYTES, its contents unspecified, reused from this environment's pool
   * of collected slabs when it has one (their pages stay mapped); -ENOMEM.
   */
  slab(): ArrayBuffer | number;
  readonly SLAB_BYTES: number;
  getrlimit(resource: number): [bigint, bigint] | number;
  setrlimit(resource: number, soft: bigint, hard: bigint): number;
  pollStart(
    fd: number,
    events: number,
    callback: (status: number, events: number) => void,
  ): PollHandle | number;
  pollUpdate(handle: PollHandle, events: number): number;
  pollStop(handle: PollHandle): number;
  pollClose(handle: PollHandle): number;
  pollRef(handle: PollHandle, keepAlive: boolean): number;
  readonly PAGE_SIZE: number;
  readonly RLIMIT_MEMLOCK: number;
  readonly PROT_READ: number;
  readonly PROT_WRITE: number;
  readonly MAP_SHARED: number;
  readonly MAP_PRIVATE: number;
  readonly MAP_FIXED_NOREPLACE: number;
  readonly UV_READABLE: number;
  readonly UV_WRITABLE: number;
  readonly UV_DISCONNECT: number;
  readonly UV_PRIORITIZED: number;
}

/** The package's root: two levels above this file, from src/sys (tsx) and from dist/sys alike. */
const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * node-gyp-build's convention: a compiled build/Release/*.node (there only when `npm install`
 * found no prebuild for this platform and compiled, or in a checkout), else the matching
 * prebuilds/<platform>-<arch>/*.node shipped in the package.
 */
function load(): NativeAddon {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
  let path: string;
  try {
    path = nodeGypBuild.path(PACKAGE_ROOT);
  } catch (error) {
    const inCheckout =
      existsSync(join(PACKAGE_ROOT, 'native', 'ebpf.c')) && existsSync(join(PACKAGE_ROOT, '.git'));
    const fix = inCheckout
      ? '`npm run build:native` in the checkout'
      : '`npm rebuild ebpf` in your app (it compiles the addon: needs a C compiler, make and python3)';
    throw new NotSupportedError(
      `native addon missing: no prebuilt addon for ${process.platform}-${process.arch} in ${PACKAGE_ROOT}/prebuilds ` +
        `and none compiled in build/Release; run ${fix} (${(error as Error).message.split('\n')[0]})`,
    );
  }
  return require(path) as NativeAddon;
}

let addon: NativeAddon | undefined;
let faulty: NativeAddon | undefined;

/** The addon, loaded on first use so that pure code importing sys types never needs it. */
export function native(): NativeAddon {
  addon ??= load();
  return faulty ?? addon;
}

/** The addon's calls that reach the kernel and can fail, as {@link SyscallFault} names them. */
export type FaultableCall = 'bpf' | 'bpfAsync' | 'bpfElem' | 'ioctl' | 'perfEventOpen' | 'mmap';

/**
 * Decides, before each faultable call, whether it fails: a positive errno makes the call return
 * -errno without entering the kernel (so nothing is created that the caller cannot know of);
 * undefined lets it through. `cmd` is the bpf command (bpf, bpfAsync, bpfElem) or the ioctl request.
 */
export type SyscallFault = (call: FaultableCall, cmd: number) => number | undefined;

/**
 * For tests and the fuzzer only: route the addon's kernel-facing calls through `fault` (undefined
 * restores the plain addon). Lets a test make the Nth bpf() of a load fail with a chosen errno and
 * check that what the load made before is all taken back.
 */
export function setSyscallFault(fault: SyscallFault | undefined): void {
  if (fault === undefined) {
    faulty = undefined;
    return;
  }
  const a = (addon ??= load());
  const gate =
    <A extends unknown[], R>(call: FaultableCall, f: (...args: A) => R, fail: (errno: number) => R) =>
    (...args: A): R => {
      const errno = fault(call, typeof args[0] === 'number' ? args[0] : 0);
      return errno === undefined ? f(...args) : fail(errno);
    };
  // The addon's exports are not enumerable (napi_default): inherit them, override the calls.
  faulty = Object.assign(Object.create(a) as NativeAddon, {
    bpf: gate('bpf', a.bpf.bind(a), (e) => -e),
    bpfAsync: gate('bpfAsync', a.bpfAsync.bind(a), (e) => Promise.resolve(-e)),
    bpfElem: gate('bpfElem', a.bpfElem.bind(a), (e) => -e),
    // The same element commands through a prepared attr: faults name them as bpfElem's.
    bpfElemAt: gate('bpfElem', a.bpfElemAt.bind(a), (e) => -e),
    ioctl: (fd, request, arg) => {
      const errno = fault('ioctl', Number(request));
      return errno === undefined ? a.ioctl(fd, request, arg) : -errno;
    },
    perfEventOpen: gate('perfEventOpen', a.perfEventOpen.bind(a), (e) => -e),
    mmap: gate('mmap', a.mmap.bind(a), (e) => -e),
  } satisfies Partial<NativeAddon>);
}
