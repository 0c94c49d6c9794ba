// struct_ops: a program implements a member of a kernel struct (tcp_congestion_ops.ssthresh). The
// kernel wants the struct's id in vmlinux BTF (attach_btf_id) and the member's index
// (expected_attach_type); the map is created with the kernel's `bpf_struct_ops_<name>` value type.
import type { Btf } from '../btf/btf.js';
import type { Location } from '../errors.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
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
  // A `___flavor` suffix lets one object hold several local layouts of one kernel struct.
  const tname = (m.structOps?.typeName ?? '').replace(/___.*$/, '');
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

const isFuncPointer = (btf: Btf, id: number): boolean => {
  const t = btf.resolve(id);
  return t.kind === 'PTR' && btf.resolve(t.type).kind === 'FUNC_PROTO';
};

/**
 * The kernel value of a struct_ops map: its `bpf_struct_ops_<name>` with the object's struct laid
 * into the `data` member, member by member by name, as libbpf builds it. Data members are copied
 * (their sizes must agree); function pointers become the descriptors of the programs they name
 * (`programFd` says undefined for one not loaded, which is an error). A member the kernel's struct
 * lacks is an error unless the object leaves it zero; kinds that differ (a pointer for an int) and
 * bitfields are errors naming the member and its type id in the object's BTF.
 */
export function structOpsValue(
  kernel: Btf,
  objectBtf: Btf,
  m: MapSpec,
  programFd: (name: string) => number | undefined,
): Uint8Array {
  const { typeId, valueTypeId, valueSize } = structOpsKernelTypes(kernel, m);
  const kt = kernel.type(typeId);
  const vt = kernel.type(valueTypeId);
  const local = objectBtf.resolve(m.valueTypeId);
  if (kt.kind !== 'STRUCT' || vt.kind !== 'STRUCT' || local.kind !== 'STRUCT')
    throw new LoadError('map', `struct_ops: '${m.structOps?.typeName ?? ''}' is not a struct`, {
      map: m.name,
    });
  const dataMember = vt.members.find((x) => x.name === 'data');
  if (dataMember === undefined)
    throw new LoadError('map', `struct_ops: kernel ${vt.name} has no 'data' member`, { map: m.name });
  const dataOff = dataMember.bitsOffset / 8;
  const value = new Uint8Array(valueSize);
  const view = new DataView(value.buffer);
  const src = m.contents ?? new Uint8Array(m.valueSize);
  for (const lm of local.members) {
    const where: Location = { map: m.name, typeId: lm.type };
    const fail = (why: string): LoadError =>
      new LoadError('map', `struct_ops ${local.name}.${lm.name}: ${why}`, where);
    if (lm.bitfieldSize !== 0 || lm.bitsOffset % 8 !== 0) throw fail('bitfield members are not supported');
    const lsize = objectBtf.sizeof(lm.type);
    const loff = lm.bitsOffset / 8;
    const bytes = src.subarray(loff, loff + lsize);
    const km = kt.members.find((x) => x.name === lm.name);
    const program = m.structOps?.programs.get(lm.name);
    if (km === undefined) {
      if (program === undefined && bytes.every((b) => b === 0)) continue;
      throw fail(`the kernel's struct ${kt.name} [${typeId}] has no such member`);
    }
    if (km.bitfieldSize !== 0 || km.bitsOffset % 8 !== 0)
      throw fail(`the kernel's member is a bitfield [${km.type}]`);
    const lkind = objectBtf.resolve(lm.type).kind;
    const kkind = kernel.resolve(km.type).kind;
    if (lkind !== kkind)
      throw fail(`a ${lkind} in the object [${lm.type}], a ${kkind} in the kernel [${km.type}]`);
    const koff = dataOff + km.bitsOffset / 8;
    if (isFuncPointer(objectBtf, lm.type)) {
      if (!isFuncPointer(kernel, km.type))
        throw fail(`a function pointer in the object, not in the kernel [${km.type}]`);
      if (program === undefined) continue;
      const fd = programFd(program);
      if (fd === undefined) throw fail(`its program '${program}' was not loaded`);
      view.setBigUint64(koff, BigInt(fd), HOST_LITTLE_ENDIAN);
      continue;
    }
    const ksize = kernel.sizeof(km.type);
    if (ksize !== lsize)
      throw fail(`${lsize} bytes in the object [${lm.type}], ${ksize} in the kernel [${km.type}]`);
    value.set(bytes, koff);
  }
  return value;
}
