// BTF-attached programs (tp_btf, fentry/fexit/fmod_ret, lsm, iter) name their target in the
// section; the kernel wants its type id (attach_btf_id) in vmlinux BTF or, for a function of a
// loaded module, in that module's BTF (with attach_btf_obj_fd), found as libbpf does: vmlinux
// first, then the modules.
import { release } from 'node:os';
import type { Btf } from '../btf/btf.js';
import { AttachType } from '../constants.js';
import { NotFoundError, NotSupportedError } from '../errors.js';
import { versionAtLeast } from '../features/feature.js';

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
  const where = `kernel BTF (vmlinux${searched > 0 ? ` or ${searched} module${searched === 1 ? '' : 's'}' BTF` : ''})`;
  const since = attachType === AttachType.TRACE_ITER ? ITERATOR_VERSIONS[target] : undefined;
  if (since !== undefined && !versionAtLeast(release(), since))
    throw new NotSupportedError(
      `${target} iterators (${name}) require Linux ${since} or later: not in this ${release()} kernel's BTF`,
    );
  throw new NotFoundError(
    `attach target ${kind} '${name}' not found in ${where}${since !== undefined ? ` (${target} iterators came in Linux ${since})` : ''}`,
  );
}

/** The release that brought each iterator (`iter/<name>`, the kernel's `bpf_iter_<name>`). */
export const ITERATOR_VERSIONS: Readonly<Record<string, string>> = {
  task: '5.8',
  task_file: '5.8',
  bpf_map: '5.8',
  netlink: '5.8',
  ipv6_route: '5.8',
  bpf_map_elem: '5.9',
  bpf_sk_storage_map: '5.9',
  bpf_prog: '5.9',
  tcp: '5.9',
  udp: '5.9',
  sockmap: '5.10',
  task_vma: '5.12',
  bpf_link: '5.19',
  unix: '5.19',
  ksym: '6.0',
  cgroup: '6.1',
  kmem_cache: '6.13',
};
