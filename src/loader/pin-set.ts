// Crash-safe pinning: the pins one load makes appear as a set or not at all, even when the process
// is killed (SIGKILL) part-way. A bpffs holds only pins, directories and symlinks, and rename(2)
// would silently replace a pin someone else made, so the set is committed through a journal kept
// in the bpffs itself, at the root of its mount:
//
//   <mount root>/ebpf_pending_<pid>_<start time>_<nonce>/
//     dir_<k>   symlink to a pin directory this load is about to make (recorded before mkdir)
//     path_<i>  symlink to where entry i is to be pinned
//     obj_<i>   entry i's object, pinned under this temporary name
//     committed directory: every entry is staged; from here on the set goes forward
//
// 1. stage: record and make the missing pin directories, then link and pin every entry here;
// 2. commit: mkdir `committed` (atomic), after checking that no final path is taken;
// 3. publish: pin every object at its final path (BPF_OBJ_PIN never replaces an existing pin);
// 4. clean: remove the entries, then `committed`, then the journal directory.
//
// A load that fails while running undoes its own steps. One killed leaves its journal, and the
// next load pinning on the same bpffs mount settles it before it looks for pins (so pinned-by-name
// maps are reused only once complete): a journal without `committed` is rolled back (its staged
// pins, any final pin holding the same object, and the directories it made are removed), one with
// `committed` is rolled forward (each missing final pin made from the staged object). A journal
// whose process is still running (same pid and start time) is left alone.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  statSync,
  symlinkSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import { objGetInfoByFd } from '../sys/bpf.js';
import { E } from '../sys/errno.js';
import { SyscallError } from '../sys/error.js';
import { bpffsMountRoot, missingPinDirs } from '../sys/bpffs.js';
import type { Fd } from '../sys/fd.js';
import { sys } from './syscalls.js';

/** One pin a load makes: `fd` at `path`. */
export interface PinRequest {
  what: 'map' | 'program';
  name: string;
  fd: Fd;
  path: string;
}

/** What settling a dead load's journal did. */
export interface Recovered {
  journal: string;
  action: 'completed' | 'removed';
  /** Final pins made (completed) or removed (removed). */
  pins: string[];
}

const PREFIX = 'ebpf_pending_';
const COMMITTED = 'committed';

let stepHook: ((step: string) => void) | undefined;

/**
 * For tests: `hook` is called before each change the protocol makes to bpffs, with a label
 * (`stage`, `dir 0`, `link 1`, `stage-pin 1`, `commit`, `pin 0`, `clean 0`, `uncommit`, ...);
 * the crash-safety test kills its process from here at every step in turn.
 */
export function setPinStepHook(hook: ((step: string) => void) | undefined): void {
  stepHook = hook;
}

function step(label: string): void {
  stepHook?.(label);
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined when there is no such process. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may hold spaces or ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const SELF = `${process.pid}_${startTime(process.pid) ?? 0}`;
/** Random per module instance (worker threads share the pid), then a count: unique per load. */
const NONCE = randomBytes(6).toString('hex');
let journals = 0;

function journalName(): string {
  return `${PREFIX}${SELF}_${NONCE}${(journals++).toString(16)}`;
}

/** Whether the process that owns journal `name` is still running. */
function ownerAlive(name: string): boolean {
  const m = /^ebpf_pending_(\d+)_(\d+)_[0-9a-f]+$/.exec(name);
  if (!m) return false;
  return startTime(Number(m[1])) === m[2];
}

function quiet(f: () => void): void {
  try {
    f();
  } catch {
    // Already gone, or (for a directory) not empty: nothing to undo.
  }
}

function objectId(path: string): number | undefined {
  try {
    using fd = sys.objGet(path);
    const info = new Uint8Array(8);
    objGetInfoByFd(fd.fd, info);
    // bpf_prog_info, bpf_map_info and bpf_link_info all start with u32 type, u32 id.
    return new DataView(info.buffer).getUint32(4, HOST_LITTLE_ENDIAN);
  } catch {
    return undefined;
  }
}

interface Entry {
  index: number;
  final: string;
}

/** The journal's complete entries (link and staged pin both present) and recorded directories. */
function readJournal(j: string): { entries: Entry[]; dirs: string[]; committed: boolean } {
  const names = new Set(readdirSync(j));
  const entries: Entry[] = [];
  const dirs: { k: number; d: string }[] = [];
  for (const n of names) {
    const m = /^(path|dir)_(\d+)$/.exec(n);
    if (!m) continue;
    let target: string;
    try {
      target = readlinkSync(join(j, n));
    } catch {
      continue;
    }
    const k = Number(m[2]);
    if (m[1] === 'dir') dirs.push({ k, d: target });
    else if (names.has(`obj_${k}`)) entries.push({ index: k, final: target });
  }
  entries.sort((a, b) => a.index - b.index);
  dirs.sort((a, b) => a.k - b.k);
  return { entries, dirs: dirs.map((x) => x.d), committed: names.has(COMMITTED) };
}

/** Removes the journal directory: its entries first, `committed` last, so it is never read half-emptied as uncommitted. */
function removeJournal(j: string, hooked = true, entries?: readonly string[]): void {
  const at = hooked ? step : (): void => {};
  let names: readonly string[];
  try {
    names = entries ?? readdirSync(j);
  } catch {
    return;
  }
  for (const n of names) {
    if (n === COMMITTED) continue;
    at(`clean ${n}`);
    quiet(() => unlinkSync(join(j, n)));
  }
  at('clean committed');
  quiet(() => rmdirSync(join(j, COMMITTED)));
  at('clean journal');
  quiet(() => rmdirSync(j));
}

/**
 * A change to a directory stamps it with the kernel's coarse clock, up to a tick (10 ms at
 * HZ=100) behind the time Date.now() reads: a directory whose mtime and ctime were already this
 * much older than the moment it was looked at gets different ones from any later change.
 */
const SETTLED_MS = 50n;

/**
 * Mount roots seen with no journal at all by this process's last scan, with the root's identity
 * and times read just before that scan (its last change already SETTLED_MS old): while they are
 * the same, no journal has been made there since, and the scan is not repeated. A journal of a
 * live process seen by a scan is not recorded so (its owner may die without changing the root).
 */
const cleanRoots = new Map<string, string>();

/** The root directory's identity and change times as one comparable string, and whether its last change is SETTLED_MS old. */
function rootStamp(root: string): { stamp: string; settled: boolean } {
  const now = BigInt(Date.now()) * 1_000_000n;
  const st = statSync(root, { bigint: true });
  const settled = now - st.mtimeNs >= SETTLED_MS * 1_000_000n && now - st.ctimeNs >= SETTLED_MS * 1_000_000n;
  return { stamp: `${st.dev}:${st.ino}:${st.nlink}:${st.mtimeNs}:${st.ctimeNs}`, settled };
}

/**
 * Settles the journals of dead loads on the bpffs mount that holds `path`: rolls each forward
 * (committed) or back (not), then removes it. Quiet about a mount it cannot read.
 */
export function recoverPins(path: string): Recovered[] {
  let root: string;
  let names: string[];
  let stamp: ReturnType<typeof rootStamp>;
  try {
    root = bpffsMountRoot(path);
    stamp = rootStamp(root);
    if (cleanRoots.get(root) === stamp.stamp) return [];
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: Recovered[] = [];
  const journals = names.filter((n) => n.startsWith(PREFIX));
  if (journals.length === 0 && stamp.settled) cleanRoots.set(root, stamp.stamp);
  else cleanRoots.delete(root);
  for (const name of journals) {
    if (ownerAlive(name)) continue;
    const j = join(root, name);
    let journal: ReturnType<typeof readJournal>;
    try {
      journal = readJournal(j);
    } catch {
      continue; // settled by a concurrent load meanwhile
    }
    const pins: string[] = [];
    if (journal.committed) {
      for (const e of journal.entries) {
        if (existsSync(e.final)) continue;
        try {
          for (const d of missingPinDirs(dirname(e.final))) quiet(() => mkdirSync(d));
          using fd = sys.objGet(join(j, `obj_${e.index}`));
          sys.objPin(fd.fd, e.final);
          pins.push(e.final);
        } catch {
          // Pinned by a concurrent recovery, or the path is taken by now: nothing more to do.
        }
      }
    } else {
      for (const e of [...journal.entries].reverse()) {
        const staged = objectId(join(j, `obj_${e.index}`));
        if (staged !== undefined && objectId(e.final) === staged) {
          quiet(() => unlinkSync(e.final));
          pins.push(e.final);
        }
      }
      for (const d of [...journal.dirs].reverse()) quiet(() => rmdirSync(d));
    }
    removeJournal(j, false);
    out.push({ journal: j, action: journal.committed ? 'completed' : 'removed', pins });
  }
  return out;
}

/** Thrown by commitPins: which request failed (the cause says why). Nothing of the set remains. */
export class PinSetError extends Error {
  constructor(
    readonly request: PinRequest,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
  }
}

/**
 * Pins every request as one set (see the top of this file). Returns the pin directories it made,
 * outermost first. On failure everything it made is removed and a PinSetError names the request.
 */
export function commitPins(requests: readonly PinRequest[], onPinned: (r: PinRequest) => void): string[] {
  if (requests.length === 0) return [];
  if (requests.length === 1) {
    // One pin into directories that all exist: BPF_OBJ_PIN is all or nothing by itself, and
    // needs no journal (nor the mount root that would hold one).
    const r = requests[0]!;
    let missing: string[];
    try {
      missing = missingPinDirs(dirname(r.path));
    } catch (e) {
      throw new PinSetError(r, e);
    }
    if (missing.length === 0) {
      try {
        step('pin 0');
        sys.objPin(r.fd.fd, r.path);
      } catch (e) {
        throw new PinSetError(r, e);
      }
      onPinned(r);
      return [];
    }
  }
  // One journal per bpffs mount (pins on different mounts commit mount by mount).
  const byRoot = new Map<string, PinRequest[]>();
  for (const r of requests) {
    let root: string;
    try {
      root = bpffsMountRoot(dirname(r.path));
    } catch (e) {
      throw new PinSetError(r, e);
    }
    byRoot.set(root, [...(byRoot.get(root) ?? []), r]);
  }
  const done: Array<() => void> = [];
  const dirs: string[] = [];
  try {
    for (const [root, group] of byRoot) {
      const r = commitGroup(root, group, onPinned);
      dirs.push(...r.dirs);
      done.push(r.undo);
    }
  } catch (e) {
    for (const undo of done.reverse()) undo();
    throw e;
  }
  return dirs;
}

function commitGroup(
  root: string,
  group: readonly PinRequest[],
  onPinned: (r: PinRequest) => void,
): { dirs: string[]; undo: () => void } {
  const j = join(root, journalName());
  /** What the journal holds, to remove it without reading it back. */
  const entries: string[] = [];
  const made: string[] = [];
  const pinned: string[] = [];
  let committed = false;
  let current = group[0]!;
  const undo = (): void => {
    if (committed) {
      step('uncommit');
      quiet(() => rmdirSync(join(j, COMMITTED)));
      committed = false;
    }
    for (const p of pinned.reverse()) {
      step(`unpin ${p}`);
      quiet(() => unlinkSync(p));
    }
    for (const d of [...made].reverse()) quiet(() => rmdirSync(d));
    removeJournal(j, true, entries);
  };
  try {
    step('stage');
    mkdirSync(j);
    let k = 0;
    for (const [i, r] of group.entries()) {
      current = r;
      for (const d of missingPinDirs(dirname(r.path))) {
        step(`dir ${k}`);
        entries.push(`dir_${k}`);
        symlinkSync(d, join(j, `dir_${k++}`));
        try {
          mkdirSync(d);
          made.push(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      step(`link ${i}`);
      entries.push(`path_${i}`);
      symlinkSync(r.path, join(j, `path_${i}`));
      step(`stage-pin ${i}`);
      entries.push(`obj_${i}`);
      sys.objPin(r.fd.fd, join(j, `obj_${i}`));
    }
    for (const r of group) {
      current = r;
      // As BPF_OBJ_PIN would answer at the final path, before anything is published.
      if (existsSync(r.path)) throw new SyscallError('BPF_OBJ_PIN', E.EEXIST, { location: { file: r.path } });
    }
    step('commit');
    mkdirSync(join(j, COMMITTED));
    committed = true;
    for (const [i, r] of group.entries()) {
      current = r;
      step(`pin ${i}`);
      sys.objPin(r.fd.fd, r.path);
      pinned.push(r.path);
    }
  } catch (e) {
    undo();
    throw new PinSetError(current, e);
  }
  for (const r of group) onPinned(r);
  removeJournal(j, true, entries);
  return {
    dirs: made,
    undo: () => {
      for (const p of [...pinned].reverse()) quiet(() => unlinkSync(p));
      for (const d of [...made].reverse()) quiet(() => rmdirSync(d));
    },
  };
}
