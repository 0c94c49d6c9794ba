// Linking as libbpf does it: an entry program's code, then every .text subprogram it reaches,
// appended in order of first reference (depth first), with call and callback immediates fixed to
// the appended copies and func_info / line_info / CO-RE records re-based to the linked program.
import {
  BPF_CALL,
  BPF_JMP,
  BPF_LD_IMM64,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  type Instruction,
} from '../asm/index.js';
import type { CoreRelo, FuncInfo, LineInfo } from '../btf/ext.js';
import type { Location } from '../errors.js';
import { RelocationError } from './errors.js';
import type {
  LinkedFunction,
  ProgramCoreRelo,
  ProgramFuncInfo,
  ProgramLineInfo,
  Reference,
  SpecInstruction,
} from './spec.js';

/** A relocation recorded against one instruction of a function, before linking. */
export type FunctionRelo =
  | { type: 'call'; symOff: number }
  | { type: 'subprog_addr'; symOff: number }
  | { type: 'ref'; reference: Reference };

/** One function symbol of an executable section: an entry program, or a subprogram in .text. */
export interface ElfFunction {
  name: string;
  sectionName: string;
  sectionIndex: number;
  /** First slot in the section, and number of slots. */
  start: number;
  length: number;
  global: boolean;
  /** Decoded instructions, `index` relative to the section. */
  instructions: Instruction[];
  /** Relocations by slot index relative to the function's start. */
  relos: Map<number, FunctionRelo>;
}

export interface ExtInfo {
  funcInfo: Map<string, FuncInfo[]>;
  lineInfo: Map<string, LineInfo[]>;
  coreRelos: Map<string, CoreRelo[]>;
}

export interface LinkedProgram {
  instructions: SpecInstruction[];
  linked: LinkedFunction[];
  funcInfo: ProgramFuncInfo[];
  lineInfo: ProgramLineInfo[];
  coreRelos: ProgramCoreRelo[];
}

const CALL = BPF_JMP | BPF_CALL;

/** Records of `sec` that fall inside `fn`, moved to start at `at`; byte offsets become slot indices. */
function rebase<T extends { insnOff: number }>(
  records: readonly T[] | undefined,
  fn: ElfFunction,
  at: number,
) {
  const out: (Omit<T, 'insnOff'> & { insn: number })[] = [];
  for (const r of records ?? []) {
    const slot = r.insnOff / 8;
    if (slot < fn.start || slot >= fn.start + fn.length) continue;
    const { insnOff: _drop, ...rest } = r;
    void _drop;
    out.push({ ...rest, insn: slot - fn.start + at });
  }
  return out;
}

/**
 * Link `main` with the subprograms of `text` (the .text functions, sorted by start) it uses.
 * `location` names the file for errors.
 */
export function linkProgram(
  main: ElfFunction,
  text: readonly ElfFunction[],
  ext: ExtInfo,
  location: Location,
): LinkedProgram {
  const out: LinkedProgram = { instructions: [], linked: [], funcInfo: [], lineInfo: [], coreRelos: [] };
  const placed = new Map<ElfFunction, { at: number; copies: SpecInstruction[] }>();
  let slots = 0;

  const append = (fn: ElfFunction): void => {
    const at = slots;
    const copies: SpecInstruction[] = [];
    for (const insn of fn.instructions) {
      const c: SpecInstruction = insn.clone();
      c.index = insn.index - fn.start + at;
      copies.push(c);
      out.instructions.push(c);
    }
    slots += fn.length;
    placed.set(fn, { at, copies });
    if (fn !== main) out.linked.push({ name: fn.name, start: at, length: fn.length });
    out.funcInfo.push(...rebase(ext.funcInfo.get(fn.sectionName), fn, at));
    out.lineInfo.push(...rebase(ext.lineInfo.get(fn.sectionName), fn, at));
    out.coreRelos.push(...rebase(ext.coreRelos.get(fn.sectionName), fn, at));
  };

  const findText = (slot: number): ElfFunction | undefined =>
    text.find((f) => slot >= f.start && slot < f.start + f.length);

  const relocate = (fn: ElfFunction): void => {
    const { at, copies } = placed.get(fn)!;
    for (const insn of copies) {
      const local = insn.index - at;
      const relo = fn.relos.get(local);
      if (relo?.type === 'ref') insn.reference = relo.reference;
      const isCall = insn.opcode === CALL && insn.src === BPF_PSEUDO_CALL;
      const isFunc =
        insn.opcode === BPF_LD_IMM64 && (relo?.type === 'subprog_addr' || insn.src === BPF_PSEUDO_FUNC);
      if (!isCall && !isFunc) continue;
      const where: Location = {
        ...location,
        section: fn.sectionName,
        program: main.name,
        instruction: fn.start + local,
      };
      if (relo?.type === 'ref') {
        if (relo.reference.kind === 'kfunc') continue;
        throw new RelocationError(`unexpected ${relo.reference.kind} relocation on a call`, where);
      }
      let target: number;
      if (relo?.type === 'call') target = relo.symOff / 8 + insn.imm + 1;
      else if (relo?.type === 'subprog_addr') target = (relo.symOff + insn.imm) / 8;
      else if (isFunc) throw new RelocationError('missing subprogram address relocation', where);
      // A call without relocation is pc-relative inside its section; libbpf looks the target up in .text.
      else target = fn.start + local + insn.imm + 1;
      const sub = findText(target);
      if (sub === undefined) {
        throw new RelocationError(`call to .text instruction ${target}, where no function is`, where);
      }
      if (!placed.has(sub)) {
        append(sub);
        relocate(sub);
      }
      insn.imm = placed.get(sub)!.at - (at + local) - 1;
      if (isFunc) insn.src = BPF_PSEUDO_FUNC;
      insn.reference = { kind: isFunc ? 'func' : 'call', target: sub.name };
    }
  };

  append(main);
  relocate(main);
  return out;
}
