// Reading an input file (an object, raw BTF) whole, with the project's errors instead of Node's:
// the user named the file, so a missing one, a folder or an unreadable one says which.
import { readFileSync } from 'node:fs';
import { EbpfError, NotFoundError } from '../errors.js';

/** The bytes of `path`; NotFoundError when it does not exist, EbpfError when it cannot be read. */
export function readInputFile(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError('no such file', { file: path }, { cause: e });
    // EISDIR, EACCES, ...: Node's message names the call and the errno, which is what to fix.
    throw new EbpfError(`cannot read: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}
