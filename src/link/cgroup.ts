// cgroup attachment: a program on a cgroup v2 hook (skb ingress/egress, socket creation, connect,
// bind, sendmsg, sysctl, sockopt, device...) for every process in the cgroup and its descendants.
// A bpf_link (BPF_LINK_CREATE, Linux 5.7) where the kernel has one; BPF_PROG_ATTACH with
// BPF_F_ALLOW_MULTI before, or when asked.
import { constants, openSync, readFileSync } from 'node:fs';
import {
  attachTypeName,
  AttachType,
  BPF_F_ALLOW_MULTI,
  BPF_F_ALLOW_OVERRIDE,
  BPF_F_REPLACE,
} from '../constants.js';
import { checkChoice, checkFlags, checkOptionsArgument } from '../internal/options.js';
import { EbpfError, NotFoundError } from '../errors.js';
import type { Program } from '../program/program.js';
import { linkCreate, progAttach, progDetach, progGetFdById, progGetInfo } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import { Fd } from '../sys/fd.js';
import { Link, type Attachment } from './link.js';
import { checkProgramArgument } from './link.js';

/**
 * Cgroup attach types by the names `bpftool cgroup attach` takes (`ingress`, `connect4`, ...); the
 * kernel's own names (`BPF_CGROUP_INET_INGRESS`) are accepted too, see {@link cgroupAttachType}.
 */
export const CGROUP_ATTACH_TYPES: Readonly<Record<string, number>> = {
  ingress: AttachType.CGROUP_INET_INGRESS,
  egress: AttachType.CGROUP_INET_EGRESS,
  sock_create: AttachType.CGROUP_INET_SOCK_CREATE,
  sock_ops: AttachType.CGROUP_SOCK_OPS,
  device: AttachType.CGROUP_DEVICE,
  bind4: AttachType.CGROUP_INET4_BIND,
  bind6: AttachType.CGROUP_INET6_BIND,
  post_bind4: AttachType.CGROUP_INET4_POST_BIND,
  post_bind6: AttachType.CGROUP_INET6_POST_BIND,
  connect4: AttachType.CGROUP_INET4_CONNECT,
  connect6: AttachType.CGROUP_INET6_CONNECT,
  connect_unix: AttachType.CGROUP_UNIX_CONNECT,
  getpeername4: AttachType.CGROUP_INET4_GETPEERNAME,
  getpeername6: AttachType.CGROUP_INET6_GETPEERNAME,
  getpeername_unix: AttachType.CGROUP_UNIX_GETPEERNAME,
  getsockname4: AttachType.CGROUP_INET4_GETSOCKNAME,
  getsockname6: AttachType.CGROUP_INET6_GETSOCKNAME,
  getsockname_unix: AttachType.CGROUP_UNIX_GETSOCKNAME,
  sendmsg4: AttachType.CGROUP_UDP4_SENDMSG,
  sendmsg6: AttachType.CGROUP_UDP6_SENDMSG,
  sendmsg_unix: AttachType.CGROUP_UNIX_SENDMSG,
  recvmsg4: AttachType.CGROUP_UDP4_RECVMSG,
  recvmsg6: AttachType.CGROUP_UDP6_RECVMSG,
  recvmsg_unix: AttachType.CGROUP_UNIX_RECVMSG,
  sysctl: AttachType.CGROUP_SYSCTL,
  getsockopt: AttachType.CGROUP_GETSOCKOPT,
  setsockopt: AttachType.CGROUP_SETSOCKOPT,
  sock_release: AttachType.CGROUP_INET_SOCK_RELEASE,
};

/** True for the attach types that take a cgroup as their target. */
export function isCgroupAttachType(type: number): boolean {
  return attachTypeName(type).startsWith('BPF_CGROUP_') || type === AttachType.LSM_CGROUP;
}

/** An attach type given by bpftool's name (`egress`), the kernel's (`BPF_CGROUP_INET_EGRESS`) or number. */
export function cgroupAttachType(name: string | number): number {
  if (typeof name === 'number') {
    if (!isCgroupAttachType(name)) throw new EbpfError(`${attachTypeName(name)} is not a cgroup attach type`);
    return name;
  }
  const short = CGROUP_ATTACH_TYPES[name];
  if (short !== undefined) return short;
  const kernelName = name.startsWith('BPF_') ? name : `BPF_${name.toUpperCase()}`;
  const key = kernelName.slice(4) as keyof typeof AttachType;
  const t = Object.hasOwn(AttachType, key) ? AttachType[key] : undefined;
  if (t === undefined || !isCgroupAttachType(t)) {
    throw new NotFoundError(
      `unknown cgroup attach type '${name}' (one of ${Object.keys(CGROUP_ATTACH_TYPES).join(', ')})`,
    );
  }
  return t;
}

/** Where cgroup v2 is mounted (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid systems). */
export function cgroup2Mount(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    const [left, right] = line.split(' - ');
    if (right?.split(' ')[0] !== 'cgroup2') continue;
    const mountPoint = left?.split(' ')[4];
    // mountinfo escapes spaces and other odd bytes as \NNN (octal).
    if (mountPoint !== undefined)
      return mountPoint.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

/** Opens a cgroup v2 directory (O_RDONLY | O_DIRECTORY), the descriptor cgroup hooks are named by. */
export function openCgroup(path: string): Fd {
  try {
    return new Fd(openSync(path, constants.O_RDONLY | constants.O_DIRECTORY));
  } catch (err) {
    throw new NotFoundError(`cannot open cgroup ${path}`, { file: path }, { cause: err });
  }
}

export class CgroupLink extends Link {
  readonly cgroup: string;
  readonly attachType: number;

  constructor(fd: Fd, cgroup: string, attachType: number) {
    super(fd);
    this.cgroup = cgroup;
    this.attachType = attachType;
  }
}

/**
 * A program attached with BPF_PROG_ATTACH: not a link, so it stays attached until detached
 * (BPF_PROG_DETACH), even after this process exits. close() detaches.
 */
export class CgroupProgAttachment implements Attachment {
  readonly cgroup: string;
  readonly attachType: number;
  /** The attach flags used: BPF_F_ALLOW_MULTI, BPF_F_ALLOW_OVERRIDE or 0. */
  readonly flags: number;
  readonly #cgroupFd: Fd;
  /** The program's own descriptor: detaching names the program, which the caller may have closed. */
  readonly #programFd: Fd;

  constructor(cgroupFd: Fd, programFd: Fd, cgroup: string, attachType: number, flags: number) {
    this.#cgroupFd = cgroupFd;
    this.#programFd = programFd;
    this.cgroup = cgroup;
    this.attachType = attachType;
    this.flags = flags;
  }

  get closed(): boolean {
    return this.#cgroupFd.closed;
  }

  detach(): void {
    if (this.#cgroupFd.closed) return;
    progDetach({
      target_fd: this.#cgroupFd.fd,
      attach_bpf_fd: this.#programFd.fd,
      attach_type: this.attachType,
    });
  }

  /** Detaches (unless already detached) and releases the cgroup descriptor. Idempotent. */
  close(): void {
    if (this.#cgroupFd.closed) return;
    try {
      this.detach();
    } catch (err) {
      // Already detached by someone else (ENOENT): nothing left to do.
      if (!(err instanceof SyscallError && err.code === 'ENOENT')) throw err;
    } finally {
      this.#cgroupFd.close();
      this.#programFd.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export type CgroupMode = 'auto' | 'link' | 'legacy';

/** The cgroup attach modes, as CgroupOptions.mode takes them. */
export const CGROUP_MODES: readonly CgroupMode[] = ['auto', 'link', 'legacy'];

export interface CgroupOptions {
  /** link: bpf_link only; legacy: BPF_PROG_ATTACH only; auto (default): a link, else legacy. */
  mode?: CgroupMode;
  /** BPF_PROG_ATTACH flags in legacy mode; default BPF_F_ALLOW_MULTI. */
  flags?: number;
}

/**
 * Attaches a cgroup program to the cgroup v2 directory `cgroup` at hook `attachType` (the one the
 * program was loaded for: its expected attach type; `egress`, `connect4`, ... or a number).
 * Programs of other types, or loaded for another hook, are refused by the kernel (EINVAL).
 */
export function attachCgroup(
  program: Program,
  cgroup: string,
  attachType: string | number,
  opts: CgroupOptions = {},
): CgroupLink | CgroupProgAttachment {
  checkProgramArgument('attachCgroup', program);
  checkOptionsArgument('attachCgroup', opts);
  const at = { program: program.name };
  const mode = checkChoice('mode', opts.mode, CGROUP_MODES, at) ?? 'auto';
  const legacyFlags = checkFlags(
    'flags',
    opts.flags,
    BPF_F_ALLOW_OVERRIDE | BPF_F_ALLOW_MULTI | BPF_F_REPLACE,
    at,
  );
  const type = cgroupAttachType(attachType);
  const cg = openCgroup(cgroup);
  const located = (err: unknown): unknown => {
    if (!(err instanceof SyscallError)) return err;
    const hint =
      err.code === 'EINVAL'
        ? `was ${program.name} loaded for ${attachTypeName(type)} (its expected attach type)?`
        : err.hint;
    return new SyscallError(err.command, err.errno, {
      location: { program: program.name, file: cgroup },
      ...(hint !== undefined && { hint }),
    });
  };
  try {
    if (mode !== 'legacy') {
      try {
        const fd = linkCreate({ prog_fd: program.fd.fd, target_fd: cg.fd, attach_type: type });
        cg.close();
        return new CgroupLink(fd, cgroup, type);
      } catch (err) {
        // Before 5.7 there is no BPF_LINK_CREATE (EINVAL, or ENOSYS-like EOPNOTSUPP for cgroups).
        const old = err instanceof SyscallError && (err.code === 'EINVAL' || err.code === 'EOPNOTSUPP');
        if (mode === 'link' || !old) throw located(err);
      }
    }
    const flags = legacyFlags ?? BPF_F_ALLOW_MULTI;
    const own = progGetFdById(progGetInfo(program.fd.fd).info.id);
    try {
      progAttach({ target_fd: cg.fd, attach_bpf_fd: own.fd, attach_type: type, attach_flags: flags });
    } catch (err) {
      own.close();
      throw located(err);
    }
    return new CgroupProgAttachment(cg, own, cgroup, type, flags);
  } catch (err) {
    cg.close();
    throw err;
  }
}
