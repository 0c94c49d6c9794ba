#!/usr/bin/env node
// The `ebpf` command: dispatches to one module per subcommand (src/cli/<name>.ts).
import { EbpfError } from '../errors.js';

export interface Command {
  /** One line for `ebpf help`. */
  summary: string;
  usage: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  btf: async () => (await import('./btf.js')).command,
  core: async () => (await import('./core.js')).command,
  disasm: async () => (await import('./disasm.js')).command,
  inspect: async () => (await import('./inspect.js')).command,
  load: async () => (await import('./load.js')).command,
  map: async () => (await import('./map.js')).command,
  prog: async () => (await import('./prog.js')).command,
  demo: async () => (await import('./demo.js')).command,
  attach: async () => (await import('./attach.js')).command,
  gen: async () => (await import('./gen.js')).command,
  binfmt: async () => (await import('./binfmt.js')).command,
  build: async () => (await import('./build.js')).command,
  run: async () => (await import('./run.js')).command,
  link: async () => (await import('./link.js')).command,
};

export function registerCommand(name: string, load: () => Promise<Command>): void {
  commands[name] = load;
}

async function help(): Promise<void> {
  const lines = ['usage: ebpf <command> [options]', '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    try {
      lines.push(`  ${name.padEnd(10)} ${(await load()).summary}`);
    } catch {
      // A command whose module is not built yet is simply not listed.
    }
  }
  process.stdout.write(lines.join('\n') + '\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    await help();
    return name === undefined ? 1 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`ebpf: unknown command '${name}' (try 'ebpf help')\n`);
    return 2;
  }
  const cmd = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.usage + '\n');
    return 0;
  }
  return cmd.run(rest);
}

// Run when started as a program (src/cli/main.ts, dist/.../main.js or bin/ebpf[.js]), not when imported.
if (/(?:main\.[jt]s|ebpf(?:\.js)?)$/.test(process.argv[1] ?? '')) {
  // `ebpf disasm x.o | head`: a reader that closed the pipe wants no more output, not a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      if (err instanceof EbpfError) {
        process.stderr.write(`ebpf: ${err.message}\n`);
        process.exitCode = 1;
      } else {
        throw err;
      }
    },
  );
}
