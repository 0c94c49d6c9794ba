// Reading the verifier log: which instruction it stopped at, and the source line that made it.
import type { ProgramLineInfo } from '../object/index.js';
import type { SourceLine } from './errors.js';

// Instruction lines look like `12: (85) call bpf_map_lookup_elem#1` or `12: R0_w=...`.
const INSN_LINE = /^(\d+): (?:\([0-9a-f]{2}\)|R\d)/;

/** The index of the last instruction the log mentions, which is where verification stopped. */
export function lastInstruction(log: string): number | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = INSN_LINE.exec(lines[i]!);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** The line_info record covering instruction `insn`: the last one starting at or before it. */
export function sourceOf(lineInfo: readonly ProgramLineInfo[], insn: number): SourceLine | undefined {
  let best: ProgramLineInfo | undefined;
  for (const l of lineInfo) {
    if (l.insn <= insn && (best === undefined || l.insn >= best.insn)) best = l;
  }
  if (best === undefined) return undefined;
  return { file: best.fileName, line: best.line, col: best.col, text: best.lineText };
}
