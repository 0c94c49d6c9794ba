// `ebpf link -o OUT IN...`: static linking of BPF objects into one, as `bpftool gen object`.
import { linkObjects } from '../exports/linker.js';
import {
  parse,
  positionals,
  printJson,
  readFileArg,
  UsageError,
  writeFileArg,
  type Command,
} from './common.js';

const usage = `usage: ebpf link -o OUT [--no-fwd-by-name] IN... [-j]

  Links BPF object files into one, with libbpf's semantics (bpftool gen object): sections of the
  same name are merged, global, __weak and extern symbols (functions, maps, variables, .kconfig,
  .ksyms) resolved across the files, .maps definitions of one map checked to agree, .BTF.ext
  records re-based and the BTF deduplicated.

  -o, --output      the linked object to write
  --no-fwd-by-name  leave a FWD no comparison resolved, as libbpf before 1.1.0 (and bpftool 7.1,
                    built from Linux 6.1) does, instead of resolving it to the one struct or
                    union of its name
  -j, --json        print {output, inputs, bytes}`;

export const command: Command = {
  summary: 'link BPF objects into one (as bpftool gen object)',
  usage,
  run(args: string[]): Promise<number> {
    const a = parse(args, { output: { type: 'string', short: 'o' }, 'no-fwd-by-name': { type: 'boolean' } });
    const out = a.path('output');
    if (out === undefined) throw new UsageError('-o OUT is needed: the linked object to write');
    const files = positionals(a.positionals, 1, Infinity, 'IN, the objects to link');
    const bytes = linkObjects(
      files.map((file) => ({ file, bytes: readFileArg(file) })),
      { fwdByName: !a.flag('no-fwd-by-name') },
    );
    writeFileArg(out, bytes);
    if (a.json) printJson({ output: out, inputs: files, bytes: bytes.length });
    return Promise.resolve(0);
  },
};
