// A small argument parser shared by the subcommands: positionals, --flag and --opt value.
import { EbpfError } from '../errors.js';

export interface ParsedArgs {
  positionals: string[];
  flags: Set<string>;
  options: Map<string, string>;
}

/**
 * Parse argv; `valued` names options that take a value (`--section S` or `--section=S`). With
 * `flags`, the command's whole option set is known and anything else (`--relocs` for `--reloc`)
 * is an error instead of being ignored.
 */
export function parseArgs(argv: string[], valued: string[] = [], flags?: string[]): ParsedArgs {
  const out: ParsedArgs = { positionals: [], flags: new Set(), options: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (valued.includes(key)) {
        const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
        if (v === undefined) throw new EbpfError(`option --${key} needs a value`);
        out.options.set(key, v);
      } else if (flags === undefined || flags.includes(key)) {
        if (eq > 0) throw new EbpfError(`option --${key} takes no value`);
        out.flags.add(key);
      } else throw new EbpfError(`unknown option --${key}`);
    } else out.positionals.push(a);
  }
  return out;
}
