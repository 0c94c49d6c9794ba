// `ebpf link -o OUT IN...`: static linking of BPF objects into one, as `bpftool gen object`.
import { writeFileSync } from 'node:fs';
import { EbpfError } from '../errors.js';
import { readInputFile } from '../internal/file.js';
import { linkObjects } from '../linker/index.js';
import { parseArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf link -o OUT [--no-fwd-by-name] IN...

  Links BPF object files into one, with libbpf's semantics (bpftool gen object): sections of the
  same name are merged, global, __weak and extern symbols (functions, maps, variables, .kconfig,
  .ksyms) resolved across the files, .maps definitions of one map checked to agree, .BTF.ext
  records re-based and the BTF deduplicated.

  -o, --output       the linked object to write
  --no-fwd-by-name   leave a FWD no comparison resolved, as libbpf before 1.1.0 (and bpftool 7.1,
                     built from Linux 6.1) does, instead of resolving it to the one struct or
                     union of its name`;

/** Writes bytes to a file the user named, with the project's error naming it. */
export function writeOutput(path: string, bytes: Uint8Array): void {
  try {
    writeFileSync(path, bytes);
  } catch (e) {
    throw new EbpfError(`cannot write: ${(e as Error).message}`, { file: path }, { cause: e });
  }
}

/** `-o X` as `--output X`, so the shared parser sees one spelling. */
export function outputArgs(args: string[]): string[] {
  return args.map((a) => (a === '-o' ? '--output' : a));
}

export const command: Command = {
  summary: 'link BPF objects into one (as bpftool gen object)',
  usage,
  run(args: string[]): Promise<number> {
    const a = parseArgs(outputArgs(args), ['output'], ['no-fwd-by-name']);
    const out = a.options.get('output');
    if (out === undefined || a.positionals.length === 0) {
      process.stderr.write(usage + '\n');
      return Promise.resolve(2);
    }
    const inputs = a.positionals.map((file) => ({ file, bytes: readInputFile(file) }));
    writeOutput(out, linkObjects(inputs, { fwdByName: !a.flags.has('no-fwd-by-name') }));
    return Promise.resolve(0);
  },
};
