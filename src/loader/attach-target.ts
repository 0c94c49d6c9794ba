// BTF-attached programs (tp_btf, fentry/fexit/fmod_ret, lsm, iter) name their target in the
// section; the kernel wants its type id (attach_btf_id) in vmlinux BTF or, for a function of a
// loaded module, in that module's BTF (with attach_btf_obj_fd), found as libbpf does: vmlinux
// first, then the modules.
import type { Btf } from '../btf/btf.js';
import { AttachType } from '../constants.js';
import { NotFoundError } from '../errors.js';

/** The name and kind libbpf looks for: `btf_trace_<tp>` typedefs, `bpf_lsm_<hook>`, `bpf_iter_<name>`. */
export function attachTargetName(
  attachType: number,
  target: string,
): { name: string; kind: 'TYPEDEF' | 'FUNC' } {
  switch (attachType) {
    case AttachType.TRACE_RAW_TP:
      return { name: `btf_trace_${target}`, kind: 'TYPEDEF' };
    case AttachType.LSM_MAC:
    case AttachType.LSM_CGROUP:
      return { name: `bpf_lsm_${target}`, kind: 'FUNC' };
    case AttachType.TRACE_ITER:
      return { name: `bpf_iter_${target}`, kind: 'FUNC' };
    default:
      return { name: target, kind: 'FUNC' };
  }
}

/** A module's BTF, split on vmlinux: its own types are numbered after vmlinux's. */
export interface ModuleBtf {
  name: string;
  btf: Btf;
}

/** Where an attach target was found: its type id, and the module whose BTF has it (none: vmlinux). */
export interface AttachBtfTarget {
  btfId: number;
  module?: string;
}

/**
 * The attach_btf_id of `target`: in vmlinux BTF, else in the modules' BTF (each module's own
 * types, in the order given). NotFoundError names what was looked for and where.
 */
export function findAttachBtfId(
  kernel: Btf,
  attachType: number,
  target: string,
  modules: Iterable<ModuleBtf> = [],
): AttachBtfTarget {
  const { name, kind } = attachTargetName(attachType, target);
  const t = kernel.findByName(name, kind)[0];
  if (t !== undefined) return { btfId: t.id };
  let searched = 0;
  for (const m of modules) {
    searched++;
    // findByName on split BTF also sees the base, which was searched above.
    const own = m.btf.findByName(name, kind).find((x) => x.id >= m.btf.firstTypeId);
    if (own !== undefined) return { btfId: own.id, module: m.name };
  }
  throw new NotFoundError(
    `attach target ${kind} '${name}' not found in kernel BTF (vmlinux${searched > 0 ? ` or ${searched} module${searched === 1 ? '' : 's'}' BTF` : ''})`,
  );
}
