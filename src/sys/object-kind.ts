// What kind of BPF object a descriptor refers to, from the anonymous inode the kernel gave it.
// BPF_OBJ_GET opens any pin, and info commands answer for any kind, so the kind is checked here.
import { readlinkSync } from 'node:fs';
import { EbpfError } from '../errors.js';
import { Fd } from './fd.js';
import { checkArgument } from '../internal/options.js';

export type ObjectKind = 'prog' | 'map' | 'link' | 'btf' | 'other';

// The names the kernel gives each kind's anonymous inode (kernel/bpf/syscall.c, btf.c), as
// /proc/self/fd/N reads them. A link has two: `bpf_link` when it is created (bpf_link_prime),
// `bpf-link` when reopened from a pin or an id (bpf_link_new_fd).
const INODE_KINDS: Readonly<Record<string, ObjectKind>> = {
  'anon_inode:bpf-prog': 'prog',
  'anon_inode:bpf-map': 'map',
  'anon_inode:bpf_link': 'link',
  'anon_inode:bpf-link': 'link',
  'anon_inode:btf': 'btf',
};

const NOUNS: Readonly<Record<ObjectKind, string>> = {
  prog: 'a program',
  map: 'a map',
  link: 'a link',
  btf: 'BTF',
  other: 'not a BPF program, map, link or BTF',
};

/** The kind of object `fd` refers to; 'other' for anything else (a file, a bpf_iter, a token). */
export function objectKind(fd: number): ObjectKind {
  let target: string;
  try {
    target = readlinkSync(`/proc/self/fd/${fd}`);
  } catch (cause) {
    throw new EbpfError(`cannot tell what fd ${fd} is: /proc/self/fd is unreadable`, {}, { cause });
  }
  return INODE_KINDS[target] ?? 'other';
}

/**
 * Throws EbpfError unless `fd` is a `want`, closing `fd` first: the caller was about to take
 * ownership of it. The error is located at `path` (a pin) when given, else names the descriptor.
 */
export function requireObjectKind(fd: Fd, want: ObjectKind, path?: string): void {
  checkArgument('fromFd', 'fd', fd, 'an Fd', fd instanceof Fd);
  let kind: ObjectKind;
  try {
    kind = objectKind(fd.fd);
  } catch (err) {
    fd.close();
    throw err;
  }
  if (kind === want) return;
  const what = path !== undefined ? 'pinned object' : `fd ${fd.fd}`;
  fd.close();
  const is = kind === 'other' ? NOUNS.other : `${NOUNS[kind]}, not ${NOUNS[want]}`;
  throw new EbpfError(`${what} is ${is}`, path !== undefined ? { file: path } : {});
}
