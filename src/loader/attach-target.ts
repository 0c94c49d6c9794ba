// BTF-attached programs (tp_btf, fentry/fexit/fmod_ret, lsm, iter) name their target in the
// section; the kernel wants its type id in vmlinux BTF (attach_btf_id), found as libbpf does.
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

/** The attach_btf_id of `target` in kernel BTF; NotFoundError names what was looked for. */
export function findAttachBtfId(kernel: Btf, attachType: number, target: string): number {
  const { name, kind } = attachTargetName(attachType, target);
  const found = kernel.findByName(name, kind);
  const t = found[0];
  if (t === undefined) {
    throw new NotFoundError(`attach target ${kind} '${name}' not found in kernel BTF`);
  }
  return t.id;
}
