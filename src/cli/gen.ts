// `ebpf gen types OBJ`: a TypeScript module with the types of an object's maps, global variables
// and programs, from its BTF, as the package's codecs decode them; `--json` gives the shapes.
import { basename } from 'node:path';
import { EbpfError } from '../errors.js';
import { generateTypes, objectShapes } from '../gen/index.js';
import { writeOutputFile } from '../internal/file.js';
import { loadObjectSpec } from '../object/index.js';
import { parseArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf gen types OBJ [-o FILE] [--name NAME] [--import MODULE] [--json]

  OBJ        a BPF ELF object with BTF
  -o FILE    write the module to FILE (default: standard output)
  --name     prefix of the object-level types (NAME + Object, Maps, MapTypes, Sections...);
             default the object's name in PascalCase
  --import   the module the ebpf types are imported from (default 'ebpf')
  --json     print the shapes (what each map key/value and variable decodes to) as JSON instead`;

export const command: Command = {
  summary: 'generate TypeScript types for an object from its BTF (gen types)',
  usage,
  run(argv) {
    // `-o FILE` is the one short option: parseArgs knows only long ones.
    const words = argv.map((a) => (a === '-o' ? '--output' : a));
    const args = parseArgs(words, ['output', 'name', 'import'], ['json']);
    const [sub, file, ...extra] = args.positionals;
    if (sub !== 'types' || file === undefined || extra.length > 0) {
      process.stderr.write(usage + '\n');
      return Promise.resolve(2);
    }
    const spec = loadObjectSpec(file);
    let text: string;
    if (args.flags.has('json')) {
      text = JSON.stringify(objectShapes(spec), null, 2) + '\n';
    } else {
      const name = args.options.get('name');
      if (name !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name))
        throw new EbpfError(`--name '${name}' is not a TypeScript identifier`);
      const from = args.options.get('import');
      text = generateTypes(spec, {
        source: basename(file),
        ...(name !== undefined && { name }),
        ...(from !== undefined && { importFrom: from }),
      });
    }
    const out = args.options.get('output');
    if (out === undefined) process.stdout.write(text);
    else writeOutputFile(out, text);
    return Promise.resolve(0);
  },
};
