// Naming poisoned relocations in a verifier log: when the verifier reaches a poisoned
// instruction it says "invalid func unknown#195896080"; this says which relocation it was, in C.
import type { AppliedCoreRelocation } from './apply.js';
import { localAccess } from './describe.js';
import { POISON_IMM } from './kinds.js';

const CALL_LINE = new RegExp(`^(\\d+): \\(85\\) call unknown#${POISON_IMM}$`);
const INVALID_LINE = `invalid func unknown#${POISON_IMM}`;

/** The relocation that poisoned slot `insn` of `program` (either half of an ld_imm64). */
export function poisonedRelocationAt(
  applied: readonly AppliedCoreRelocation[],
  program: string | undefined,
  insn: number,
): AppliedCoreRelocation | undefined {
  return applied.find(
    (r) =>
      r.poisoned &&
      (program === undefined || r.program === program) &&
      (r.insn === insn || (r.after.length === 2 && r.insn + 1 === insn)),
  );
}

/**
 * Rewrite a verifier log that hit a poisoned instruction: the call line becomes
 * `N: <invalid CO-RE relocation>` and the error line names the relocation and why it failed.
 * A log without poisoned instructions comes back unchanged.
 */
export function explainPoisonedLog(
  log: string,
  applied: readonly AppliedCoreRelocation[],
  program?: string,
): string {
  const lines = log.split('\n');
  let last: AppliedCoreRelocation | undefined;
  let lastInsn = -1;
  for (let i = 0; i < lines.length; i++) {
    const m = CALL_LINE.exec(lines[i]!);
    if (m) {
      lastInsn = Number(m[1]);
      last = poisonedRelocationAt(applied, program, lastInsn);
      lines[i] = `${lastInsn}: <invalid CO-RE relocation>`;
      continue;
    }
    if (lines[i] === INVALID_LINE) {
      const r = last;
      lines[i] = r
        ? `failed to resolve CO-RE relocation #${r.index} at insn ${lastInsn}: ${r.kind} ${localAccess(r)} ` +
          `(local type [${r.relo.typeId}], "${r.relo.accessStr}"): ${r.resolution?.reason ?? 'not resolvable on this kernel'}`
        : `failed to resolve a CO-RE relocation at insn ${lastInsn} (poisoned instruction reached)`;
    }
  }
  return lines.join('\n');
}
