// The error of the CO-RE step: a relocation that cannot be applied at all (as opposed to one that
// resolves to "missing", which poisons its instruction instead).
import { EbpfError, type Location } from '../errors.js';

/** A CO-RE relocation failed hard: bad accessor, ambiguous candidates, unexpected instruction. */
export class CoreError extends EbpfError {
  /** The message without the location prefix. */
  readonly detail: string;
  constructor(detail: string, location: Location = {}, options?: ErrorOptions) {
    super(detail, location, options);
    this.detail = detail;
  }
}
