// Errors of the load step: a program the verifier refused (with its log and source line), a
// pinned map that does not match its definition, and any other step that failed.
import type { AppliedCoreRelocation } from '../core/apply.js';
import { formatCoreRelocation, localAccess } from '../core/describe.js';
import { POISON_IMM } from '../core/kinds.js';
import { explainPoisonedLog, poisonedRelocationAt } from '../core/verifier-log.js';
import { HelperFunc, helperFuncName } from '../constants.js';
import { EbpfError, type Location } from '../errors.js';
import { helperRefusalIn } from '../internal/helper-refusal.js';
import { checkArgument } from '../internal/options.js';
import { SyscallError } from '../sys/error.js';

/** The steps of a load, in order: what LoadError.step names. */
export type LoadStep =
  'open' | 'token' | 'kconfig' | 'ksym' | 'btf' | 'map' | 'relocation' | 'core' | 'program' | 'pin';

/** A load step failed; `step` says which. */
export class LoadError extends EbpfError {
  readonly step: LoadStep;
  constructor(step: LoadStep, message: string, location: Location = {}, options?: ErrorOptions) {
    super(message, location, options);
    this.step = step;
  }
}

export interface AtStepOptions {
  /** The message from the error caught; default its own message. */
  message?: (e: EbpfError) => string;
  /**
   * What is turned into a LoadError: a failed syscall (default), or any EbpfError that is not
   * already a LoadError (for a step whose helpers throw their own kinds, such as NotFoundError).
   */
  catches?: 'syscall' | 'ebpf';
}

/**
 * Runs `f` as part of `step` at `location`: a SyscallError it throws (or any EbpfError, see
 * `catches`) becomes a LoadError of that step, the original kept as its cause; anything else passes.
 */
export function atStep<T>(step: LoadStep, location: Location, f: () => T, opts: AtStepOptions = {}): T {
  try {
    return f();
  } catch (e) {
    if (
      e instanceof SyscallError ||
      (opts.catches === 'ebpf' && e instanceof EbpfError && !(e instanceof LoadError))
    ) {
      throw new LoadError(step, opts.message?.(e) ?? e.message, location, { cause: e });
    }
    throw e;
  }
}

/** Where the failing instruction came from, from the program's line_info. */
export interface SourceLine {
  file: string;
  line: number;
  col: number;
  text: string;
}

const TAIL_LINES = 12;

/** What BPF_PROG_LOAD said when it refused a program, and what the loader knows of where. */
export interface VerifierErrorDetails {
  /** The errno's name (EACCES, EINVAL, ...). */
  code: string;
  errno: number;
  /** The verifier's whole log. */
  log: string;
  /** Index of the last instruction the log mentions, if any. */
  failedInstruction?: number | undefined;
  /** That instruction's source line, from line_info. */
  source?: SourceLine | undefined;
  /** The program's applied CO-RE relocations, to name a poisoned one the log reaches. */
  core?: readonly AppliedCoreRelocation[] | undefined;
  /** The program type's short name (`socket_filter`), to say which type may not call a helper. */
  progType?: string | undefined;
  /** The license the program was loaded with, for a GPL-only helper's refusal. */
  license?: string | undefined;
  /** The running kernel's release, for a helper it does not have. */
  kernel?: string | undefined;
}

/** Why the verifier refused a helper call, when that is what its log ends with. */
export interface HelperRefusal {
  /** The helper's id (the call instruction's imm). */
  id: number;
  /** Its name (`bpf_map_lookup_elem`), or undefined for an id no kernel this library knows has. */
  name: string | undefined;
  /**
   * `unknown`: the kernel has no helper with this id (a newer kernel's helper); `program-type`: it
   * has one, but programs of this type may not call it; `gpl`: it is GPL-only and the program's
   * license is not GPL-compatible.
   */
  reason: 'unknown' | 'program-type' | 'gpl';
}

/** The name the kernel gives helper `id` (`bpf_map_lookup_elem`), if any kernel this library knows has it. */
export function helperName(id: number): string | undefined {
  checkArgument('helperName', 'id', id, 'an integer', Number.isInteger(id));
  const name = id > 0 ? helperFuncName(id) : '';
  return name.startsWith('BPF_FUNC_') ? `bpf_${name.slice('BPF_FUNC_'.length)}` : undefined;
}

const LAST_HELPER = Math.max(...Object.values(HelperFunc));

/** Reads the end of a verifier log for a refused helper call (CO-RE's poison id is not a helper). */
function helperRefusal(log: string): HelperRefusal | undefined {
  const h = helperRefusalIn(log, POISON_IMM);
  // The log names no helper it does not know: the library's table may.
  if (h?.reason === 'unknown') h.name = helperName(h.id);
  return h;
}

function explainHelper(h: HelperRefusal, d: VerifierErrorDetails): string {
  const named = h.name !== undefined ? `helper ${h.name} (#${h.id})` : `helper #${h.id}`;
  const kernel = d.kernel !== undefined ? ` (Linux ${d.kernel})` : '';
  switch (h.reason) {
    case 'unknown':
      return h.name !== undefined
        ? `the program calls ${named}, which this kernel${kernel} does not have: it came in a later release`
        : `the program calls ${named}, which this kernel${kernel} does not have (nor any release this library knows: their helpers end at #${LAST_HELPER})`;
    case 'program-type':
      return `${named} is not available to ${d.progType ?? 'this type of'} programs on this kernel${kernel}`;
    case 'gpl':
      return `${named} is GPL-only and the program's license${d.license !== undefined ? ` '${d.license}'` : ''} is not GPL-compatible`;
  }
}

/**
 * BPF_PROG_LOAD refused the program. Keeps the verifier's whole log (`log`); the message shows
 * its tail and, when line_info has it, the source line of the last instruction the verifier saw.
 * When that instruction is one CO-RE poisoned (a relocation the kernel's BTF cannot satisfy, in
 * code the verifier does not prove dead), the message leads with that relocation in C terms and
 * the log tail names it where the kernel says `call unknown#195896080`.
 */
export class VerifierError extends LoadError {
  readonly log: string;
  readonly errno: number;
  readonly code: string;
  /** Index of the last instruction the log mentions (the one that failed), if any. */
  readonly failedInstruction: number | undefined;
  readonly source: SourceLine | undefined;
  /** The CO-RE relocation whose poisoned instruction the verifier reached, if that is why it failed. */
  readonly coreRelocation: AppliedCoreRelocation | undefined;
  /** The helper call the verifier refused, if that is why it failed. */
  readonly helper: HelperRefusal | undefined;

  constructor(program: string, details: VerifierErrorDetails, options?: ErrorOptions) {
    const { code, errno, log, failedInstruction, source, core } = details;
    const poisoned =
      core !== undefined && failedInstruction !== undefined
        ? poisonedRelocationAt(core, program, failedInstruction)
        : undefined;
    const helper = poisoned === undefined ? helperRefusal(log) : undefined;
    const shown = poisoned !== undefined ? explainPoisonedLog(log, core!, program) : log;
    const lines = shown.trimEnd().split('\n');
    const tail = lines.slice(-TAIL_LINES);
    const parts: string[] = [];
    if (poisoned !== undefined) {
      const guard = poisoned.kind.startsWith('FIELD_')
        ? 'bpf_core_field_exists()'
        : poisoned.kind.startsWith('ENUMVAL_')
          ? 'bpf_core_enum_value_exists()'
          : 'bpf_core_type_exists()';
      parts.push(
        `CO-RE relocation #${poisoned.index} (${poisoned.kind} ${localAccess(poisoned)}) cannot be resolved ` +
          `on this kernel and the verifier reached its poisoned instruction (${code}); ` +
          `guard the access with ${guard} where it may be missing`,
      );
      for (const l of formatCoreRelocation(poisoned).split('\n')) parts.push(`  ${l}`);
    } else if (code === 'EAGAIN' && helper === undefined) {
      // The verifier stops with EAGAIN when a signal is pending; the load was retried each time.
      parts.push(
        `the verifier was interrupted by a signal on each of its tries (EAGAIN): not a rejection; ` +
          `something signals this thread more often than the program can be verified`,
      );
    } else {
      const why = helper !== undefined ? `: ${explainHelper(helper, details)}` : '';
      parts.push(`the verifier rejected the program (${code})${why}`);
    }
    if (source !== undefined) {
      parts.push(`  at ${source.file}:${source.line}:${source.col}: ${source.text.trim()}`);
    }
    if (log.trim() !== '') {
      parts.push(
        `  verifier log (${lines.length > TAIL_LINES ? `last ${TAIL_LINES} of ${lines.length} lines` : 'whole'}):`,
      );
      for (const l of tail) parts.push(`    ${l}`);
    }
    const loc: Location = { program };
    if (failedInstruction !== undefined) loc.instruction = failedInstruction;
    if (poisoned !== undefined) loc.typeId = poisoned.relo.typeId;
    super('program', parts.join('\n'), loc, options);
    this.log = log;
    this.errno = errno;
    this.code = code;
    this.failedInstruction = failedInstruction;
    this.source = source;
    this.coreRelocation = poisoned;
    this.helper = helper;
  }
}

/** A pinned map exists but differs from the definition; `differences` reads `KeySize: 4 changed to 8`. */
export class MapIncompatibleError extends LoadError {
  readonly differences: string[];
  readonly path: string;
  constructor(map: string, path: string, differences: string[]) {
    super('map', `pinned map at ${path} is incompatible:\n${differences.map((d) => `  ${d}`).join('\n')}`, {
      map,
    });
    this.differences = differences;
    this.path = path;
  }
}
