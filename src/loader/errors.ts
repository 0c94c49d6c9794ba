// Errors of the load step: a program the verifier refused (with its log and source line), a
// pinned map that does not match its definition, and any other step that failed.
import { EbpfError, type Location } from '../errors.js';

/** A load step failed; `step` says which (btf, map, relocation, core, program, pin). */
export class LoadError extends EbpfError {
  readonly step: string;
  constructor(step: string, message: string, location: Location = {}, options?: ErrorOptions) {
    super(message, location, options);
    this.step = step;
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

/**
 * BPF_PROG_LOAD refused the program. Keeps the verifier's whole log (`log`); the message shows
 * its tail and, when line_info has it, the source line of the last instruction the verifier saw.
 */
export class VerifierError extends LoadError {
  readonly log: string;
  readonly errno: number;
  readonly code: string;
  /** Index of the last instruction the log mentions (the one that failed), if any. */
  readonly failedInstruction: number | undefined;
  readonly source: SourceLine | undefined;

  constructor(
    program: string,
    code: string,
    errno: number,
    log: string,
    failedInstruction: number | undefined,
    source: SourceLine | undefined,
    options?: ErrorOptions,
  ) {
    const lines = log.trimEnd().split('\n');
    const tail = lines.slice(-TAIL_LINES);
    const parts = [`the verifier rejected the program (${code})`];
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
    super('program', parts.join('\n'), loc, options);
    this.log = log;
    this.errno = errno;
    this.code = code;
    this.failedInstruction = failedInstruction;
    this.source = source;
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
