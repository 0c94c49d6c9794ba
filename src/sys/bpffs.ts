// Pin directories: checked to be on a bpffs before anything is made, and bpffs mounted at
// /sys/fs/bpf when it is missing and the caller may mount (as bpftool does).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EbpfError } from '../errors.js';

export const BPF_FS_MAGIC = 0xcafe4a11;
/** Where bpffs is mounted by convention; bpftool mounts it there when it is missing. */
export const BPFFS_ROOT = '/sys/fs/bpf';
export const MOUNT_HINT = `mount one as root: mount -t bpf bpf ${BPFFS_ROOT}`;

/** True when `path` (which exists) lies on a bpf filesystem. */
export function onBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** The deepest ancestor of `path` (or `path` itself) that exists. */
function existingAncestor(path: string): string {
  let p = path;
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  return p;
}

/**
 * Mounts bpffs at /sys/fs/bpf when nothing is mounted there and this process is root; returns
 * whether a bpffs is there now. Never throws: the caller says what failed, with its path.
 */
export function mountBpffs(): boolean {
  if (onBpffs(BPFFS_ROOT)) return true;
  if (process.getuid?.() !== 0 || !existsSync(BPFFS_ROOT)) return false;
  const r = spawnSync('mount', ['-t', 'bpf', 'bpf', BPFFS_ROOT], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 && onBpffs(BPFFS_ROOT);
}

/**
 * The deepest existing ancestor of `dir` (or `dir`), checked to be on a bpffs; a path under
 * /sys/fs/bpf with no bpffs there gets one mounted when the caller may. Otherwise an EbpfError
 * that says how to mount one.
 */
export function bpffsAncestor(dir: string): string {
  const full = resolve(dir);
  // Nearly always the directory exists on a bpffs: one statfs says so.
  if (onBpffs(full)) return full;
  let base = existingAncestor(full);
  if (onBpffs(base)) return base;
  const underRoot = full === BPFFS_ROOT || full.startsWith(BPFFS_ROOT + '/');
  if (underRoot && mountBpffs()) base = existingAncestor(full);
  if (onBpffs(base)) return base;
  const why =
    underRoot && !onBpffs(BPFFS_ROOT) ? `no bpffs is mounted at ${BPFFS_ROOT}` : `${base} is not on a bpffs`;
  throw new EbpfError(`pin directory: ${why} (${MOUNT_HINT})`, { file: dir });
}

/**
 * The directories mkdir -p would make for the pin directory `dir`, outermost first, after
 * checking that it lies on a bpffs (bpffsAncestor, which may mount one).
 */
export function missingPinDirs(dir: string): string[] {
  const full = resolve(dir);
  const base = bpffsAncestor(dir);
  const out: string[] = [];
  let p = base;
  for (const part of full.slice(base.length).split('/')) {
    if (part === '') continue;
    p = p === '/' ? `/${part}` : `${p}/${part}`;
    out.push(p);
  }
  return out;
}

function devOf(path: string): number | undefined {
  try {
    return statSync(path).dev;
  } catch {
    return undefined;
  }
}

/**
 * The root of the bpffs mount that holds `path` (or its deepest existing ancestor): where a load
 * keeps its pending pin journal, found again by the next load whatever directories it pins in.
 */
export function bpffsMountRoot(path: string): string {
  let p = bpffsAncestor(path);
  const dev = statSync(p).dev;
  for (;;) {
    const up = dirname(p);
    // The same device is the same filesystem: the walk needs no statfs of its own.
    if (up === p || devOf(up) !== dev) return p;
    p = up;
  }
}

/**
 * mkdir -p for a pin directory, which must lie on a bpffs: the check comes before any directory
 * is made (sysfs's empty /sys/fs/bpf, with no bpffs on it, answers ENOENT to every mkdir, and
 * Node's recursive mkdir loops on that forever). A path under /sys/fs/bpf with no bpffs there
 * gets one mounted when the caller may (bpffsAncestor). Returns the directories it made, outermost first, so a
 * failure later can remove them (see removeDirs).
 */
export function makePinDirs(dir: string): string[] {
  const created: string[] = [];
  for (const p of missingPinDirs(dir)) {
    try {
      mkdirSync(p);
    } catch (e) {
      removeDirs(created);
      throw new EbpfError(`cannot make pin directory: ${(e as Error).message}`, { file: dir }, { cause: e });
    }
    created.push(p);
  }
  return created;
}

/** Removes directories makePinDirs made (innermost first); one not empty or gone is left. */
export function removeDirs(created: readonly string[]): void {
  for (const d of [...created].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // Not empty or already gone: leave it.
    }
  }
}
