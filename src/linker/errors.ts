// The linker's error: a conflict or an input it cannot link, naming the files and the symbol.
import { EbpfError } from '../errors.js';

/** Two strong definitions, incompatible extern types, mismatched map definitions, unlinkable input. */
export class LinkError extends EbpfError {}
