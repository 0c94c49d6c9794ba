// Reading a verifier log for a refused helper call: what the loader's VerifierError explains and
// what the helper probes (features/) answer "not available" from. One reader, so a kernel's new
// wording is taught to both at once.

/** Why the verifier refused a helper call, as its log says. */
export interface HelperRefusalInLog {
  /** The helper's id (the call instruction's imm). */
  id: number;
  /** Its name as the log gives it (`bpf_map_lookup_elem`); undefined for an id the kernel has no name for. */
  name: string | undefined;
  /**
   * `unknown`: the kernel has no helper with this id; `program-type`: it has one, but programs of
   * this type may not call it; `gpl`: it is GPL-only and the program's license is not.
   */
  reason: 'unknown' | 'program-type' | 'gpl';
}

// What the verifier says, by kernel: 5.10-6.1 "unknown func bpf_x#N" for a helper the program
// type may not call, newer kernels "program of this type cannot use helper bpf_x#N"; every kernel
// "invalid func unknown#N" for an id past its helpers.
const UNKNOWN_HELPER = /^invalid func unknown#(\d+)$/m;
const TYPE_REFUSED = /^(?:unknown func|program of this type cannot use helper) (\w+)#(\d+)$/m;
const GPL_REFUSED = /^cannot call GPL-restricted function from non-GPL compatible program$/m;
const CALL_LINE = /^\d+: \(85\) call (\w+)#(\d+)$/gm;
/** The verifier stops at the first refusal: its log's end is where to look. */
const TAIL = 2048;

/**
 * The helper call the end of `log` says the verifier refused, if any. An unknown id equal to
 * `notAHelper` (CO-RE's poison value, which the verifier reports as an unknown helper) is not one.
 */
export function helperRefusalIn(log: string, notAHelper?: number): HelperRefusalInLog | undefined {
  const tail = log.slice(-TAIL);
  const unknown = UNKNOWN_HELPER.exec(tail);
  if (unknown !== null && Number(unknown[1]) !== notAHelper) {
    return { id: Number(unknown[1]), name: undefined, reason: 'unknown' };
  }
  const typed = TYPE_REFUSED.exec(tail);
  if (typed !== null) return { id: Number(typed[2]), name: typed[1], reason: 'program-type' };
  if (GPL_REFUSED.test(tail)) {
    // The helper is the last call the log shows before the refusal.
    const calls = [...tail.matchAll(CALL_LINE)];
    const last = calls[calls.length - 1];
    if (last !== undefined) return { id: Number(last[2]), name: last[1], reason: 'gpl' };
  }
  return undefined;
}
