// Checks of option values handed to the library's calls, so a typo ('genric') or an out-of-range
// number is an OptionError naming the option and what it takes, not a silent default or a kernel EINVAL.
import { OptionError, type Location } from '../errors.js';

/** `value` when it is one of `allowed` (or undefined); otherwise an OptionError listing them. */
export function checkChoice<T extends string>(
  option: string,
  value: unknown,
  allowed: readonly T[],
  location: Location = {},
): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
  throw new OptionError(option, value, allowed, location);
}

/** An integer in [min, max] (or undefined); otherwise an OptionError saying the range. */
export function checkInteger(
  option: string,
  value: unknown,
  min: number,
  max: number,
  location: Location = {},
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  throw new OptionError(option, value, range, location);
}

/** A bigint in [0, 2^64) (or undefined): cookies and other u64 fields. */
export function checkU64(option: string, value: unknown, location: Location = {}): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint' && value >= 0n && value < 1n << 64n) return value;
  throw new OptionError(option, value, 'a bigint from 0n to 2n ** 64n - 1n', location);
}

/** A boolean (or undefined). */
export function checkBoolean(option: string, value: unknown, location: Location = {}): boolean | undefined {
  if (value === undefined || typeof value === 'boolean') return value;
  throw new OptionError(option, value, 'true or false', location);
}

/** Flags: an integer whose bits all lie in `known` (or undefined). */
export function checkFlags(
  option: string,
  value: unknown,
  known: number,
  location: Location = {},
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff) {
    if ((value & ~known) >>> 0 === 0) return value;
    throw new OptionError(
      option,
      value,
      `a combination of the flags 0x${known.toString(16)} (0x${((value & ~known) >>> 0).toString(16)} is not one)`,
      location,
    );
  }
  throw new OptionError(option, value, 'a 32-bit flags word', location);
}

/** An offset given as a number or a bigint, whole and not negative (or undefined), as a bigint. */
export function checkOffset(option: string, value: unknown, location: Location = {}): bigint | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === 'bigint' && value >= 0n && value < 1n << 64n) return value;
  throw new OptionError(option, value, 'a whole number >= 0 (number or bigint)', location);
}

/**
 * An argument of a public call that is not what the call takes (a JavaScript caller, or `any`,
 * can hand anything): an OptionError naming the call and the argument, instead of a TypeError
 * from deep inside.
 */
export function checkArgument(
  call: string,
  name: string,
  value: unknown,
  expected: string,
  ok: boolean,
): void {
  if (!ok) throw new OptionError(`${call}(${name})`, value, expected);
}

/** The options argument: undefined or an object. */
export function checkOptionsArgument(call: string, value: unknown, name = 'options'): void {
  checkArgument(
    call,
    name,
    value,
    'an object',
    value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value)),
  );
}

/** A handle with a descriptor (Program, BpfMap, Link...): an object whose `fd` is an Fd-like object. */
export function isHandle(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const fd = (value as { fd?: unknown }).fd;
  return typeof fd === 'object' && fd !== null && typeof (fd as { fd?: unknown }).fd === 'number';
}

/** A kernel object id: an integer from 1 to 2^32-1. */
export function isObjectId(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 0xffffffff;
}

/** A filesystem path: a non-empty string without NUL. */
export function isPath(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0 && !value.includes('\0');
}
