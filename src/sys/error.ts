// SyscallError: a failed system call, named by command and errno (`BPF_MAP_CREATE: EPERM`), with
// a hint where the errno usually means one thing (missing privilege, kernel too old).
import { readFileSync } from 'node:fs';
import { EbpfError, type Location } from '../errors.js';
import { E, errnoMessage, errnoName } from './errno.js';
import { chargedMemlockLimit } from './memlock.js';

/** The commands whose objects kernels before 5.11 charge to RLIMIT_MEMLOCK. */
const CHARGED = new Set(['BPF_MAP_CREATE', 'BPF_PROG_LOAD', 'BPF_BTF_LOAD']);

function memlockHint(command: string): string | undefined {
  if (!CHARGED.has(command)) return undefined;
  const limit = chargedMemlockLimit();
  if (limit === undefined) return undefined;
  return (
    `RLIMIT_MEMLOCK (ulimit -l: ${limit / 1024n} KiB) is too low: this kernel (before 5.11) charges BPF ` +
    'maps and programs to it; raise it (ulimit -l unlimited, or LimitMEMLOCK=infinity in a systemd unit) ' +
    'or run with CAP_SYS_RESOURCE, with which the loader raises it itself'
  );
}

export interface SyscallErrorOptions {
  location?: Location;
  /** Replaces the generic hint for this errno. */
  hint?: string;
  /** The verifier or BTF log, whole, when the command produced one. */
  log?: string;
}

function defaultHint(command: string, errno: number): string | undefined {
  const bpf = command.startsWith('BPF_');
  // The verifier reports most rejections as EACCES or EINVAL; the log says why, not the errno.
  if (command === 'BPF_PROG_LOAD' && (errno === E.EACCES || errno === E.EINVAL)) {
    return 'the verifier rejected the program; its log says why';
  }
  switch (errno) {
    case E.EPERM: {
      if (!bpf) return undefined;
      const memlock = memlockHint(command);
      // Root already has every capability: then EPERM is the kernel's own refusal, which for
      // trampoline programs (fentry/fexit/fmod_ret/lsm/freplace) is a kernel that cannot make them.
      if (process.geteuid?.() === 0) {
        if (memlock !== undefined) return memlock;
        if (inUserNamespace())
          return 'root of a user namespace, which has no BPF privileges of its own: load through a BPF token (tokenPath, LIBBPF_BPF_TOKEN_PATH) from a bpffs that delegates this';
        return command === 'BPF_PROG_LOAD'
          ? 'refused although running as root: lockdown, or for fentry/fexit/fmod_ret/lsm/freplace a kernel that cannot build BPF trampolines'
          : 'refused although running as root (lockdown, an LSM, or unprivileged-BPF settings)';
      }
      const caps =
        'needs CAP_BPF (plus CAP_PERFMON or CAP_NET_ADMIN for some program types) or CAP_SYS_ADMIN';
      return memlock !== undefined ? `${caps}; or else ${memlock}` : caps;
    }
    case E.E2BIG:
      return bpf
        ? 'the kernel does not know a field set in bpf_attr: it is too old for this feature'
        : undefined;
    case E.EINVAL:
      return bpf ? 'an invalid argument, or a flag or type that this kernel does not know' : undefined;
    case E.ENOSYS:
      return 'the kernel was built without this system call';
    case E.ENOTSUPP:
    case E.EOPNOTSUPP:
      return 'not supported by this kernel or device';
    default:
      return undefined;
  }
}

export class SyscallError extends EbpfError {
  /** The command or call: `BPF_MAP_CREATE`, `perf_event_open`, `mmap`. */
  readonly command: string;
  /** Positive errno number. */
  readonly errno: number;
  /** Errno name, as Node names it on system errors: `ENOENT`. */
  readonly code: string;
  readonly hint: string | undefined;
  readonly log: string | undefined;

  constructor(command: string, errno: number, opts: SyscallErrorOptions = {}) {
    const code = errnoName(errno);
    const hint = opts.hint ?? defaultHint(command, errno);
    const msg = `${command}: ${code} (${errnoMessage(errno)})${hint !== undefined ? `: ${hint}` : ''}`;
    super(msg, opts.location ?? {});
    this.command = command;
    this.errno = errno;
    this.code = code;
    this.hint = hint;
    this.log = opts.log;
  }
}

/** True when `err` is a SyscallError with this errno. */
export function isErrno(err: unknown, errno: number): boolean {
  return err instanceof SyscallError && err.errno === errno;
}

/** Whether this process is in a user namespace other than the initial one (whose map is the identity). */
function inUserNamespace(): boolean {
  try {
    return readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).join(' ') !== '0 0 4294967295';
  } catch {
    return false;
  }
}
