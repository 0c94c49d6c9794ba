// `ebpf btf dedup IN -o OUT`: BTF deduplication as libbpf's btf__dedup, written as raw BTF.
import { parseBtfFile } from '../btf/from-elf.js';
import { readInputFile } from '../internal/file.js';
import { dedupBtf } from '../linker/index.js';
import { parseArgs } from './args.js';
import { outputArgs, writeOutput } from './link.js';

export const dedupUsage = `usage: ebpf btf dedup IN -o OUT [--json] [--no-fwd-by-name]

  IN          raw BTF or a BPF ELF object (its .BTF)
  -o, --output  where to write the deduplicated raw BTF
  --json      print the counts of types in and out as JSON
  --no-fwd-by-name  leave a FWD no comparison resolved (libbpf before 1.1.0, bpftool 7.1)`;

export function dedup(args: string[]): number {
  const a = parseArgs(outputArgs(args), ['output'], ['json', 'no-fwd-by-name']);
  const file = a.positionals[0];
  const out = a.options.get('output');
  if (file === undefined || a.positionals.length > 1 || out === undefined) {
    process.stderr.write(dedupUsage + '\n');
    return 2;
  }
  const r = dedupBtf(parseBtfFile(readInputFile(file), { file }), {
    fwdByName: !a.flags.has('no-fwd-by-name'),
  });
  writeOutput(out, r.bytes);
  if (a.flags.has('json')) {
    process.stdout.write(
      JSON.stringify({ typesIn: r.typesIn, typesOut: r.typesOut, bytes: r.bytes.length }) + '\n',
    );
  }
  return 0;
}
