// Objects listed by id can be gone (unloaded, detached) by the time a listing opens them.
import { SyscallError } from '../sys/error.js';

/**
 * open(), or undefined when the object went away after it was listed (ENOENT). Any other failure
 * (EPERM, a broken descriptor) propagates: a listing that drops what it cannot open would lie.
 */
export function openListed<T>(open: () => T): T | undefined {
  try {
    return open();
  } catch (e) {
    if (e instanceof SyscallError && e.code === 'ENOENT') return undefined;
    throw e;
  }
}
