// freplace (BPF_PROG_TYPE_EXT): an extension replaces a global function of a loaded program, so
// its attach target is that program (attach_prog_fd) and the function's FUNC id in its BTF.
import type { Btf } from '../btf/btf.js';
import { NotFoundError, type Location } from '../errors.js';
import type { Program } from '../program/program.js';
import { LoadError } from './errors.js';
import { readKernelBtfObject } from '../sys/kernel-btf.js';
import { sys } from './syscalls.js';

/** The program an extension (`SEC("freplace/<func>")`) replaces a function of. */
export interface AttachTarget {
  /** A loaded program: its handle, or a descriptor the caller keeps open. */
  program: Program | number;
  /** The function to replace; default the one the section names. */
  function?: string;
}

/** What BPF_PROG_LOAD of an extension needs, and what the trace says about it. */
export interface ExtensionTarget {
  progFd: number;
  progId: number;
  btfId: number;
  func: string;
}

export function targetFd(target: AttachTarget): number {
  return typeof target.program === 'number' ? target.program : target.program.fd.fd;
}

/**
 * The BTF a loaded program was loaded with (BPF_OBJ_GET_INFO_BY_FD: btf_id, then
 * BPF_BTF_GET_FD_BY_ID and the BTF's bytes). Split BTF is parsed on vmlinux.
 * LoadError when the program has no BTF (the kernel then refuses extensions of it too).
 */
export function programBtf(progFd: number, loc: Location): { btf: Btf; progId: number } {
  const { info } = sys.progGetInfo(progFd);
  if (info.btf_id === 0) {
    throw new LoadError(
      'program',
      `the target program (id ${info.id}) has no BTF, so no function of it can be replaced`,
      loc,
    );
  }
  const btf = readKernelBtfObject(info.btf_id, `BTF id ${info.btf_id} of program id ${info.id}`, sys);
  return { btf, progId: info.id };
}

/** attach_prog_fd and attach_btf_id for an extension replacing `func` of the target program. */
export function findExtensionTarget(target: AttachTarget, func: string, loc: Location): ExtensionTarget {
  const progFd = targetFd(target);
  const { btf, progId } = programBtf(progFd, loc);
  const found = btf.findByName(func, 'FUNC').find((t) => t.id >= btf.firstTypeId);
  if (found === undefined) {
    throw new LoadError(
      'program',
      `FUNC '${func}' is not in the BTF of the target program (id ${progId})`,
      loc,
      { cause: new NotFoundError(`no FUNC '${func}'`, loc) },
    );
  }
  return { progFd, progId, btfId: found.id, func };
}
