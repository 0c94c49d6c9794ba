// `ebpf gen types OBJ`: a TypeScript module with the types of an object's maps, global variables,
// programs and the record types asked for, from its BTF, as the package's codecs decode them, and
// a typed load(); `--json` gives the shapes.
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { EbpfError } from '../errors.js';
import { generateTypes, objectShapes } from '../gen/index.js';
import { readInputFile, writeOutputFile } from '../internal/file.js';
import { loadObjectSpec } from '../object/index.js';
import type { Command } from './main.js';

const usage = `usage: ebpf gen types OBJ [-o FILE] [--type NAME]... [--embed] [--name NAME] [--import MODULE] [--json]

  OBJ          a BPF ELF object with BTF
  -o FILE      write the module to FILE (default: standard output)
  --type NAME  declare a record type (repeatable): 'event' or 'struct event', a typedef; then
               obj.codec(NAME) is typed (ring buffer and perf buffer records). A type clang left
               out of BTF is an error that says why and how to keep it
  --embed      embed the object's bytes: the module's load() and loadSpec() need no argument
  --name       prefix of the object-level types (NAME + Types, Object, Spec, Maps, Sections...);
               default the object's name in PascalCase
  --import     the module the ebpf API is imported from (default 'ebpf')
  --json       print the shapes (what each map key/value, variable and record decodes to) as JSON`;

export const command: Command = {
  summary: 'generate TypeScript types and a typed load() for an object from its BTF (gen types)',
  usage,
  run(argv) {
    let a;
    try {
      a = parseArgs({
        args: argv,
        allowPositionals: true,
        options: {
          output: { type: 'string', short: 'o' },
          type: { type: 'string', multiple: true },
          embed: { type: 'boolean' },
          name: { type: 'string' },
          import: { type: 'string' },
          json: { type: 'boolean' },
        },
      });
    } catch (e) {
      throw new EbpfError(`gen: ${(e as Error).message}`);
    }
    const v = a.values;
    const [sub, file, ...extra] = a.positionals;
    if (sub !== 'types' || file === undefined || extra.length > 0) {
      process.stderr.write(usage + '\n');
      return Promise.resolve(2);
    }
    const bytes = readInputFile(file);
    const spec = loadObjectSpec(bytes, { file });
    const records = v.type ?? [];
    let text: string;
    if (v.json === true) {
      text = JSON.stringify(objectShapes(spec, { records }), null, 2) + '\n';
    } else {
      if (v.name !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(v.name))
        throw new EbpfError(`--name '${v.name}' is not a TypeScript identifier`);
      text = generateTypes(spec, {
        source: basename(file),
        records,
        regenerate: ['ebpf', 'gen', ...argv].join(' '),
        ...(v.embed === true && { embed: bytes }),
        ...(v.name !== undefined && { name: v.name }),
        ...(v.import !== undefined && { importFrom: v.import }),
      });
    }
    if (v.output === undefined) process.stdout.write(text);
    else writeOutputFile(v.output, text);
    return Promise.resolve(0);
  },
};
