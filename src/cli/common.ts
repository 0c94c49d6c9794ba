// What every command shares: the Command shape, option parsing through node:util's parseArgs (with
// bpftool's words — `id N`, `pinned PATH`, `key 1 2` — left to the positionals), checked option
// values, JSON output, errors and exit codes. Nothing here reaches the kernel, so the commands that
// only read files (inspect, disasm, btf) run without the native addon; the words that name kernel
// objects are in handles.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { EbpfError, NotFoundError, NotSupportedError, OptionError } from '../index.js';
import { SyscallError } from '../index.js';

/** Exit codes, the same for every command (README, `ebpf help`). */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** It failed: a bad input file, a kernel refusal, a key or object not found. */
  ERROR: 1,
  /** The command line is wrong (unknown command or option, missing or bad value); nothing was done. */
  USAGE: 2,
  /** This kernel or host lacks what is needed (NotSupportedError): a skip, not a bug. */
  UNSUPPORTED: 3,
} as const;

export interface Command {
  /** One line for `ebpf help`. */
  summary: string;
  /** The text `-h` / `--help` prints. */
  usage: string;
  /** Runs the command; the exit code, or throws (UsageError: 2, EbpfError: 1 or 3). */
  run(args: string[]): Promise<number>;
}

/** The command line is wrong: exit 2, and the message points at `--help`. */
export class UsageError extends EbpfError {}

/** Options every command takes: -j/--json and -h/--help (main handles help before the command runs). */
const COMMON = {
  json: { type: 'boolean', short: 'j' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type OptionSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

/** A parsed command line: positionals, and typed, checked access to the options. */
export class Args {
  readonly positionals: string[];
  readonly json: boolean;
  readonly #values: Record<string, string | boolean | (string | boolean)[] | undefined>;

  constructor(
    positionals: string[],
    values: Record<string, string | boolean | (string | boolean)[] | undefined>,
  ) {
    this.positionals = positionals;
    this.#values = values;
    this.json = values.json === true;
  }

  has(name: string): boolean {
    return this.#values[name] !== undefined;
  }

  flag(name: string): boolean {
    return this.#values[name] === true;
  }

  string(name: string): string | undefined {
    const v = this.#values[name];
    if (Array.isArray(v)) return v.length > 0 ? String(v[v.length - 1]) : undefined;
    return typeof v === 'string' ? v : undefined;
  }

  /** Every value of a repeatable option, in order. */
  list(name: string): string[] {
    const v = this.#values[name];
    if (v === undefined) return [];
    return (Array.isArray(v) ? v : [v]).map(String);
  }

  /** A whole number in [min, max], written in decimal or 0x hex. */
  int(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    return parseInteger(s, `--${name}`, min, max);
  }

  /** A number (fractions allowed) greater than 0, as --seconds and --interval take. */
  positive(name: string): number | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n) || n <= 0)
      throw new UsageError(`--${name} wants a positive number, not '${s}'`);
    return n;
  }

  /** A u64 in decimal or 0x hex, as --cookie takes. */
  u64(name: string): bigint | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    let n: bigint | undefined;
    try {
      n = /^(0x[0-9a-f]+|\d+)$/i.test(s) ? BigInt(s) : undefined;
    } catch {
      n = undefined;
    }
    if (n === undefined || n >= 1n << 64n)
      throw new UsageError(`--${name} wants a number from 0 to 2^64-1, not '${s}'`);
    return n;
  }

  /** One of `allowed`. */
  choice<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(s))
      throw new UsageError(`--${name} wants one of ${allowed.join(', ')}, not '${s}'`);
    return s as T;
  }

  /** A non-empty path. */
  path(name: string): string | undefined {
    const s = this.string(name);
    if (s === undefined) return undefined;
    if (s === '' || s.includes('\0')) throw new UsageError(`--${name} wants a path, not '${s}'`);
    return s;
  }
}

/** A whole number in [min, max] from the command line (decimal or 0x hex). */
export function parseInteger(s: string, what: string, min: number, max: number): number {
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new UsageError(`${what} wants a whole number ${range}, not '${s}'`);
  }
  return n;
}

/**
 * Parses a command's arguments with node:util's parseArgs: `options` plus -j/--json and
 * -h/--help; anything else starting with '-' is a UsageError, as is a value on a flag
 * (`--json=yes`) or a missing value (`--pin-dir` last).
 */
export function parse(argv: string[], options: OptionSpec = {}): Args {
  let r;
  try {
    r = parseArgs({ args: argv, options: { ...options, ...COMMON }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(usageMessage(e as Error & { code?: string }));
  }
  return new Args(r.positionals, r.values as Record<string, string | boolean | undefined>);
}

/** parseArgs' errors, in this command line's words. */
function usageMessage(e: Error & { code?: string }): string {
  const m = e.message;
  let x: RegExpExecArray | null;
  if ((x = /^Unknown option '([^']+)'/.exec(m))) return `unknown option ${x[1]}`;
  if ((x = /^Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument missing/.exec(m)))
    return `option ${x[1]} needs a value`;
  if ((x = /^Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(m)))
    return `option ${x[1]} takes no value`;
  if ((x = /^Option '(?:-\w, )?(--[\w-]+)(?: <value>)?' argument is ambiguous/.exec(m)))
    return `option ${x[1]}: a value that starts with '-' is written ${x[1]}=VALUE`;
  return m.split('\n')[0]!;
}

/** Throws UsageError unless there are between min and max words (what names the first missing); returns them. */
export function positionals(p: string[], min: number, max: number, what: string): string[] {
  if (p.length < min) throw new UsageError(`missing ${what}`);
  if (p.length > max) throw new UsageError(`unexpected '${p[max]}'`);
  // An empty word ('' from a script's unset variable) names nothing: not a path to look for.
  if (p.includes('')) throw new UsageError(`an empty argument where ${what || 'a word'} was expected`);
  return p;
}

/** The exit code for an error a command threw. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError || e instanceof OptionError) return EXIT.USAGE;
  if (e instanceof NotSupportedError) return EXIT.UNSUPPORTED;
  return EXIT.ERROR;
}

/** An error as JSON (`--json`): bpftool's `{"error": message}` plus what the error knows. */
export function errorJson(e: EbpfError, exitCode: number): Record<string, unknown> {
  const o: Record<string, unknown> = { error: e.message, type: e.name, exitCode };
  if (Object.keys(e.location).length > 0) o.location = e.location;
  if (e instanceof SyscallError) {
    o.command = e.command;
    o.code = e.code;
    if (e.hint !== undefined) o.hint = e.hint;
  }
  if (e instanceof OptionError) {
    o.option = e.option;
    if (e.allowed !== undefined) o.allowed = e.allowed;
  }
  const log = (e as { log?: unknown }).log;
  if (typeof log === 'string' && log !== '') o.log = log;
  const helper = (e as { helper?: unknown }).helper;
  if (helper !== undefined) o.helper = helper;
  return o;
}

/** JSON with bigints as decimal strings and typed arrays as arrays. */
export function toJson(x: unknown): unknown {
  if (typeof x === 'bigint') return x.toString();
  if (ArrayBuffer.isView(x)) return Array.from(x as unknown as ArrayLike<number | bigint>, toJson);
  if (Array.isArray(x)) return x.map(toJson);
  if (typeof x === 'object' && x !== null)
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toJson(v)]));
  return x;
}

/** Writes one line of JSON to stdout. */
export function printJson(x: unknown): void {
  process.stdout.write(JSON.stringify(toJson(x)) + '\n');
}

/** Bytes as hex, `sep` between them. */
export const hex = (b: Uint8Array, sep = ''): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(sep);

/** The bytes of a file the user named; NotFoundError or EbpfError naming it. */
export function readFileArg(path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError('no such file', { file: path }, { cause: e });
    throw new EbpfError(`cannot read: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

/** Writes an output file the user named; EbpfError naming it when that fails. */
export function writeFileArg(path: string, text: string | Uint8Array): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new EbpfError('cannot write: no such directory', { file: path }, { cause: e });
    throw new EbpfError(`cannot write: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

/** A kernel object id (u32, not 0). */
export function parseId(s: string, what: string): number {
  return parseInteger(s, `${what} id`, 1, 0xffffffff);
}
