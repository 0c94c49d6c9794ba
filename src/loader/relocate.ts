// Map, data and kernel-symbol relocation: a program's symbolic references (ProgramSpec keeps them on
// its instructions) turned into descriptors, offsets and BTF ids. Pure: what the kernel objects are
// comes from a resolver, so this runs, and is tested, without a kernel.
import {
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  formatInstruction,
  type Instruction,
} from '../asm/index.js';
import type { Location } from '../errors.js';
import type { SpecInstruction } from '../object/index.js';
import { LoadError } from './errors.js';
import type { ResolvedKsym } from './ksyms.js';
import type { TraceEvent } from './trace.js';

/** The kernel objects references resolve to. */
export interface RelocationResolver {
  /** The descriptor of a map this load created or reused; undefined when there is none. */
  mapFd(name: string): number | undefined;
  /** How a `.ksyms` extern was resolved; undefined for a name that is not an extern. */
  ksym(name: string): ResolvedKsym | undefined;
  /** A module BTF's index in fd_array (never 0), for a kfunc call's `off`. */
  fdArrayIndex(module: string): number;
  /** A descriptor of a module's BTF, for a ksym variable's second half. */
  moduleBtfFd(module: string): number;
  /** Where a map's data starts in its value: an arena's `__arena` globals may not be at 0. */
  dataOffset?(map: string): number;
}

export type RelocationEvent = Extract<TraceEvent, { kind: 'relocation' }>;

/**
 * The program's instructions (copies) with every map, data and kernel reference resolved; calls
 * and function references are left as linking made them. Each patched instruction is reported to
 * `onRelocation` with what it now refers to. LoadError at the instruction for a map that was not
 * created or a name that is not an extern.
 */
export function relocateInstructions(
  program: { name: string; instructions: readonly SpecInstruction[] },
  resolver: RelocationResolver,
  loc: Location,
  onRelocation?: (e: RelocationEvent) => void,
): Instruction[] {
  const out: Instruction[] = [];
  for (const src of program.instructions) {
    const ref = src.reference;
    const insn = src.clone();
    out.push(insn);
    if (ref === undefined || ref.kind === 'call' || ref.kind === 'func') continue;
    const at = { ...loc, program: program.name, instruction: src.index };
    const mapFd = (name: string): number => {
      const fd = resolver.mapFd(name);
      if (fd === undefined) {
        throw new LoadError('relocation', `reference to map '${name}', which was not created`, at);
      }
      return fd;
    };
    // What the patched instruction now refers to, since llvm-objdump's `ld_pseudo r1, 0x1, 0x14`
    // shows neither the map's name nor a data offset (kept in the second half).
    let note: string;
    switch (ref.kind) {
      case 'map':
        insn.src = BPF_PSEUDO_MAP_FD;
        insn.imm = mapFd(ref.map);
        insn.next!.imm = 0;
        note = `map '${ref.map}' fd ${insn.imm}`;
        break;
      case 'data':
      case 'kconfig':
        insn.src = BPF_PSEUDO_MAP_VALUE;
        insn.imm = mapFd(ref.map);
        insn.next!.imm = ref.offset + (ref.kind === 'data' ? (resolver.dataOffset?.(ref.map) ?? 0) : 0);
        note = `map '${ref.map}' fd ${insn.imm} + ${insn.next!.imm}`;
        break;
      case 'kfunc':
      case 'ksym': {
        const r = resolver.ksym(ref.name);
        if (r === undefined) {
          throw new LoadError('relocation', `extern '${ref.name}' is not among the object's externs`, at);
        }
        const where = r.kind === 'btf' ? `${r.module ?? 'vmlinux'} BTF [${r.btfId}]` : '';
        if (ref.kind === 'kfunc') {
          insn.src = BPF_PSEUDO_KFUNC_CALL;
          // libbpf 1.1 leaves a weak kfunc the kernel lacks as imm 0, off 0: the verifier
          // accepts that only in code it proves dead.
          insn.imm = r.kind === 'btf' ? r.btfId : 0;
          insn.off = r.kind === 'btf' && r.module !== undefined ? resolver.fdArrayIndex(r.module) : 0;
          note =
            r.kind === 'btf'
              ? `kfunc '${ref.name}' ${where}${insn.off !== 0 ? `, fd_array[${insn.off}]` : ''}`
              : `kfunc '${ref.name}' not in the kernel (weak): left as imm 0`;
        } else if (r.kind === 'btf') {
          insn.src = BPF_PSEUDO_BTF_ID;
          insn.imm = r.btfId;
          insn.next!.imm = r.module !== undefined ? resolver.moduleBtfFd(r.module) : 0;
          note = `ksym '${ref.name}' ${where}${r.module !== undefined ? `, BTF fd ${insn.next!.imm}` : ''}`;
        } else {
          // A typeless symbol's address, or 0 for a weak one the kernel lacks.
          insn.imm64 = r.kind === 'address' ? r.address : 0n;
          note =
            r.kind === 'address'
              ? `ksym '${ref.name}' address (kallsyms)`
              : `ksym '${ref.name}' not in the kernel (weak): 0`;
        }
        break;
      }
    }
    onRelocation?.({
      kind: 'relocation',
      program: program.name,
      insn: src.index,
      reference: ref,
      before: formatInstruction(src).text,
      after: `${formatInstruction(insn).text}  ; ${note}`,
    });
  }
  return out;
}
