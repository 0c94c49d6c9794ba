// BPF tokens (Linux 6.9): where an unprivileged user namespace is given a BPF filesystem mounted
// with delegation options (delegate_cmds, delegate_maps, delegate_progs, delegate_attachs), a
// token made from it (BPF_TOKEN_CREATE) carries those rights into BPF_BTF_LOAD, BPF_MAP_CREATE
// and BPF_PROG_LOAD. Found as libbpf finds it: `tokenPath`, else LIBBPF_BPF_TOKEN_PATH, else an
// optional try of /sys/fs/bpf; an empty path means no token.
import { closeSync, openSync, constants } from 'node:fs';
import { haveFeature, TOKEN } from '../features/index.js';
import type { Location } from '../errors.js';
import { E } from '../sys/errno.js';
import { SyscallError, isErrno } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { LoadError } from './errors.js';
import { sys } from './syscalls.js';
import type { TraceEvent } from './trace.js';

/** Where libbpf looks for a token when told nothing. */
export const DEFAULT_TOKEN_PATH = '/sys/fs/bpf';

/**
 * Set when the optional try can never succeed in this process: BPF_TOKEN_CREATE answered
 * EOPNOTSUPP (the process is in the initial user namespace, where the kernel makes no token from
 * any bpffs; a process cannot leave its user namespace once it has threads, and Node always
 * has), or EINVAL from a kernel without the command (before 6.9). The optional try is then
 * skipped, rather than paying an open, a syscall and an error on every load.
 */
let neverToken = false;

/** The bpffs a load takes its token from, and whether it must: undefined for none. */
export function tokenSource(tokenPath: string | undefined): { path: string; mandatory: boolean } | undefined {
  const given = tokenPath ?? process.env.LIBBPF_BPF_TOKEN_PATH;
  if (given === '') return undefined;
  return given !== undefined
    ? { path: given, mandatory: true }
    : { path: DEFAULT_TOKEN_PATH, mandatory: false };
}

/**
 * A token for one load, or undefined. A token asked for (option or environment) that cannot be
 * made is a LoadError saying why; the optional try of /sys/fs/bpf fails quietly (a trace warning),
 * as libbpf's does.
 */
export function openToken(
  tokenPath: string | undefined,
  loc: Location,
  trace: (e: TraceEvent) => void,
): Fd | undefined {
  const src = tokenSource(tokenPath);
  if (src === undefined) return undefined;
  const { path, mandatory } = src;
  if (!mandatory && neverToken) return undefined;
  const refuse = (why: string, cause?: unknown): undefined => {
    if (mandatory)
      throw new LoadError('token', `cannot make a BPF token from '${path}': ${why}`, loc, { cause });
    return undefined;
  };
  let dir: number;
  try {
    dir = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    return refuse(`cannot open it (${(e as NodeJS.ErrnoException).code})`, e);
  }
  try {
    const fd = sys.tokenCreate(dir);
    trace({ kind: 'token', path, fd: fd.fd });
    return fd;
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
    if (isErrno(e, E.EOPNOTSUPP) || (isErrno(e, E.EINVAL) && !haveFeature(TOKEN))) neverToken = true;
    return refuse(tokenRefusal(e), e);
  } finally {
    closeSync(dir);
  }
}

/** What BPF_TOKEN_CREATE's errno means for the path a user gave. */
function tokenRefusal(e: SyscallError): string {
  if (isErrno(e, E.EINVAL) && !haveFeature(TOKEN)) return 'BPF tokens need Linux 6.9';
  if (isErrno(e, E.ENOENT))
    return 'the BPF filesystem there has no delegation (mount it with delegate_cmds, delegate_maps, delegate_progs, delegate_attachs)';
  if (isErrno(e, E.EINVAL)) return 'not the root of a BPF filesystem (EINVAL)';
  if (isErrno(e, E.EOPNOTSUPP)) return 'tokens are not made in the initial user namespace (EOPNOTSUPP)';
  if (isErrno(e, E.EPERM))
    return 'the BPF filesystem belongs to another user namespace, or this one lacks CAP_BPF in it (EPERM)';
  return e.message;
}
