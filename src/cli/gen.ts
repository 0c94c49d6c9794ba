// `ebpf gen types OBJ`: a TypeScript module with the types of an object's maps, global variables
// and programs, from its BTF, as the package's codecs decode them; `--json` gives the shapes.
import { basename } from 'node:path';
import { generateTypes, objectShapes } from '../exports/gen.js';
import { loadObjectSpec } from '../exports/object.js';
import { parse, positionals, UsageError, writeFileArg, type Command } from './common.js';

const usage = `usage: ebpf gen types OBJ [-o FILE] [--name NAME] [--import MODULE] [-j]

  OBJ        a BPF ELF object with BTF
  -o FILE    write the module to FILE (default: standard output)
  --name     prefix of the object-level types (NAME + Object, Maps, MapTypes, Sections...);
             default the object's name in PascalCase
  --import   the module the ebpf types are imported from (default 'ebpf')
  -j, --json print the shapes (what each map key/value and variable decodes to) as JSON instead`;

export const command: Command = {
  summary: 'generate TypeScript types for an object from its BTF (gen types)',
  usage,
  run(argv) {
    const args = parse(argv, {
      output: { type: 'string', short: 'o' },
      name: { type: 'string' },
      import: { type: 'string' },
    });
    const [sub, file] = positionals(args.positionals, 2, 2, 'gen types OBJ') as [string, string];
    if (sub !== 'types') throw new UsageError(`unknown gen command '${sub}' (types)`);
    const spec = loadObjectSpec(file);
    let text: string;
    if (args.json) {
      text = JSON.stringify(objectShapes(spec), null, 2) + '\n';
    } else {
      const name = args.string('name');
      if (name !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name))
        throw new UsageError(`--name '${name}' is not a TypeScript identifier`);
      const from = args.string('import');
      text = generateTypes(spec, {
        source: basename(file),
        ...(name !== undefined && { name }),
        ...(from !== undefined && { importFrom: from }),
      });
    }
    const out = args.path('output');
    if (out === undefined) process.stdout.write(text);
    else writeFileArg(out, text);
    return Promise.resolve(0);
  },
};
