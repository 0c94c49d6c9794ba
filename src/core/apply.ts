// Applying a linked program's CO-RE relocations to its instructions: resolve each against the
// target, patch or poison its instruction, and keep a record of what was done for explaining
// and tracing. Works on slot indices, so subprogram copies are relocated in every program.
import type { Instruction } from '../asm/index.js';
import type { Btf } from '../btf/btf.js';
import { EbpfError, type Location } from '../errors.js';
import { searchCandidatesAhead } from './candidates.js';
import { CoreError } from './errors.js';
import { CoreReloKind } from './kinds.js';
import { kindName } from './kinds.js';
import { patchInstruction } from './patch.js';
import {
  resolveRelocation,
  type CandidateCache,
  type CoreRelocationRecord,
  type CoreResolution,
} from './resolve.js';
import { kernelTarget, type CoreTarget } from './target.js';

/** A CO-RE relocation of a linked program: `insn` is the slot index in the program. */
export interface ProgramCoreRelocation extends CoreRelocationRecord {
  insn: number;
}

/** What CO-RE needs of a program; an object's ProgramSpec has this shape. */
export interface CoreProgram {
  name: string;
  instructions: Instruction[];
  coreRelos: readonly ProgramCoreRelocation[];
}

/** One relocation as applied: what it resolved to and the instruction before and after. */
export interface AppliedCoreRelocation {
  program: string;
  /** Slot index in the linked program. */
  insn: number;
  /** Index of the relocation in the program's list. */
  index: number;
  relo: ProgramCoreRelocation;
  kind: string;
  /** Undefined when the relocation failed before resolving (see `error`). */
  resolution: CoreResolution | undefined;
  /** A hard failure (ambiguous, bad accessor, unexpected instruction). */
  error: CoreError | undefined;
  /** A copy of the instruction as compiled. */
  before: Instruction | undefined;
  /** What replaced it (the same instruction patched, or poison calls). */
  after: Instruction[];
  poisoned: boolean;
  /** The local BTF, for describing the access. */
  localBtf: Btf;
}

export interface ApplyCoreOptions {
  /** Where to find target types; default the running kernel (vmlinux, then modules). */
  target?: CoreTarget;
  /** Byte order of the program; default the local BTF's. */
  littleEndian?: boolean;
  /** Share candidate searches between the programs of one object. */
  cache?: CandidateCache;
  /** Keep going after a hard failure and report it in the record (for `core explain`). */
  collectErrors?: boolean;
  /** For error locations. */
  file?: string;
  /**
   * Local type ids of the object's other relocations (coreSearchIds of its programs): their
   * candidates are searched for in the same pass over the target as this program's, so that an
   * object's searches cost one pass over an unindexed target BTF instead of one each.
   */
  alsoSearch?: Iterable<number>;
}

/** The local type ids whose candidates the relocations of `programs` search for. */
export function coreSearchIds(programs: Iterable<Pick<CoreProgram, 'coreRelos'>>): number[] {
  const ids = new Set<number>();
  for (const p of programs) {
    for (const r of p.coreRelos) if (r.kind !== CoreReloKind.TYPE_ID_LOCAL) ids.add(r.typeId);
  }
  return [...ids];
}

/** Slot index → position in the instruction array. */
function slotPositions(insns: readonly Instruction[]): Map<number, number> {
  const m = new Map<number, number>();
  let slot = 0;
  for (let i = 0; i < insns.length; i++) {
    m.set(slot, i);
    slot += insns[i]!.size / 8;
  }
  return m;
}

function located(e: unknown, loc: Location): CoreError {
  if (e instanceof CoreError) return new CoreError(e.detail, { ...e.location, ...loc }, { cause: e });
  if (e instanceof EbpfError) return new CoreError(e.message, loc, { cause: e });
  throw e;
}

/**
 * Apply every CO-RE relocation of `program` (a linked program: its code and its subprograms')
 * in place. Relocations that cannot be resolved poison their instruction; a hard failure throws
 * CoreError (or, with `collectErrors`, is recorded and the instruction left as it was).
 */
export function applyCoreRelocations(
  program: CoreProgram,
  localBtf: Btf,
  opts: ApplyCoreOptions = {},
): AppliedCoreRelocation[] {
  const target = opts.target ?? kernelTarget();
  const cache = opts.cache ?? new Map();
  const insns = program.instructions;
  const positions = slotPositions(insns);
  // The candidate searches of this program's relocations (and the other programs' given) in one
  // pass, before the relocations ask for them one by one.
  const ahead = new Set<number>();
  for (const r of program.coreRelos) {
    if (r.kind !== CoreReloKind.TYPE_ID_LOCAL && !cache.has(r.typeId)) ahead.add(r.typeId);
  }
  for (const id of opts.alsoSearch ?? []) if (!cache.has(id)) ahead.add(id);
  if (ahead.size > 0) searchCandidatesAhead(localBtf, ahead, target);
  const out: AppliedCoreRelocation[] = [];
  const replacements: { at: number; with: Instruction[] }[] = [];

  program.coreRelos.forEach((relo, index) => {
    const loc: Location = { program: program.name, instruction: relo.insn, typeId: relo.typeId };
    if (opts.file !== undefined) loc.file = opts.file;
    const rec: AppliedCoreRelocation = {
      program: program.name,
      insn: relo.insn,
      index,
      relo,
      kind: kindName(relo.kind),
      resolution: undefined,
      error: undefined,
      before: undefined,
      after: [],
      poisoned: false,
      localBtf,
    };
    out.push(rec);
    try {
      const at = positions.get(relo.insn);
      if (at === undefined)
        throw new CoreError(`relocation points at slot ${relo.insn}, which is not an instruction start`);
      const insn = insns[at]!;
      rec.before = insn.clone();
      const resolveOpts = {
        cache,
        ...(opts.littleEndian !== undefined ? { littleEndian: opts.littleEndian } : {}),
      };
      rec.resolution = resolveRelocation(localBtf, relo, target, resolveOpts);
      const work = insn.clone();
      const after = patchInstruction(work, rec.resolution.values);
      rec.poisoned = after[0] !== work;
      for (const a of after) a.index = insn.index;
      if (after.length === 2) after[1]!.index = insn.index + 1;
      rec.after = after;
      if (rec.poisoned) replacements.push({ at, with: after });
      else {
        insn.opcode = work.opcode;
        insn.off = work.off;
        insn.imm = work.imm;
        if (work.next && insn.next) insn.next.imm = work.next.imm;
        rec.after = [insn.clone()];
      }
    } catch (e) {
      const err = located(e, loc);
      if (!opts.collectErrors) throw err;
      rec.error = err;
    }
  });

  // Poisoned instructions are replaced last: an ld_imm64 becomes two slots, moving array positions.
  replacements.sort((a, b) => b.at - a.at);
  for (const r of replacements) {
    const old = insns[r.at]!;
    // Keep the object identity of the first slot (callers may hold it), with the poison's fields.
    const first = r.with[0]!;
    old.opcode = first.opcode;
    old.dst = first.dst;
    old.src = first.src;
    old.off = first.off;
    old.imm = first.imm;
    old.next = undefined;
    if ('reference' in old) delete (old as { reference?: unknown }).reference;
    insns.splice(r.at, 1, old, ...r.with.slice(1));
  }
  return out;
}
