// One typed function per bpf(2) command. Attr buffers are preallocated per layout and reused;
// buffers the kernel reads or writes (keys, values, logs) are passed to the addon beside the attr,
// which stores their addresses into the attr's pointer fields for the duration of the call.
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { BPF_F_TOKEN_FD } from '../constants.js';
import { EbpfError, type Location } from '../errors.js';
import { readCString } from '../internal/cstring.js';
import { checkArgument, isPath } from '../internal/options.js';
import {
  BpfCmd,
  bpfCmdName,
  BTF_INFO,
  BTF_LOAD_ATTR,
  ENABLE_STATS_ATTR,
  GET_ID_ATTR,
  ITER_CREATE_ATTR,
  LINK_CREATE_ATTR,
  LINK_DETACH_ATTR,
  LINK_INFO,
  LINK_UPDATE_ATTR,
  MAP_BATCH_ATTR,
  MAP_CREATE_ATTR,
  MAP_INFO,
  OBJ_ATTR,
  OBJ_GET_INFO_ATTR,
  PROG_ATTACH_ATTR,
  PROG_BIND_MAP_ATTR,
  PROG_INFO,
  PROG_LOAD_ATTR,
  PROG_QUERY_ATTR,
  PROG_TEST_RUN_ATTR,
  RAW_TRACEPOINT_OPEN_ATTR,
  TOKEN_CREATE_ATTR,
  readBtfInfo,
  readLinkInfo,
  readMapInfo,
  readProgInfo,
  writeBtfLoadAttr,
  writeLinkCreateAttr,
  writeMapCreateAttr,
  writeProgAttachAttr,
  writeProgLoadAttr,
  writeProgQueryAttr,
  writeProgTestRunAttr,
  writeTokenCreateAttr,
  type BtfInfo,
  type LinkCreateAttr,
  type LinkInfo,
  type MapCreateAttr,
  type MapInfo,
  type ProgAttachAttr,
  type ProgInfo,
  type ProgLoadAttr,
} from './bpf-attr.generated.js';
import { E } from './errno.js';
import { SyscallError } from './error.js';
import { Fd } from './fd.js';
import { makePinDirs, MOUNT_HINT, onBpffs, removeDirs } from './bpffs.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import { native, type Bytes } from './native.js';

const LE = HOST_LITTLE_ENDIAN;

interface Layout {
  readonly size: number;
  readonly fields: Readonly<
    Record<string, { readonly offset: number; readonly size: number; readonly type: string }>
  >;
}

interface Attr {
  bytes: Uint8Array;
  view: DataView;
}

const attrs = new Map<Layout, Attr>();

/** The layout's reusable attr buffer, zeroed: the kernel rejects non-zero bytes it does not know. */
function attrFor(layout: Layout): Attr {
  let a = attrs.get(layout);
  if (a === undefined) {
    const bytes = new Uint8Array(layout.size);
    a = { bytes, view: new DataView(bytes.buffer) };
    attrs.set(layout, a);
  } else {
    a.bytes.fill(0);
  }
  return a;
}

/** (offset, buffer) pairs for the addon, from pointer field names of a layout. */
function pointers(layout: Layout, bufs: Readonly<Record<string, Bytes | undefined>>): (number | Bytes)[] {
  const out: (number | Bytes)[] = [];
  for (const [name, buf] of Object.entries(bufs)) {
    if (buf === undefined) continue;
    const f = layout.fields[name];
    if (f === undefined || f.type !== 'u64') throw new EbpfError(`bpf_attr has no pointer field '${name}'`);
    out.push(f.offset, buf);
  }
  return out;
}

function fail(cmd: number, r: number, log?: string, location?: Location): SyscallError {
  return new SyscallError(bpfCmdName(cmd), -r, {
    ...(log !== undefined && { log }),
    ...(location !== undefined && { location }),
  });
}

/** bpf(cmd) over an attr; throws SyscallError, at `location` when given (a pin path). */
function call(cmd: number, a: Attr, ptrs: (number | Bytes)[] = [], location?: Location): number {
  const r = native().bpf(cmd, a.bytes, ...ptrs);
  if (r < 0) throw fail(cmd, r, undefined, location);
  return r;
}

function callFd(cmd: number, a: Attr, ptrs: (number | Bytes)[] = [], location?: Location): Fd {
  return new Fd(call(cmd, a, ptrs, location));
}

const encoder = new TextEncoder();

/** A NUL-terminated C string. */
export function cString(s: string): Uint8Array {
  const b = encoder.encode(s);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** map_name / prog_name bytes: at most 15 characters the kernel accepts ([A-Za-z0-9_.]). */
export function objName(name: string): Uint8Array {
  const cut = name.slice(0, 15).replace(/[^A-Za-z0-9_.]/g, '_');
  return encoder.encode(cut);
}

// ---- maps -------------------------------------------------------------------------------------

/** BPF_MAP_CREATE. map_name is raw bytes (see objName). */
export function mapCreate(attr: MapCreateAttr): Fd {
  const a = attrFor(MAP_CREATE_ATTR);
  const t = ambientToken?.fd;
  writeMapCreateAttr(
    a.view,
    t !== undefined && attr.map_token_fd === undefined
      ? { ...attr, map_token_fd: t, map_flags: (attr.map_flags ?? 0) | BPF_F_TOKEN_FD }
      : attr,
  );
  return callFd(BpfCmd.MAP_CREATE, a);
}

/** BPF_TOKEN_CREATE (Linux 6.9): a BPF token from the root of a delegating bpffs open at `bpffsFd`. */
export function tokenCreate(bpffsFd: number, flags = 0): Fd {
  const a = attrFor(TOKEN_CREATE_ATTR);
  writeTokenCreateAttr(a.view, { flags, bpffs_fd: bpffsFd });
  return callFd(BpfCmd.TOKEN_CREATE, a);
}

let ambientToken: Fd | undefined;

/**
 * Runs `f` (synchronously) with `token` given to every BPF_MAP_CREATE, BPF_PROG_LOAD and
 * BPF_BTF_LOAD that names none: how feature probes run for a load through a token, in a user
 * namespace where nothing loads without one.
 */
export function withToken<T>(token: Fd | undefined, f: () => T): T {
  const outer = ambientToken;
  ambientToken = token;
  try {
    return f();
  } finally {
    ambientToken = outer;
  }
}

/** The token withToken() is running with, if any. */
export function currentToken(): Fd | undefined {
  return ambientToken;
}

// The element commands go through the addon's bpfElem, which builds the attr (map_fd, key,
// value, flags) itself: they run at high rates and the generic bpf() marshalling costs ~5-10% of
// a lookup (bench/map-ops.ts). Zero flags are left out: the addon then skips reading a BigInt.
// With an ElemBuffers whose own key and value buffers are the arguments, the attr is the one it
// keeps prepared instead (bpfElemAt): one buffer for the addon to resolve rather than two.
function elemCall(
  cmd: number,
  mapFd: number,
  key: Bytes | null,
  value: Bytes | null,
  flags: bigint,
  bufs?: ElemBuffers,
): number {
  if (bufs !== undefined && value === bufs.value && (key === bufs.key || (key === null && bufs.keyless))) {
    return bufs.call(cmd, mapFd, flags);
  }
  const n = native();
  return flags === 0n ? n.bpfElem(cmd, mapFd, key, value) : n.bpfElem(cmd, mapFd, key, value, flags);
}

/** Bytes of the element commands' part of the attr: map_fd, key, value, flags. */
const ELEM_ATTR_SIZE = 32;

/**
 * A map handle's key and value buffers, in one ArrayBuffer after an attr for the element commands
 * that points at them (the key pointer is 0 for a map without keys). Lookups and updates whose
 * key and value are these buffers fill in map_fd and flags and pass the block as it is: on this
 * path a call's time is mostly the way into the addon and the kernel, and each argument the addon
 * resolves is a measurable part of it (bench/map-ops.ts, map-*-typed).
 */
export class ElemBuffers {
  readonly key: Uint8Array;
  readonly keyView: DataView;
  readonly value: Uint8Array;
  readonly valueView: DataView;
  /** True when the attr's key pointer is 0 (keySize 0: queues, stacks, bloom filters). */
  readonly keyless: boolean;
  readonly #block: ArrayBuffer;
  readonly #attr: Uint32Array;

  constructor(keySize: number, valueSize: number) {
    const keyRoom = (Math.max(keySize, 1) + 7) & ~7;
    // A new ArrayBuffer's bytes live outside V8's heap and never move: the addresses stay true.
    this.#block = new ArrayBuffer(ELEM_ATTR_SIZE + keyRoom + Math.max(valueSize, 1));
    this.key = new Uint8Array(this.#block, ELEM_ATTR_SIZE, Math.max(keySize, 1));
    this.keyView = new DataView(this.#block, ELEM_ATTR_SIZE, this.key.length);
    this.value = new Uint8Array(this.#block, ELEM_ATTR_SIZE + keyRoom, Math.max(valueSize, 1));
    this.valueView = new DataView(this.#block, this.value.byteOffset, this.value.length);
    this.keyless = keySize === 0;
    this.#attr = new Uint32Array(this.#block, 0, ELEM_ATTR_SIZE / 4);
    const base = native().addressOf(this.#block);
    const v = new DataView(this.#block);
    v.setBigUint64(8, this.keyless ? 0n : base + BigInt(ELEM_ATTR_SIZE), HOST_LITTLE_ENDIAN);
    v.setBigUint64(16, base + BigInt(this.value.byteOffset), HOST_LITTLE_ENDIAN);
  }

  /** An element command through the prepared attr; the result, or -errno. */
  call(cmd: number, mapFd: number, flags: bigint): number {
    const attr = this.#attr;
    attr[0] = mapFd;
    if (flags === 0n) {
      attr[6] = 0;
      attr[7] = 0;
    } else {
      const lo = Number(flags & 0xffffffffn);
      const hi = Number((flags >> 32n) & 0xffffffffn);
      attr[HOST_LITTLE_ENDIAN ? 6 : 7] = lo;
      attr[HOST_LITTLE_ENDIAN ? 7 : 6] = hi;
    }
    return native().bpfElemAt(cmd, this.#block);
  }
}

/**
 * BPF_MAP_LOOKUP_ELEM into `value`. Returns false when the key does not exist (ENOENT), throws
 * SyscallError for any other failure.
 */
export function mapLookupElem(
  mapFd: number,
  key: Bytes | null,
  value: Bytes,
  flags = 0n,
  bufs?: ElemBuffers,
): boolean {
  const r = elemCall(BpfCmd.MAP_LOOKUP_ELEM, mapFd, key, value, flags, bufs);
  if (r >= 0) return true;
  if (r === -E.ENOENT) return false;
  throw fail(BpfCmd.MAP_LOOKUP_ELEM, r);
}

/** BPF_MAP_UPDATE_ELEM with BPF_ANY / BPF_NOEXIST / BPF_EXIST / BPF_F_LOCK in `flags`. */
export function mapUpdateElem(
  mapFd: number,
  key: Bytes | null,
  value: Bytes,
  flags = 0n,
  bufs?: ElemBuffers,
): void {
  const r = elemCall(BpfCmd.MAP_UPDATE_ELEM, mapFd, key, value, flags, bufs);
  if (r < 0) throw fail(BpfCmd.MAP_UPDATE_ELEM, r);
}

/** BPF_MAP_DELETE_ELEM. Returns false when the key did not exist. */
export function mapDeleteElem(mapFd: number, key: Bytes, flags = 0n): boolean {
  const r = elemCall(BpfCmd.MAP_DELETE_ELEM, mapFd, key, null, flags);
  if (r >= 0) return true;
  if (r === -E.ENOENT) return false;
  throw fail(BpfCmd.MAP_DELETE_ELEM, r);
}

/** BPF_MAP_GET_NEXT_KEY: the first key when `key` is null. Returns false after the last key. */
export function mapGetNextKey(mapFd: number, key: Bytes | null, nextKey: Bytes): boolean {
  const r = elemCall(BpfCmd.MAP_GET_NEXT_KEY, mapFd, key, nextKey, 0n);
  if (r >= 0) return true;
  if (r === -E.ENOENT) return false;
  throw fail(BpfCmd.MAP_GET_NEXT_KEY, r);
}

/** BPF_MAP_LOOKUP_AND_DELETE_ELEM (key null for queues and stacks). False when empty/missing. */
export function mapLookupAndDeleteElem(
  mapFd: number,
  key: Bytes | null,
  value: Bytes,
  flags = 0n,
  bufs?: ElemBuffers,
): boolean {
  const r = elemCall(BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, mapFd, key, value, flags, bufs);
  if (r >= 0) return true;
  if (r === -E.ENOENT) return false;
  throw fail(BpfCmd.MAP_LOOKUP_AND_DELETE_ELEM, r);
}

/** BPF_MAP_FREEZE: user space can no longer write the map. Requires Linux 5.2. */
export function mapFreeze(mapFd: number): void {
  const r = elemCall(BpfCmd.MAP_FREEZE, mapFd, null, null, 0n);
  if (r < 0) throw fail(BpfCmd.MAP_FREEZE, r);
}

export interface BatchOptions {
  /** Where to continue from: null for the start; the previous call's outBatch otherwise. */
  inBatch?: Bytes | null;
  /** Receives the position to continue from (key-sized for hashes, 4 bytes for arrays). */
  outBatch?: Bytes;
  keys?: Bytes;
  values?: Bytes;
  /** How many elements the buffers hold. */
  count: number;
  elemFlags?: bigint;
  flags?: bigint;
}

export interface BatchResult {
  /** Elements processed. */
  count: number;
  /** True when the walk reached the end of the map (ENOENT). */
  done: boolean;
}

function batch(cmd: number, mapFd: number, o: BatchOptions, endIsEnoent: boolean): BatchResult {
  const a = attrFor(MAP_BATCH_ATTR);
  const f = MAP_BATCH_ATTR.fields;
  a.view.setUint32(f.map_fd.offset, mapFd, LE);
  a.view.setUint32(f.count.offset, o.count, LE);
  if (o.elemFlags) a.view.setBigUint64(f.elem_flags.offset, o.elemFlags, LE);
  if (o.flags) a.view.setBigUint64(f.flags.offset, o.flags, LE);
  // The four pointer fields passed directly (null stores 0) rather than through pointers(): a
  // walk in small batches makes many of these calls.
  const r = native().bpf(
    cmd,
    a.bytes,
    f.in_batch.offset,
    o.inBatch ?? null,
    f.out_batch.offset,
    o.outBatch ?? null,
    f.keys.offset,
    o.keys ?? null,
    f.values.offset,
    o.values ?? null,
  );
  const count = a.view.getUint32(f.count.offset, LE);
  if (r >= 0) return { count, done: false };
  if (endIsEnoent && r === -E.ENOENT) return { count, done: true };
  throw fail(cmd, r);
}

/** BPF_MAP_LOOKUP_BATCH. Requires Linux 5.6. */
export function mapLookupBatch(mapFd: number, o: BatchOptions): BatchResult {
  return batch(BpfCmd.MAP_LOOKUP_BATCH, mapFd, o, true);
}
/** BPF_MAP_LOOKUP_AND_DELETE_BATCH. Requires Linux 5.6. */
export function mapLookupAndDeleteBatch(mapFd: number, o: BatchOptions): BatchResult {
  return batch(BpfCmd.MAP_LOOKUP_AND_DELETE_BATCH, mapFd, o, true);
}
/** BPF_MAP_UPDATE_BATCH. Requires Linux 5.6. */
export function mapUpdateBatch(mapFd: number, o: BatchOptions): number {
  return batch(BpfCmd.MAP_UPDATE_BATCH, mapFd, o, false).count;
}
/** BPF_MAP_DELETE_BATCH. Requires Linux 5.6. */
export function mapDeleteBatch(mapFd: number, o: BatchOptions): number {
  return batch(BpfCmd.MAP_DELETE_BATCH, mapFd, o, false).count;
}

// ---- loading with a log -----------------------------------------------------------------------

export interface LogOptions {
  /** log_level: 1 for the verifier's normal log, 2 for every instruction. */
  level?: number;
  /** Initial buffer size; it grows when the kernel reports ENOSPC. */
  size?: number;
}

const MIN_LOG = 64 * 1024;
const MAX_LOG = 256 * 1024 * 1024;
const MAX_EINTR = 5;

interface LoadWithLog {
  cmd: number;
  layout: Layout;
  write(a: Attr): void;
  ptrs: Record<string, Bytes | undefined>;
  logBuf: string;
  logLevel: string;
  logSize: string;
  logTrueSize: string;
}

/** One bpf() call a load command's attempts ask for. */
interface LoadCall {
  cmd: number;
  attr: Uint8Array;
  ptrs: (number | Bytes)[];
}

/**
 * A load command's attempts: with no log asked for it first tries without one (faster), and on
 * failure retries with a level-1 log so the error carries the verifier's explanation. Yields each
 * call and takes its result back, so the same steps run synchronously (loadWithLog) or on the
 * thread pool (loadWithLogAsync). `attrOf` gives the attr buffer of each attempt.
 */
function* loadAttempts(
  spec: LoadWithLog,
  log: LogOptions | undefined,
  attrOf: (layout: Layout) => Attr,
): Generator<LoadCall, { fd: Fd; log: string }, number> {
  const f = spec.layout.fields;
  const level = log?.level ?? 0;
  let size = level > 0 ? Math.max(log?.size ?? MIN_LOG, 128) : 0;
  for (let attempt = 0; ; attempt++) {
    const a = attrOf(spec.layout);
    spec.write(a);
    const buf = size > 0 ? new Uint8Array(size) : undefined;
    if (buf !== undefined) {
      a.view.setUint32(f[spec.logLevel]!.offset, level > 0 ? level : 1, LE);
      a.view.setUint32(f[spec.logSize]!.offset, size, LE);
    }
    const r = yield {
      cmd: spec.cmd,
      attr: a.bytes,
      ptrs: pointers(spec.layout, { ...spec.ptrs, [spec.logBuf]: buf }),
    };
    const text = buf !== undefined ? readCString(buf) : '';
    if (r >= 0) return { fd: new Fd(r), log: text };
    if ((r === -E.EINTR || r === -E.EAGAIN) && attempt < MAX_EINTR) continue;
    if (buf === undefined) {
      size = MIN_LOG; // retry once with a log to explain the failure
      continue;
    }
    // Since 5.x/6.4 the kernel tells the size it needed (log_true_size); else a log cut short
    // fills the buffer, and it grows fourfold. An ENOSPC with room left in the log is not the
    // log's (growing would allocate up to MAX_LOG and run the verifier at each size for nothing).
    const trueSize = f[spec.logTrueSize] ? a.view.getUint32(f[spec.logTrueSize]!.offset, LE) : 0;
    if (r === -E.ENOSPC && size < MAX_LOG && (trueSize > size || (trueSize === 0 && buf[size - 2] !== 0))) {
      size = Math.min(MAX_LOG, trueSize > size ? trueSize : size * 4);
      continue;
    }
    throw fail(spec.cmd, r, text);
  }
}

function loadWithLog(spec: LoadWithLog, log: LogOptions | undefined): { fd: Fd; log: string } {
  const steps = loadAttempts(spec, log, attrFor);
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    const c = step.value;
    step = steps.next(native().bpf(c.cmd, c.attr, ...c.ptrs));
  }
}

/** A fresh attr for each call on the pool: the shared per-layout buffers may be reused meanwhile. */
function freshAttr(layout: Layout): Attr {
  const bytes = new Uint8Array(layout.size);
  return { bytes, view: new DataView(bytes.buffer) };
}

async function loadWithLogAsync(
  spec: LoadWithLog,
  log: LogOptions | undefined,
): Promise<{ fd: Fd; log: string }> {
  const steps = loadAttempts(spec, log, freshAttr);
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    const c = step.value;
    step = steps.next(await native().bpfAsync(c.cmd, c.attr, ...c.ptrs));
  }
}

/** Buffers that BPF_PROG_LOAD reads through pointers. */
export interface ProgLoadBuffers {
  /** Instructions, 8 bytes each; insn_cnt is derived. */
  insns: Uint8Array;
  license: string;
  funcInfo?: Uint8Array;
  lineInfo?: Uint8Array;
  /** File descriptors the program refers to by index (BPF_PSEUDO_MAP_IDX). */
  fdArray?: Int32Array;
  coreRelos?: Uint8Array;
}

type PointerFree<T> = Omit<
  T,
  'insns' | 'license' | 'log_buf' | 'func_info' | 'line_info' | 'fd_array' | 'core_relos'
>;

/**
 * BPF_PROG_LOAD. Returns the program and the verifier log (empty unless a log level was asked).
 * A failure throws SyscallError whose `log` has the verifier's whole log.
 */
export function progLoad(
  attr: PointerFree<ProgLoadAttr>,
  bufs: ProgLoadBuffers,
  log?: LogOptions,
): { fd: Fd; log: string } {
  return loadWithLog(progLoadSpec(attr, bufs), log);
}

/**
 * BPF_PROG_LOAD on a libuv pool thread, so the verifier's time does not block the event loop;
 * otherwise as progLoad(). `bufs` must not change until the promise settles.
 */
export function progLoadAsync(
  attr: PointerFree<ProgLoadAttr>,
  bufs: ProgLoadBuffers,
  log?: LogOptions,
): Promise<{ fd: Fd; log: string }> {
  return loadWithLogAsync(progLoadSpec(attr, bufs), log);
}

function progLoadSpec(given: PointerFree<ProgLoadAttr>, bufs: ProgLoadBuffers): LoadWithLog {
  if (bufs.insns.byteLength % 8 !== 0)
    throw new EbpfError(`instructions are ${bufs.insns.byteLength} bytes, not a multiple of 8`);
  const t = ambientToken?.fd;
  const attr =
    t !== undefined && given.prog_token_fd === undefined
      ? { ...given, prog_token_fd: t, prog_flags: (given.prog_flags ?? 0) | BPF_F_TOKEN_FD }
      : given;
  return {
    cmd: BpfCmd.PROG_LOAD,
    layout: PROG_LOAD_ATTR,
    write: (a) => writeProgLoadAttr(a.view, { ...attr, insn_cnt: bufs.insns.byteLength / 8 }),
    ptrs: {
      insns: bufs.insns,
      license: cString(bufs.license),
      func_info: bufs.funcInfo,
      line_info: bufs.lineInfo,
      fd_array: bufs.fdArray,
      core_relos: bufs.coreRelos,
    },
    logBuf: 'log_buf',
    logLevel: 'log_level',
    logSize: 'log_size',
    logTrueSize: 'log_true_size',
  };
}

/** BPF_BTF_LOAD. Requires Linux 4.18. */
export function btfLoad(
  btf: Uint8Array,
  log?: LogOptions,
  flags = 0,
  token: number | undefined = ambientToken?.fd,
): { fd: Fd; log: string } {
  const withToken = token !== undefined ? { btf_token_fd: token, btf_flags: flags | BPF_F_TOKEN_FD } : {};
  return loadWithLog(
    {
      cmd: BpfCmd.BTF_LOAD,
      layout: BTF_LOAD_ATTR,
      write: (a) => writeBtfLoadAttr(a.view, { btf_size: btf.byteLength, btf_flags: flags, ...withToken }),
      ptrs: { btf },
      logBuf: 'btf_log_buf',
      logLevel: 'btf_log_level',
      logSize: 'btf_log_size',
      logTrueSize: 'btf_log_true_size',
    },
    log,
  );
}

// ---- objects in bpffs ---------------------------------------------------------------------------

/**
 * Pins `fd` at `path` as bpftool and libbpf do: the directory is checked to be on a bpffs before
 * anything is made (a bpffs mounted at /sys/fs/bpf when none is and the caller may), made when
 * missing, and removed again when the pin fails. Returns the directories it made, outermost first.
 */
export function pinObject(fd: number, path: string): string[] {
  // Every handle's pin(path) comes here: a caller's non-string is an OptionError, not Node's TypeError.
  checkArgument('pin', 'path', path, 'a bpffs path (a non-empty string without NUL)', isPath(path));
  const made = makePinDirs(dirname(path));
  try {
    objPin(fd, path);
  } catch (e) {
    removeDirs(made);
    throw e;
  }
  return made;
}

/** BPF_OBJ_PIN: pins `fd` at `path` in a bpffs; a failure names the path. */
export function objPin(fd: number, path: string, fileFlags = 0): void {
  const a = attrFor(OBJ_ATTR);
  a.view.setUint32(OBJ_ATTR.fields.bpf_fd.offset, fd, LE);
  a.view.setUint32(OBJ_ATTR.fields.file_flags.offset, fileFlags, LE);
  pinCall(BpfCmd.OBJ_PIN, a, path);
}

/**
 * Why a pin path was refused, when the errno alone misleads: the kernel answers EPERM/EACCES both
 * for a path outside any bpffs and for a name with a '.' in it, which read like missing privileges.
 */
function pinPathHint(path: string, errno: number, pinning: boolean): string | undefined {
  if (errno !== E.EPERM && errno !== E.EACCES && errno !== E.EINVAL) return undefined;
  // A new pin lives in the directory; an existing one is the file itself.
  const dir = pinning ? dirname(path) : path;
  if (!existsSync(dir)) return undefined;
  if (!onBpffs(dir)) return `${pinning ? dir : path} is not on a bpf filesystem (${MOUNT_HINT})`;
  if (pinning && basename(path).includes('.')) return "bpffs refuses '.' in names";
  return undefined;
}

/** OBJ_PIN / OBJ_GET of `path` with attr `a`: the result, or -errno. */
function pinSyscall(cmd: number, a: Attr, path: string): number {
  return native().bpf(cmd, a.bytes, ...pointers(OBJ_ATTR, { pathname: cString(path) }));
}

/** OBJ_PIN / OBJ_GET: a failure names the path, and says when the path is not on a bpffs. */
function pinCall(cmd: number, a: Attr, path: string): number {
  const r = pinSyscall(cmd, a, path);
  if (r >= 0) return r;
  throw pinError(cmd, r, path);
}

function pinError(cmd: number, r: number, path: string): SyscallError {
  const hint = pinPathHint(path, -r, cmd === BpfCmd.OBJ_PIN);
  return new SyscallError(bpfCmdName(cmd), -r, {
    location: { file: path },
    ...(hint !== undefined && { hint }),
  });
}

/**
 * BPF_OBJ_GET: opens the object pinned at `path` (BPF_F_RDONLY / BPF_F_WRONLY in fileFlags); a
 * failure names the path.
 */
export function objGet(path: string, fileFlags = 0): Fd {
  const a = attrFor(OBJ_ATTR);
  a.view.setUint32(OBJ_ATTR.fields.file_flags.offset, fileFlags, LE);
  return new Fd(pinCall(BpfCmd.OBJ_GET, a, path));
}

/**
 * BPF_OBJ_GET of a pin that may not exist: undefined when nothing is pinned at `path` (ENOENT,
 * answered without building an error); any other failure throws as objGet's.
 */
export function objGetIfPinned(path: string): Fd | undefined {
  const r = pinSyscall(BpfCmd.OBJ_GET, attrFor(OBJ_ATTR), path);
  if (r >= 0) return new Fd(r);
  if (r === -E.ENOENT) return undefined;
  throw pinError(BpfCmd.OBJ_GET, r, path);
}

// ---- ids ----------------------------------------------------------------------------------------

function nextId(cmd: number, start: number): number | undefined {
  const a = attrFor(GET_ID_ATTR);
  a.view.setUint32(GET_ID_ATTR.fields.start_id.offset, start, LE);
  const r = native().bpf(cmd, a.bytes);
  if (r === -E.ENOENT) return undefined;
  if (r < 0) throw fail(cmd, r);
  return a.view.getUint32(GET_ID_ATTR.fields.next_id.offset, LE);
}

const BY_ID_KIND: Record<number, string> = {
  [BpfCmd.PROG_GET_FD_BY_ID]: 'program',
  [BpfCmd.MAP_GET_FD_BY_ID]: 'map',
  [BpfCmd.BTF_GET_FD_BY_ID]: 'BTF object',
  [BpfCmd.LINK_GET_FD_BY_ID]: 'link',
};

function fdById(cmd: number, id: number, openFlags: number): Fd {
  const a = attrFor(GET_ID_ATTR);
  a.view.setUint32(GET_ID_ATTR.fields.start_id.offset, id, LE);
  a.view.setUint32(GET_ID_ATTR.fields.open_flags.offset, openFlags, LE);
  const r = native().bpf(cmd, a.bytes);
  // ENOENT alone does not say what was looked for: name the id.
  if (r === -E.ENOENT)
    throw new SyscallError(bpfCmdName(cmd), E.ENOENT, {
      hint: `no ${BY_ID_KIND[cmd] ?? 'object'} has id ${id}`,
    });
  if (r < 0) throw fail(cmd, r);
  return new Fd(r);
}

/** The first program id above `start`, or undefined after the last. */
export const progGetNextId = (start: number): number | undefined => nextId(BpfCmd.PROG_GET_NEXT_ID, start);
export const mapGetNextId = (start: number): number | undefined => nextId(BpfCmd.MAP_GET_NEXT_ID, start);
export const btfGetNextId = (start: number): number | undefined => nextId(BpfCmd.BTF_GET_NEXT_ID, start);
export const linkGetNextId = (start: number): number | undefined => nextId(BpfCmd.LINK_GET_NEXT_ID, start);
export const progGetFdById = (id: number): Fd => fdById(BpfCmd.PROG_GET_FD_BY_ID, id, 0);
export const mapGetFdById = (id: number, openFlags = 0): Fd => fdById(BpfCmd.MAP_GET_FD_BY_ID, id, openFlags);
export const btfGetFdById = (id: number): Fd => fdById(BpfCmd.BTF_GET_FD_BY_ID, id, 0);
export const linkGetFdById = (id: number): Fd => fdById(BpfCmd.LINK_GET_FD_BY_ID, id, 0);

// ---- info ---------------------------------------------------------------------------------------

/** BPF_OBJ_GET_INFO_BY_FD into `info`; returns the bytes the kernel filled (info_len). */
export function objGetInfoByFd(fd: number, info: Uint8Array): number {
  const a = attrFor(OBJ_GET_INFO_ATTR);
  const f = OBJ_GET_INFO_ATTR.fields;
  a.view.setUint32(f.bpf_fd.offset, fd, LE);
  a.view.setUint32(f.info_len.offset, info.byteLength, LE);
  call(BpfCmd.OBJ_GET_INFO_BY_FD, a, [f.info.offset, info]);
  return a.view.getUint32(f.info_len.offset, LE);
}

function infoOf<T>(fd: number, layout: Layout, read: (v: DataView) => T, fill?: (v: DataView) => Bytes[]): T {
  const buf = new Uint8Array(layout.size);
  const view = new DataView(buf.buffer);
  // The pointers written by `fill` must stay alive across the call: keep them referenced.
  const keep = fill?.(view) ?? [];
  objGetInfoByFd(fd, buf);
  void keep;
  return read(view);
}

export interface ProgInfoExtras {
  mapIds?: boolean;
  xlatedInsns?: boolean;
  jitedInsns?: boolean;
  funcInfo?: boolean;
  lineInfo?: boolean;
}

export interface ProgInfoResult {
  info: Required<ProgInfo>;
  name: string;
  mapIds?: number[];
  xlatedInsns?: Uint8Array;
  jitedInsns?: Uint8Array;
  funcInfo?: Uint8Array;
  lineInfo?: Uint8Array;
}

/** struct bpf_prog_info; a second call fetches the arrays asked for in `extras`. */
export function progGetInfo(fd: number, extras: ProgInfoExtras = {}): ProgInfoResult {
  const info = infoOf(fd, PROG_INFO, readProgInfo);
  const res: ProgInfoResult = { info, name: readCString(info.name) };
  if (!extras.mapIds && !extras.xlatedInsns && !extras.jitedInsns && !extras.funcInfo && !extras.lineInfo)
    return res;
  const f = PROG_INFO.fields;
  const mapIds = extras.mapIds ? new Uint32Array(info.nr_map_ids) : undefined;
  const xlated = extras.xlatedInsns ? new Uint8Array(info.xlated_prog_len) : undefined;
  const jited = extras.jitedInsns ? new Uint8Array(info.jited_prog_len) : undefined;
  const funcInfo = extras.funcInfo ? new Uint8Array(info.nr_func_info * info.func_info_rec_size) : undefined;
  const lineInfo = extras.lineInfo ? new Uint8Array(info.nr_line_info * info.line_info_rec_size) : undefined;
  const addr = (b: Bytes): bigint => native().addressOf(b);
  infoOf(fd, PROG_INFO, readProgInfo, (v) => {
    const kept: Bytes[] = [];
    // Each array: its element count (and record size, for func/line info) and its address.
    const pass = (
      buf: Bytes | undefined,
      count: { offset: number },
      n: number,
      ptr: { offset: number },
      rec?: [{ offset: number }, number],
    ): void => {
      if (buf === undefined || buf.byteLength === 0) return;
      v.setUint32(count.offset, n, LE);
      if (rec !== undefined) v.setUint32(rec[0].offset, rec[1], LE);
      v.setBigUint64(ptr.offset, addr(buf), LE);
      kept.push(buf);
    };
    pass(mapIds, f.nr_map_ids, mapIds?.length ?? 0, f.map_ids);
    pass(xlated, f.xlated_prog_len, xlated?.length ?? 0, f.xlated_prog_insns);
    pass(jited, f.jited_prog_len, jited?.length ?? 0, f.jited_prog_insns);
    pass(funcInfo, f.nr_func_info, info.nr_func_info, f.func_info, [
      f.func_info_rec_size,
      info.func_info_rec_size,
    ]);
    pass(lineInfo, f.nr_line_info, info.nr_line_info, f.line_info, [
      f.line_info_rec_size,
      info.line_info_rec_size,
    ]);
    return kept;
  });
  if (mapIds) res.mapIds = [...mapIds];
  if (xlated) res.xlatedInsns = xlated;
  if (jited) res.jitedInsns = jited;
  if (funcInfo) res.funcInfo = funcInfo;
  if (lineInfo) res.lineInfo = lineInfo;
  return res;
}

/** struct bpf_map_info, with the name decoded. */
export function mapGetInfo(fd: number): { info: Required<MapInfo>; name: string } {
  const info = infoOf(fd, MAP_INFO, readMapInfo);
  return { info, name: readCString(info.name) };
}

/** struct bpf_btf_info with the object's name; `withData` also fetches the raw BTF bytes. */
export function btfGetInfo(
  fd: number,
  withData = false,
): { info: Required<BtfInfo>; name: string; data?: Uint8Array } {
  const f = BTF_INFO.fields;
  const probe = new Uint8Array(BTF_INFO.size);
  // The kernel says how much of the struct it knows: before 5.11 it has no name, name_len or
  // kernel_btf, and a pointer set there (past its struct) is refused with E2BIG.
  const known = objGetInfoByFd(fd, probe);
  const first = readBtfInfo(new DataView(probe.buffer));
  const named = known >= f.name.offset + 8 && known >= f.name_len.offset + 4;
  const name = new Uint8Array(Math.max(first.name_len + 1, 1));
  const data = withData ? new Uint8Array(first.btf_size) : undefined;
  const info = infoOf(fd, BTF_INFO, readBtfInfo, (v) => {
    if (named) {
      v.setUint32(f.name_len.offset, name.length, LE);
      v.setBigUint64(f.name.offset, native().addressOf(name), LE);
    }
    if (data) {
      v.setUint32(f.btf_size.offset, data.length, LE);
      v.setBigUint64(f.btf.offset, native().addressOf(data), LE);
    }
    return data ? [name, data] : [name];
  });
  return data ? { info, name: readCString(name), data } : { info, name: readCString(name) };
}

/** struct bpf_link_info (pointer members such as tp_name are left unfetched). */
export function linkGetInfo(fd: number): Required<LinkInfo> {
  return infoOf(fd, LINK_INFO, readLinkInfo);
}

// ---- running and attaching ------------------------------------------------------------------------

export interface TestRunOptions {
  dataIn?: Uint8Array;
  dataOut?: Uint8Array;
  ctxIn?: Uint8Array;
  ctxOut?: Uint8Array;
  repeat?: number;
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

export interface TestRunResult {
  retval: number;
  /** Average ns per run. */
  duration: number;
  dataSizeOut: number;
  ctxSizeOut: number;
}

/** BPF_PROG_TEST_RUN (BPF_PROG_RUN). */
export function progTestRun(progFd: number, o: TestRunOptions = {}): TestRunResult {
  const a = attrFor(PROG_TEST_RUN_ATTR);
  writeProgTestRunAttr(a.view, {
    prog_fd: progFd,
    data_size_in: o.dataIn?.byteLength ?? 0,
    data_size_out: o.dataOut?.byteLength ?? 0,
    ctx_size_in: o.ctxIn?.byteLength ?? 0,
    ctx_size_out: o.ctxOut?.byteLength ?? 0,
    repeat: o.repeat ?? 0,
    flags: o.flags ?? 0,
    cpu: o.cpu ?? 0,
    batch_size: o.batchSize ?? 0,
  });
  const f = PROG_TEST_RUN_ATTR.fields;
  call(
    BpfCmd.PROG_TEST_RUN,
    a,
    pointers(PROG_TEST_RUN_ATTR, {
      data_in: o.dataIn,
      data_out: o.dataOut,
      ctx_in: o.ctxIn,
      ctx_out: o.ctxOut,
    }),
  );
  return {
    retval: a.view.getUint32(f.retval.offset, LE),
    duration: a.view.getUint32(f.duration.offset, LE),
    dataSizeOut: a.view.getUint32(f.data_size_out.offset, LE),
    ctxSizeOut: a.view.getUint32(f.ctx_size_out.offset, LE),
  };
}

/** Pointer members of bpf_attr.link_create, by flattened name (iter_info, kprobe_multi_syms...). */
export type LinkCreatePointers = Partial<Record<keyof LinkCreateAttr, Bytes>>;

/** BPF_LINK_CREATE. Pointer fields are given as buffers in `ptrs`. Requires Linux 5.7. */
export function linkCreate(attr: LinkCreateAttr, ptrs: LinkCreatePointers = {}): Fd {
  const a = attrFor(LINK_CREATE_ATTR);
  writeLinkCreateAttr(a.view, attr);
  return callFd(BpfCmd.LINK_CREATE, a, pointers(LINK_CREATE_ATTR, ptrs));
}

/** BPF_LINK_UPDATE: swaps the link's program (BPF_F_REPLACE with oldProgFd to make it conditional). */
export function linkUpdate(
  linkFd: number,
  newProgFd: number,
  opts: { oldProgFd?: number; flags?: number } = {},
): void {
  const a = attrFor(LINK_UPDATE_ATTR);
  const f = LINK_UPDATE_ATTR.fields;
  a.view.setUint32(f.link_fd.offset, linkFd, LE);
  a.view.setUint32(f.new_prog_fd.offset, newProgFd, LE);
  a.view.setUint32(f.flags.offset, opts.flags ?? 0, LE);
  a.view.setUint32(f.old_prog_fd.offset, opts.oldProgFd ?? 0, LE);
  call(BpfCmd.LINK_UPDATE, a);
}

/** BPF_LINK_DETACH: detaches without closing the link. Requires Linux 5.9. */
export function linkDetach(linkFd: number): void {
  const a = attrFor(LINK_DETACH_ATTR);
  a.view.setUint32(LINK_DETACH_ATTR.fields.link_fd.offset, linkFd, LE);
  call(BpfCmd.LINK_DETACH, a);
}

/** BPF_PROG_ATTACH. */
export function progAttach(attr: ProgAttachAttr): void {
  const a = attrFor(PROG_ATTACH_ATTR);
  writeProgAttachAttr(a.view, attr);
  call(BpfCmd.PROG_ATTACH, a);
}

/** BPF_PROG_DETACH. */
export function progDetach(attr: ProgAttachAttr): void {
  const a = attrFor(PROG_ATTACH_ATTR);
  writeProgAttachAttr(a.view, attr);
  call(BpfCmd.PROG_DETACH, a);
}

export interface ProgQueryResult {
  attachFlags: number;
  progIds: number[];
  progAttachFlags: number[];
  linkIds: number[];
  revision: bigint;
}

/**
 * BPF_PROG_QUERY: programs attached at a hook, up to `max` of them. Each program's own attach
 * flags (`progAttachFlags`, Linux 6.0) and the link ids (`linkIds`, Linux 6.6) are asked for only
 * when wanted: a kernel that predates a field refuses a query that sets it (EINVAL), so 5.10 would
 * answer no query at all. Left out, those arrays come back empty.
 */
export function progQuery(
  targetFd: number,
  attachType: number,
  opts: { queryFlags?: number; max?: number; progAttachFlags?: boolean; linkIds?: boolean } = {},
): ProgQueryResult {
  const max = opts.max ?? 64;
  const progIds = new Uint32Array(max);
  const progAttachFlags = opts.progAttachFlags ? new Uint32Array(max) : undefined;
  const linkIds = opts.linkIds ? new Uint32Array(max) : undefined;
  const a = attrFor(PROG_QUERY_ATTR);
  writeProgQueryAttr(a.view, {
    target_fd: targetFd,
    attach_type: attachType,
    query_flags: opts.queryFlags ?? 0,
    prog_cnt: max,
  });
  const f = PROG_QUERY_ATTR.fields;
  const ptrs = pointers(PROG_QUERY_ATTR, {
    prog_ids: progIds,
    prog_attach_flags: progAttachFlags,
    link_ids: linkIds,
  });
  call(BpfCmd.PROG_QUERY, a, ptrs);
  const n = Math.min(a.view.getUint32(f.prog_cnt.offset, LE), max);
  return {
    attachFlags: a.view.getUint32(f.attach_flags.offset, LE),
    progIds: [...progIds.subarray(0, n)],
    progAttachFlags: progAttachFlags ? [...progAttachFlags.subarray(0, n)] : [],
    linkIds: linkIds ? [...linkIds.subarray(0, n)].filter((id) => id !== 0) : [],
    // (Linux 6.6; 0 before.)
    revision: a.view.getBigUint64(f.revision.offset, LE),
  };
}

/** BPF_RAW_TRACEPOINT_OPEN (name null for BTF-typed tracing programs). Requires Linux 4.17. */
export function rawTracepointOpen(name: string | null, progFd: number, cookie = 0n): Fd {
  const a = attrFor(RAW_TRACEPOINT_OPEN_ATTR);
  const f = RAW_TRACEPOINT_OPEN_ATTR.fields;
  a.view.setUint32(f.prog_fd.offset, progFd, LE);
  a.view.setBigUint64(f.cookie.offset, cookie, LE);
  return callFd(BpfCmd.RAW_TRACEPOINT_OPEN, a, name === null ? [] : [f.name.offset, cString(name)]);
}

/** BPF_ITER_CREATE: a readable descriptor producing the iterator's output. Requires Linux 5.8. */
export function iterCreate(linkFd: number, flags = 0): Fd {
  const a = attrFor(ITER_CREATE_ATTR);
  a.view.setUint32(ITER_CREATE_ATTR.fields.link_fd.offset, linkFd, LE);
  a.view.setUint32(ITER_CREATE_ATTR.fields.flags.offset, flags, LE);
  return callFd(BpfCmd.ITER_CREATE, a);
}

/** BPF_ENABLE_STATS: statistics stay on while the returned descriptor is open. Requires Linux 5.8. */
export function enableStats(type: number): Fd {
  const a = attrFor(ENABLE_STATS_ATTR);
  a.view.setUint32(ENABLE_STATS_ATTR.fields.type.offset, type, LE);
  return callFd(BpfCmd.ENABLE_STATS, a);
}

/** BPF_PROG_BIND_MAP: keeps a map alive with a program that does not reference it. Linux 5.10. */
export function progBindMap(progFd: number, mapFd: number, flags = 0): void {
  const a = attrFor(PROG_BIND_MAP_ATTR);
  const f = PROG_BIND_MAP_ATTR.fields;
  a.view.setUint32(f.prog_fd.offset, progFd, LE);
  a.view.setUint32(f.map_fd.offset, mapFd, LE);
  a.view.setUint32(f.flags.offset, flags, LE);
  call(BpfCmd.PROG_BIND_MAP, a);
}
