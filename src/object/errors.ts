// Errors of the object step: a malformed or unsupported relocation, map definition or program layout.
import { EbpfError } from '../errors.js';

/** The object cannot be turned into a spec: a definition or layout libbpf would also refuse. */
export class ObjectError extends EbpfError {}
/** A relocation that is unknown, points into an unknown section, or calls a missing function. */
export class RelocationError extends ObjectError {}
/** A map definition (BTF `.maps` or legacy `maps`) that cannot be read. */
export class MapDefinitionError extends ObjectError {}
