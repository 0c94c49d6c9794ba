// The project's error hierarchy: every error is an EbpfError that says where it happened.

/** Where an error happened; each field is optional, the message names those that are set. */
export interface Location {
  file?: string;
  section?: string;
  offset?: number;
  typeId?: number;
  program?: string;
  map?: string;
  instruction?: number;
}

function describe(loc: Location): string {
  const parts: string[] = [];
  if (loc.file !== undefined) parts.push(loc.file);
  if (loc.section !== undefined) parts.push(`section ${loc.section}`);
  if (loc.program !== undefined) parts.push(`prog '${loc.program}'`);
  if (loc.map !== undefined) parts.push(`map '${loc.map}'`);
  if (loc.instruction !== undefined) parts.push(`insn ${loc.instruction}`);
  if (loc.typeId !== undefined) parts.push(`type [${loc.typeId}]`);
  if (loc.offset !== undefined) parts.push(`offset 0x${loc.offset.toString(16)}`);
  return parts.join(', ');
}

export class EbpfError extends Error {
  readonly location: Location;
  constructor(message: string, location: Location = {}, options?: ErrorOptions) {
    const where = describe(location);
    super(where ? `${where}: ${message}` : message, options);
    this.name = new.target.name;
    this.location = location;
  }
}

/** Malformed or truncated input: ELF, BTF, BTF.ext or instruction bytes. */
export class FormatError extends EbpfError {}
/** ELF-level problem (bad header, section, symbol, relocation). */
export class ElfError extends FormatError {}
/** BTF or BTF.ext problem. */
export class BtfError extends FormatError {}
/** Instruction decoding/encoding problem. */
export class InstructionError extends FormatError {}
/** Something asked for does not exist (type name, section, map, key). */
export class NotFoundError extends EbpfError {}
/** The running kernel lacks a feature. */
export class NotSupportedError extends EbpfError {}

/**
 * An option given to a library call has a value it cannot take (`attachXdp(prog, 'lo', { mode:
 * 'genric' })`): names the option, the value, and what it allows.
 */
/** A value as an error message shows it; never throws (an object without toString, a symbol). */
function showValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${value.byteLength} bytes`;
  if (typeof value === 'object' && value !== null) {
    const name =
      Object.getPrototypeOf(value) === Object.prototype
        ? 'an object'
        : `a ${(value.constructor as { name?: string } | undefined)?.name ?? 'null-prototype'} object`;
    return name;
  }
  return String(value);
}

export class OptionError extends EbpfError {
  /** The option's name as the call spells it: `mode`, `logLevel`, `cpu`. */
  readonly option: string;
  readonly value: unknown;
  /** The values it takes, where they are a list. */
  readonly allowed: readonly string[] | undefined;
  constructor(option: string, value: unknown, expected: string | readonly string[], location: Location = {}) {
    const shown = showValue(value);
    const want =
      typeof expected === 'string' ? expected : `one of ${expected.map((v) => `'${v}'`).join(', ')}`;
    super(`option ${option}: ${shown} is not ${want}`, location);
    this.option = option;
    this.value = value;
    this.allowed = typeof expected === 'string' ? undefined : expected;
  }
}
