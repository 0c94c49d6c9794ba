// `ebpf gen types OBJ`: a TypeScript module with the types of an object's maps, global variables,
// programs and the record types asked for, from its BTF, as the package's codecs decode them, and
// a typed load(); `--json` gives the shapes.
import { basename } from 'node:path';
import { generateTypes, objectShapes } from '../exports/gen.js';
import { loadObjectSpec } from '../exports/object.js';
import { parse, positionals, readFileArg, UsageError, writeFileArg, type Command } from './common.js';

const usage = `usage: ebpf gen types OBJ [-o FILE] [--type NAME]... [--embed] [--name NAME] [--import MODULE] [-j]

  OBJ          a BPF ELF object with BTF
  -o FILE      write the module to FILE (default: standard output)
  --type NAME  declare a record type (repeatable): 'event' or 'struct event', a typedef; then
               obj.codec(NAME) is typed (ring buffer and perf buffer records). A type clang left
               out of BTF is an error that says why and how to keep it
  --embed      embed the object's bytes: the module's load() and loadSpec() need no argument
  --name       prefix of the object-level types (NAME + Types, Object, Spec, Maps, Sections...);
               default the object's name in PascalCase
  --import     the module the ebpf API is imported from (default 'ebpf')
  -j, --json   print the shapes (what each map key/value, variable and record decodes to) as JSON`;

export const command: Command = {
  summary: 'generate TypeScript types and a typed load() for an object from its BTF (gen types)',
  usage,
  run(argv) {
    const a = parse(argv, {
      output: { type: 'string', short: 'o' },
      type: { type: 'string', multiple: true },
      embed: { type: 'boolean' },
      name: { type: 'string' },
      import: { type: 'string' },
    });
    const v = {
      output: a.path('output'),
      embed: a.flag('embed'),
      name: a.string('name'),
      import: a.string('import'),
    };
    const [sub, file] = positionals(a.positionals, 2, 2, 'gen types OBJ') as [string, string];
    if (sub !== 'types') throw new UsageError(`unknown gen command '${sub}' (types)`);
    if (v.name !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(v.name))
      throw new UsageError(`--name '${v.name}' is not a TypeScript identifier`);
    const bytes = readFileArg(file);
    const spec = loadObjectSpec(bytes, { file });
    const records = a.list('type');
    let text: string;
    if (a.json) {
      text = JSON.stringify(objectShapes(spec, { records }), null, 2) + '\n';
    } else {
      text = generateTypes(spec, {
        source: basename(file),
        records,
        regenerate: ['ebpf', 'gen', ...argv].join(' '),
        ...(v.embed && { embed: bytes }),
        ...(v.name !== undefined && { name: v.name }),
        ...(v.import !== undefined && { importFrom: v.import }),
      });
    }
    if (v.output === undefined) process.stdout.write(text);
    else writeFileArg(v.output, text);
    return Promise.resolve(0);
  },
};
