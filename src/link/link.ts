// Link: the handle on one bpf_link, the kernel object that keeps a program attached to a hook for
// as long as a descriptor, a pin or (for some kinds) the hook itself holds it. Attach kinds extend it.
import {
  attachTypeName,
  BPF_F_REPLACE,
  linkTypeName,
  LinkType,
  progTypeName,
  type ProgType,
} from '../constants.js';
import { EbpfError } from '../errors.js';
import { checkArgument, isHandle, isObjectId, isPath } from '../internal/options.js';
import { removePin } from '../internal/pin.js';
import type { Program } from '../program/program.js';
import {
  linkDetach,
  linkGetFdById,
  linkGetInfo,
  linkGetNextId,
  linkUpdate,
  objGet,
  pinObject,
} from '../sys/bpf.js';
import type { Fd } from '../sys/fd.js';
import { requireObjectKind } from '../sys/object-kind.js';

export interface LinkInfo {
  id: number;
  type: LinkType;
  /** BPF_LINK_TYPE_XDP, ... */
  typeName: string;
  /** The program the link holds (XDP and tcx links keep naming it after detach). */
  progId: number;
  /** The device, for XDP, tcx and netkit links; 0 once detached. */
  ifindex?: number;
  /** The attach type, for kinds whose info carries one (tcx, cgroup, netns, tracing, ...). */
  attachType?: number;
  /** BPF_TCX_INGRESS, ... */
  attachTypeName?: string;
}

/** Something attached that can be taken off again: a bpf_link, or a tc filter on older kernels. */
export interface Attachment extends Disposable {
  /** Takes the program off its hook. */
  detach(): void;
  /** Releases what this process holds; for a link without pin that also detaches. */
  close(): void;
}

/** An OptionError unless `program` is a loaded program (a Program, or an object with its fd and type). */
export function checkProgramArgument(call: string, program: unknown): asserts program is Program {
  checkArgument(
    call,
    'program',
    program,
    'a Program (from a LoadedObject, or Program.fromFd/fromId/fromPin)',
    isHandle(program) && typeof (program as { type?: unknown }).type === 'number',
  );
}

/**
 * Throws unless `program` has one of `types`. The kernel refuses a wrong type too, but with a bare
 * EINVAL that names neither the program nor what the hook takes.
 */
export function requireProgramType(program: Program, what: string, ...types: ProgType[]): void {
  checkProgramArgument('attach', program);
  if (types.includes(program.type)) return;
  throw new EbpfError(`not ${what} program (${progTypeName(program.type)})`, { program: program.name });
}

/** Decodes struct bpf_link_info: the common part and the kind-specific part we know. */
export function linkInfoOf(fd: number): LinkInfo {
  const i = linkGetInfo(fd);
  const type = i.type as LinkType;
  const out: LinkInfo = { id: i.id, type, typeName: linkTypeName(type), progId: i.prog_id };
  const withAttach = (t: number): void => {
    out.attachType = t;
    out.attachTypeName = attachTypeName(t);
  };
  switch (type) {
    case LinkType.XDP:
      out.ifindex = i.xdp_ifindex;
      break;
    case LinkType.TCX:
      out.ifindex = i.tcx_ifindex;
      withAttach(i.tcx_attach_type);
      break;
    case LinkType.NETKIT:
      out.ifindex = i.netkit_ifindex;
      withAttach(i.netkit_attach_type);
      break;
    case LinkType.CGROUP:
      withAttach(i.cgroup_attach_type);
      break;
    case LinkType.NETNS:
      withAttach(i.netns_attach_type);
      break;
    case LinkType.TRACING:
      withAttach(i.tracing_attach_type);
      break;
    default:
      break;
  }
  return out;
}

/** The ids of all links, in ascending order (BPF_LINK_GET_NEXT_ID). Requires Linux 5.8. */
export function* linkIds(): Generator<number> {
  for (let id = linkGetNextId(0); id !== undefined; id = linkGetNextId(id)) yield id;
}

export class Link implements Attachment {
  readonly #fd: Fd;
  #pinnedAt: string | undefined;

  /** Takes ownership of a bpf_link descriptor; any other descriptor is closed and an EbpfError. */
  constructor(fd: Fd) {
    requireObjectKind(fd, 'link');
    this.#fd = fd;
  }

  /** Opens a link by id (BPF_LINK_GET_FD_BY_ID; needs CAP_SYS_ADMIN). Requires Linux 5.8. */
  static fromId(id: number): Link {
    checkArgument('Link.fromId', 'id', id, 'a link id (an integer from 1 to 2^32-1)', isObjectId(id));
    return new Link(linkGetFdById(id));
  }

  /** Opens the link pinned at `path` (BPF_OBJ_GET); another kind of pin is an EbpfError. */
  static fromPin(path: string): Link {
    checkArgument('Link.fromPin', 'path', path, 'a path in a bpffs', isPath(path));
    const fd = objGet(path);
    requireObjectKind(fd, 'link', path);
    const l = new Link(fd);
    l.#pinnedAt = path;
    return l;
  }

  get fd(): Fd {
    if (this.#fd.closed) throw new EbpfError('link is closed');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd.closed;
  }

  get pinnedAt(): string | undefined {
    return this.#pinnedAt;
  }

  /** BPF_OBJ_GET_INFO_BY_FD on the link: id, type, program, device and attach type. */
  info(): LinkInfo {
    return linkInfoOf(this.fd.fd);
  }

  /**
   * Swaps the attached program without a gap (BPF_LINK_UPDATE). With `oldProgram`, only when that
   * is still the one attached (BPF_F_REPLACE), else EPERM. Requires Linux 5.7 (XDP links 5.9).
   */
  update(newProgram: Program, opts: { oldProgram?: Program } = {}): void {
    const old = opts.oldProgram;
    linkUpdate(this.fd.fd, newProgram.fd.fd, old ? { oldProgFd: old.fd.fd, flags: BPF_F_REPLACE } : {});
  }

  /**
   * Detaches the program while the link object lives on, defunct (BPF_LINK_DETACH): pins and
   * other descriptors no longer keep it attached. Requires Linux 5.9.
   */
  detach(): void {
    linkDetach(this.fd.fd);
  }

  /** Pins the link in a bpffs: the program stays attached after this process exits. */
  pin(path: string): void {
    pinObject(this.fd.fd, path);
    this.#pinnedAt = path;
  }

  /** Removes the pin; once the last descriptor closes the link goes, detaching the program. */
  unpin(): void {
    const path = this.#pinnedAt;
    if (path === undefined) return;
    removePin(path);
    this.#pinnedAt = undefined;
  }

  /** Closes this descriptor; without pins or other descriptors that detaches. Idempotent. */
  close(): void {
    this.#fd.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
