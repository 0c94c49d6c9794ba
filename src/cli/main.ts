#!/usr/bin/env node
// The `ebpf` command: dispatches to one module per subcommand (src/cli/<name>.ts), each loaded
// only when it runs. Options every command takes (-j/--json, -h/--help) and the exit codes are in
// common.ts; errors are printed here, once, as text on stderr or under --json as JSON on stdout.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EbpfError } from '../index.js';
import { errorJson, EXIT, exitCodeOf, UsageError, type Command } from './common.js';

const commands: Record<string, () => Promise<Command>> = {
  inspect: async () => (await import('./inspect.js')).command,
  disasm: async () => (await import('./disasm.js')).command,
  btf: async () => (await import('./btf.js')).command,
  core: async () => (await import('./core.js')).command,
  link: async () => (await import('./link.js')).command,
  build: async () => (await import('./build.js')).command,
  gen: async () => (await import('./gen.js')).command,
  load: async () => (await import('./load.js')).command,
  run: async () => (await import('./run.js')).command,
  prog: async () => (await import('./prog.js')).command,
  map: async () => (await import('./map.js')).command,
  attach: async () => (await import('./attach.js')).command,
  binfmt: async () => (await import('./binfmt.js')).command,
  demo: async () => (await import('./demo.js')).command,
};

export function registerCommand(name: string, load: () => Promise<Command>): void {
  commands[name] = load;
}

const GLOBAL = `usage: ebpf [-j] COMMAND [ARGS...] [-j|--json] [-h|--help]
       ebpf help [COMMAND]
       ebpf -V|--version`;

const EXIT_CODES = `exit codes:
  0  done
  1  failed: a bad input file, a kernel refusal, an object or key not found
  2  usage: unknown command or option, a missing or malformed value; nothing was done
  3  not supported by this kernel or host (a missing hook, feature or tool)`;

const JSON_NOTE = `-j, --json  output as JSON (every command); an error is then one JSON object on
            stdout, {"error": message, "type", "exitCode", ...}, as bpftool -j prints it`;

async function helpText(): Promise<string> {
  const lines = [GLOBAL, '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    lines.push(`  ${name.padEnd(8)} ${(await load()).summary}`);
  }
  lines.push('', JSON_NOTE, "-h, --help  the command's usage", '', EXIT_CODES);
  return lines.join('\n') + '\n';
}

/** The package's version, from the package.json above this file (src/cli or dist/src/cli). */
export function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ebpf' && pkg.version !== undefined) return pkg.version;
    }
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** Whether the words before a `--` ask for `flag` (the long or the short form). */
const asks = (argv: string[], long: string, short: string): boolean => {
  const end = argv.indexOf('--');
  const words = end < 0 ? argv : argv.slice(0, end);
  return words.some((w) => w === long || w === short);
};

/**
 * Runs a command line; the exit code. Errors a command throws are printed (EbpfError as one
 * line, a UsageError with a pointer to --help) and turned into exit codes; anything else is a bug
 * and propagates with its stack.
 */
export async function main(argv: string[]): Promise<number> {
  const json = asks(argv, '--json', '-j');
  try {
    return await runCommand(argv);
  } catch (e) {
    if (!(e instanceof EbpfError)) throw e;
    const code = exitCodeOf(e);
    if (json) {
      process.stdout.write(JSON.stringify(errorJson(e, code)) + '\n');
    } else {
      const cmd = argv.find((w) => !w.startsWith('-'));
      const more =
        e instanceof UsageError
          ? `\n(see 'ebpf ${cmd !== undefined && cmd in commands ? `${cmd} ` : ''}--help')`
          : '';
      process.stderr.write(`ebpf: ${e.message}${more}\n`);
    }
    return code;
  }
}

/** Runs a command line without printing errors: what a command throws propagates (main prints it). */
export async function runCommand(argv: string[]): Promise<number> {
  // Global options before the command: -j/--json (passed on to it), -h/--help, -V/--version.
  let i = 0;
  let json = false;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const w = argv[i]!;
    if (w === '-j' || w === '--json') json = true;
    else if (w === '-h' || w === '--help') return help([]);
    else if (w === '-V' || w === '--version') {
      process.stdout.write(
        json || asks(argv, '--json', '-j')
          ? JSON.stringify({ version: version() }) + '\n'
          : `ebpf ${version()}\n`,
      );
      return EXIT.OK;
    } else throw new UsageError(`unknown option ${w} before the command`);
  }
  const name = argv[i];
  const rest = argv.slice(i + 1);
  if (name === undefined) {
    process.stderr.write(GLOBAL + "\n(see 'ebpf help' for the commands)\n");
    return EXIT.USAGE;
  }
  if (name === 'help') return help(rest);
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (load === undefined) throw new UsageError(`unknown command '${name}'`);
  const cmd = await load();
  if (asks(rest, '--help', '-h')) {
    process.stdout.write(cmd.usage + '\n');
    return EXIT.OK;
  }
  if (json && !asks(rest, '--json', '-j')) {
    const end = rest.indexOf('--');
    if (end < 0) rest.push('--json');
    else rest.splice(end, 0, '--json');
  }
  return cmd.run(rest);
}

async function help(words: string[]): Promise<number> {
  const [name, ...extra] = words.filter((w) => w !== '-j' && w !== '--json');
  if (extra.length > 0) throw new UsageError(`unexpected '${extra[0]}'`);
  if (name === undefined) {
    process.stdout.write(await helpText());
    return EXIT.OK;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (load === undefined) throw new UsageError(`unknown command '${name}'`);
  process.stdout.write((await load()).usage + '\n');
  return EXIT.OK;
}

// Run when started as a program (src/cli/main.ts, dist/.../main.js or bin/ebpf[.js]), not when imported.
if (/(?:main\.[jt]s|ebpf(?:\.js)?)$/.test(process.argv[1] ?? '')) {
  // `ebpf disasm x.o | head`: a reader that closed the pipe wants no more output, not a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
