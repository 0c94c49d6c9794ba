// struct_ops: a program implements a member of a kernel struct (tcp_congestion_ops.ssthresh). The
// kernel wants the struct's id in vmlinux BTF (attach_btf_id) and the member's index
// (expected_attach_type); the map is created with the kernel's `bpf_struct_ops_<name>` value type.
import type { Btf } from '../btf/btf.js';
import type { MapSpec } from '../object/index.js';
import { LoadError } from './errors.js';

export interface StructOpsTarget {
  /** The struct_ops map that uses the program. */
  map: string;
  /** STRUCT id in kernel BTF. */
  attachBtfId: number;
  /** Index of the member in the kernel's struct. */
  memberIndex: number;
}

/** The kernel struct behind a struct_ops map and its `bpf_struct_ops_<name>` value type. */
export function structOpsKernelTypes(
  kernel: Btf,
  m: MapSpec,
): { typeId: number; valueTypeId: number; valueSize: number } {
  const tname = m.structOps?.typeName ?? '';
  const t = kernel.findByName(tname, 'STRUCT')[0];
  const v = kernel.findByName(`bpf_struct_ops_${tname}`, 'STRUCT')[0];
  if (t?.kind !== 'STRUCT' || v?.kind !== 'STRUCT') {
    throw new LoadError(
      'map',
      `struct_ops: struct '${tname}' (and bpf_struct_ops_${tname}) not found in kernel BTF`,
      { map: m.name },
    );
  }
  return { typeId: t.id, valueTypeId: v.id, valueSize: v.size };
}

/** Program name → its struct_ops target, for every function pointer set in the object's struct_ops maps. */
export function structOpsTargets(maps: readonly MapSpec[], kernel: Btf): Map<string, StructOpsTarget> {
  const out = new Map<string, StructOpsTarget>();
  for (const m of maps) {
    if (m.structOps === undefined) continue;
    const { typeId } = structOpsKernelTypes(kernel, m);
    const kt = kernel.type(typeId);
    if (kt.kind !== 'STRUCT') continue;
    for (const [member, program] of m.structOps.programs) {
      const idx = kt.members.findIndex((x) => x.name === member);
      if (idx < 0) {
        throw new LoadError('program', `struct_ops: kernel struct '${kt.name}' has no member '${member}'`, {
          map: m.name,
          program,
        });
      }
      out.set(program, { map: m.name, attachBtfId: typeId, memberIndex: idx });
    }
  }
  return out;
}
