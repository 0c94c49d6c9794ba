// `ebpf binfmt install|uninstall|status`: a binfmt_misc handler so that a BPF ELF runs directly
// (`chmod +x prog.o && ./prog.o`), through a launcher script that calls `ebpf run`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EbpfError, NotSupportedError } from '../index.js';
import { parse, positionals, UsageError, type Command } from './common.js';

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc';
export const DEFAULT_LAUNCHER = '/usr/local/lib/ebpf/binfmt-launcher';
export const DEFAULT_NAME = 'ebpf';

/** EM_BPF, the e_machine of BPF objects (include/uapi/linux/elf-em.h). */
const EM_BPF = 247;
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELFDATA2MSB = 2;
const EV_CURRENT = 1;
/** The launcher's second line: uninstall removes only a file that has it. */
const MARKER = '# Written by `ebpf binfmt install`';

const usage = `usage: ebpf binfmt install [--launcher PATH] [--name NAME] [-j]
       ebpf binfmt uninstall [--launcher PATH] [--name NAME] [-j]
       ebpf binfmt status [--name NAME] [-j]

  install    registers NAME-el and NAME-eb with binfmt_misc (mounting it if needed): ELF64
             files with e_machine EM_BPF (247), little and big endian, run through a launcher
             script written at PATH (default ${DEFAULT_LAUNCHER}) that calls
             'ebpf run FILE ARGS...'. Then: chmod +x prog.o && ./prog.o --seconds 10
  uninstall  removes both entries and the launcher
  status     whether binfmt_misc is mounted and each entry is registered, and what it runs
  --name     entry name prefix (default '${DEFAULT_NAME}'): letters, digits, '_', '.', '-'
  -j, --json install: {entries, launcher}; uninstall: {removed}; status: {mounted, enabled, entries}`;

/** The two entries: one per byte order, since e_machine's bytes sit at offsets 18-19 in either order. */
export function entryNames(name: string): { el: string; eb: string } {
  return { el: `${name}-el`, eb: `${name}-eb` };
}

/**
 * The magic and mask of an ELF header prefix for BPF objects: e_ident (magic, class 64, data
 * LSB/MSB, version 1; OS ABI and padding ignored), e_type ignored, e_machine EM_BPF.
 */
export function elfMagic(littleEndian: boolean): { magic: Uint8Array; mask: Uint8Array } {
  const magic = new Uint8Array(20);
  const mask = new Uint8Array(20);
  magic.set([0x7f, 0x45, 0x4c, 0x46, ELFCLASS64, littleEndian ? ELFDATA2LSB : ELFDATA2MSB, EV_CURRENT]);
  mask.fill(0xff, 0, 7);
  magic.set(littleEndian ? [EM_BPF & 0xff, EM_BPF >> 8] : [EM_BPF >> 8, EM_BPF & 0xff], 18);
  mask.fill(0xff, 18, 20);
  return { magic, mask };
}

const hexEscape = (b: Uint8Array): string =>
  Array.from(b, (x) => `\\x${x.toString(16).padStart(2, '0')}`).join('');

/**
 * The line written to binfmt_misc's `register`: `:name:M:0:magic:mask:interpreter:F`. The F flag
 * opens the interpreter now, so it runs even from another mount namespace or chroot.
 */
export function registerLine(entry: string, littleEndian: boolean, interpreter: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(entry) || entry === '.' || entry === '..')
    throw new EbpfError(`binfmt entry name '${entry}' must be letters, digits, '_', '.' or '-'`);
  if (interpreter.includes(':') || interpreter.includes('\n') || !interpreter.startsWith('/'))
    throw new EbpfError(`the launcher path '${interpreter}' must be absolute, without ':' or newlines`);
  const { magic, mask } = elfMagic(littleEndian);
  return `:${entry}:M:0:${hexEscape(magic)}:${hexEscape(mask)}:${interpreter}:F`;
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * How to start this package's CLI: node and the built main.js, or, running from the TypeScript
 * sources, main.ts with tsx's loader (absolute, since the launcher runs in any directory).
 */
export function cliCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  const main = fileURLToPath(new URL(ts ? './main.ts' : './main.js', import.meta.url));
  if (!ts) return [process.execPath, main];
  return [process.execPath, '--import', import.meta.resolve('tsx'), main];
}

export function launcherScript(command: string[]): string {
  return [
    '#!/bin/sh',
    `${MARKER}: the kernel's binfmt_misc runs this for a BPF ELF executed`,
    '# directly, with the file and its arguments; it loads and runs it with `ebpf run`.',
    `exec ${command.map(shellQuote).join(' ')} run "$@"`,
    '',
  ].join('\n');
}

/** Mounts binfmt_misc where it is missing; NotSupportedError when that cannot be done. */
export function ensureMounted(dir = BINFMT_DIR): void {
  if (existsSync(`${dir}/register`)) return;
  if (!existsSync(dir)) throw new NotSupportedError(`${dir} does not exist: this kernel has no binfmt_misc`);
  const r = spawnSync('mount', ['-t', 'binfmt_misc', 'binfmt_misc', dir], { encoding: 'utf8' });
  if (r.status !== 0 || !existsSync(`${dir}/register`)) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    throw new NotSupportedError(`binfmt_misc is not mounted at ${dir} and mounting it failed: ${why}`);
  }
}

function writeControl(path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const hint = err.code === 'EACCES' || err.code === 'EPERM' ? ' (needs root)' : '';
    throw new EbpfError(`${path}: ${err.code ?? err.message}${hint}`, { file: path }, { cause: e });
  }
}

/** Removes an entry if registered; true when there was one. */
export function unregister(entry: string, dir = BINFMT_DIR): boolean {
  const path = `${dir}/${entry}`;
  if (!existsSync(path)) return false;
  writeControl(path, '-1');
  return true;
}

export interface EntryStatus {
  name: string;
  registered: boolean;
  enabled?: boolean;
  interpreter?: string;
  flags?: string;
  magic?: string;
  mask?: string;
}

/** An entry as binfmt_misc describes it (`enabled`, `interpreter ...`, `flags: F`, `magic ...`). */
export function entryStatus(entry: string, dir = BINFMT_DIR): EntryStatus {
  const path = `${dir}/${entry}`;
  if (!existsSync(path)) return { name: entry, registered: false };
  const s: EntryStatus = { name: entry, registered: true };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === 'enabled' || line === 'disabled') s.enabled = line === 'enabled';
    const m = /^(interpreter|flags:|magic|mask)\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.replace(':', '') as 'interpreter' | 'flags' | 'magic' | 'mask';
    s[key] = m[2]!;
  }
  return s;
}

export interface InstallOptions {
  name?: string;
  launcher?: string;
  /** How the launcher starts the CLI; default cliCommand(). */
  command?: string[];
}

/** Writes the launcher and registers both entries (replacing earlier ones of the same names). */
export function install(opts: InstallOptions = {}): { entries: string[]; launcher: string } {
  const name = opts.name ?? DEFAULT_NAME;
  const launcher = opts.launcher ?? DEFAULT_LAUNCHER;
  const { el, eb } = entryNames(name);
  const lines = [registerLine(el, true, launcher), registerLine(eb, false, launcher)];
  ensureMounted();
  mkdirSync(dirname(launcher), { recursive: true });
  writeFileSync(launcher, launcherScript(opts.command ?? cliCommand()), { mode: 0o755 });
  unregister(el);
  unregister(eb);
  try {
    for (const line of lines) writeControl(`${BINFMT_DIR}/register`, line);
  } catch (e) {
    unregister(el);
    unregister(eb);
    throw e;
  }
  return { entries: [el, eb], launcher };
}

/** Unregisters both entries and removes the launcher (only one this command wrote). */
export function uninstall(opts: Omit<InstallOptions, 'command'> = {}): { removed: string[] } {
  const { el, eb } = entryNames(opts.name ?? DEFAULT_NAME);
  const removed: string[] = [];
  if (existsSync(`${BINFMT_DIR}/register`)) {
    for (const e of [el, eb]) if (unregister(e)) removed.push(e);
  }
  const launcher = opts.launcher ?? DEFAULT_LAUNCHER;
  if (existsSync(launcher) && readFileSync(launcher, 'utf8').includes(MARKER)) {
    rmSync(launcher);
    removed.push(launcher);
  }
  return { removed };
}

export interface BinfmtStatus {
  mounted: boolean;
  enabled: boolean;
  entries: EntryStatus[];
}

export function status(name = DEFAULT_NAME): BinfmtStatus {
  const mounted = existsSync(`${BINFMT_DIR}/register`);
  const { el, eb } = entryNames(name);
  return {
    mounted,
    enabled: mounted && readFileSync(`${BINFMT_DIR}/status`, 'utf8').trim() === 'enabled',
    entries: mounted
      ? [entryStatus(el), entryStatus(eb)]
      : [
          { name: el, registered: false },
          { name: eb, registered: false },
        ],
  };
}

export const command: Command = {
  summary: 'run BPF objects directly: register a binfmt_misc handler (install, uninstall, status)',
  usage,
  run(argv) {
    const args = parse(argv, { launcher: { type: 'string' }, name: { type: 'string' } });
    const [sub] = positionals(args.positionals, 1, 1, 'install, uninstall or status');
    const name = args.string('name');
    if (name !== undefined && !/^[A-Za-z0-9_.-]+$/.test(name))
      throw new UsageError(`--name wants letters, digits, '_', '.' or '-', not '${name}'`);
    const launcher = args.path('launcher');
    if (launcher !== undefined && !launcher.startsWith('/'))
      throw new UsageError(`--launcher wants an absolute path, not '${launcher}'`);
    const opts = { ...(name !== undefined && { name }), ...(launcher !== undefined && { launcher }) };
    const json = args.json;
    switch (sub) {
      case 'install': {
        const r = install(opts);
        if (json) process.stdout.write(JSON.stringify(r) + '\n');
        else
          process.stdout.write(
            `registered ${r.entries.join(' and ')} in ${BINFMT_DIR}, running ${r.launcher}\n` +
              `now: chmod +x prog.o && ./prog.o [--seconds N] [--dev IFACE]\n`,
          );
        return Promise.resolve(0);
      }
      case 'uninstall': {
        const r = uninstall(opts);
        if (json) process.stdout.write(JSON.stringify(r) + '\n');
        else
          process.stdout.write(
            r.removed.length > 0 ? `removed ${r.removed.join(', ')}\n` : 'nothing was installed\n',
          );
        return Promise.resolve(0);
      }
      case 'status': {
        const s = status(name);
        if (json) {
          process.stdout.write(JSON.stringify(s) + '\n');
          return Promise.resolve(0);
        }
        const lines = [
          `binfmt_misc: ${s.mounted ? `mounted at ${BINFMT_DIR}, ${s.enabled ? 'enabled' : 'disabled'}` : 'not mounted'}`,
        ];
        for (const e of s.entries) {
          lines.push(
            e.registered
              ? `${e.name}: ${e.enabled === false ? 'disabled' : 'enabled'}, interpreter ${e.interpreter ?? '?'}, flags ${e.flags ?? ''}`
              : `${e.name}: not registered`,
          );
        }
        process.stdout.write(lines.join('\n') + '\n');
        return Promise.resolve(0);
      }
      default:
        throw new UsageError(`unknown binfmt command '${sub}' (install, uninstall or status)`);
    }
  },
};
