// Runs one probe attempt: creates something, closes it, and turns the kernel's refusal into false.
import { E } from '../sys/errno.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';

/** The errnos with which a kernel refuses what it does not know. */
export const NOT_SUPPORTED: readonly number[] = [E.EINVAL, E.E2BIG, E.ENOTSUPP, E.EOPNOTSUPP];

/**
 * True when `create` succeeds (what it made is closed again) or fails with one of `alsoYes`
 * (an errno that proves the kernel understood the request); false for the errnos in `no`;
 * anything else is rethrown, so a missing privilege is never mistaken for a missing feature.
 */
export function attempt(
  create: () => Fd | Fd[] | void,
  opts: { alsoYes?: readonly number[]; no?: readonly number[] } = {},
): boolean {
  try {
    const made = create();
    if (Array.isArray(made)) for (const fd of made) fd.close();
    else made?.close();
    return true;
  } catch (err) {
    if (!(err instanceof SyscallError)) throw err;
    if (opts.alsoYes?.includes(err.errno)) return true;
    if ((opts.no ?? NOT_SUPPORTED).includes(err.errno)) return false;
    throw err;
  }
}
