// Removing a pin from a bpffs: the pin is a file, so unlink(2) is the whole of it.
import { unlinkSync } from 'node:fs';
import { EbpfError, type Location } from '../errors.js';

/** Unlinks the pin at `path`; a pin already gone is not an error, any other failure says which. */
export function removePin(path: string, location: Location = {}): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new EbpfError(`cannot remove pin ${path}: ${(err as Error).message}`, location, { cause: err });
    }
  }
}
