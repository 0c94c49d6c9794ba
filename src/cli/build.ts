// `ebpf build SRC.bpf.c`: compile a BPF program with clang (libbpf-bootstrap's flags, a vmlinux.h
// from the running kernel's BTF) and, with --types, write its typed TypeScript module.
import { basename } from 'node:path';
import { buildObject, type BpfTarget } from '../exports/build.js';
import { generateTypes } from '../exports/gen.js';
import { loadObjectSpec } from '../exports/object.js';
import { parse, positionals, readFileArg, UsageError, writeFileArg, type Command } from './common.js';

const usage = `usage: ebpf build SRC.bpf.c [-o OUT.o] [--target bpfel|bpfeb] [--types OUT.ts [--type NAME]...]
                  [-I DIR]... [-D NAME[=VALUE]]... [--clang PATH] [--vmlinux BTF | --no-vmlinux]
                  [--cache-dir DIR] [-v] [-j] [-- CLANG_ARG...]

  Compiles SRC with clang as libbpf-bootstrap does: -g -O2 -target bpfel|bpfeb
  -D__TARGET_ARCH_<host arch>, the -I directories, then the directory of a vmlinux.h written
  from the running kernel's BTF (cached), then the host's system include directories (-idirafter).

  -o FILE        the object (default SRC with .c replaced by .o: x.bpf.c → x.bpf.o)
  --target T     bpfel (little-endian) or bpfeb (big-endian); default the host's byte order
  --types FILE   also write the TypeScript module for the object (as 'ebpf gen types' does), with
                 the object embedded: its load() and loadSpec() are typed and need no argument
  --type NAME    declare a record type in the module (repeatable): 'event' or 'struct event',
                 typed through obj.codec(NAME) (ring buffer and perf buffer records)
  --name NAME    prefix of the module's type names (default the object's name in PascalCase)
  --import MOD   the module the ebpf API is imported from (default 'ebpf')
  --no-embed     the module's load()/loadSpec() take the object's path or bytes instead
  -I DIR, -D DEF include directory, definition (repeatable)
  --clang PATH   the compiler (default $CLANG, else clang-19, clang-20, clang-21, clang-18, clang)
  --vmlinux BTF  write vmlinux.h from this BTF file instead of /sys/kernel/btf/vmlinux
  --no-vmlinux   no vmlinux.h (the source brings its own headers)
  --cache-dir D  where vmlinux.h is cached (default $EBPF_CACHE_DIR, $XDG_CACHE_HOME/ebpf, ~/.cache/ebpf)
  -v             print the clang command
  -j, --json     print what was written as JSON
  -- ARGS        more clang arguments (-Wall, -mcpu=v3...)`;

const TARGETS: readonly BpfTarget[] = ['bpfel', 'bpfeb'];

export const command: Command = {
  summary: 'compile a .bpf.c with clang against vmlinux.h, optionally writing typed TypeScript',
  usage,
  run(argv) {
    const dash = argv.indexOf('--');
    const own = dash >= 0 ? argv.slice(0, dash) : argv;
    const cflags = dash >= 0 ? argv.slice(dash + 1) : [];
    const a = parse(own, {
      output: { type: 'string', short: 'o' },
      target: { type: 'string' },
      types: { type: 'string' },
      type: { type: 'string', multiple: true },
      name: { type: 'string' },
      import: { type: 'string' },
      'no-embed': { type: 'boolean' },
      include: { type: 'string', short: 'I', multiple: true },
      define: { type: 'string', short: 'D', multiple: true },
      clang: { type: 'string' },
      vmlinux: { type: 'string' },
      'no-vmlinux': { type: 'boolean' },
      'cache-dir': { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
    });
    const [source] = positionals(a.positionals, 1, 1, 'SRC, the C source to compile') as [string];
    const types = a.path('types');
    const v = {
      output: a.path('output'),
      target: a.choice('target', TARGETS),
      types,
      type: a.has('type') ? a.list('type') : undefined,
      name: a.string('name'),
      import: a.string('import'),
      'no-embed': a.flag('no-embed') || undefined,
      include: a.has('include') ? a.list('include') : undefined,
      define: a.has('define') ? a.list('define') : undefined,
      clang: a.path('clang'),
      vmlinux: a.path('vmlinux'),
      'no-vmlinux': a.flag('no-vmlinux'),
      'cache-dir': a.path('cache-dir'),
      verbose: a.flag('verbose'),
      json: a.json,
    };
    if (v.vmlinux !== undefined && v['no-vmlinux']) {
      throw new UsageError('--vmlinux and --no-vmlinux exclude each other');
    }
    const typeOnly = ['type', 'name', 'import', 'no-embed'] as const;
    for (const o of typeOnly) {
      if (v[o] !== undefined && v.types === undefined) throw new UsageError(`--${o} needs --types FILE`);
    }
    if (v.name !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(v.name)) {
      throw new UsageError(`--name '${v.name}' is not a TypeScript identifier`);
    }
    const result = buildObject({
      source,
      cflags,
      ...(v.output !== undefined && { output: v.output }),
      ...(v.target !== undefined && { target: v.target }),
      ...(v.include !== undefined && { includeDirs: v.include }),
      ...(v.define !== undefined && { defines: v.define }),
      ...(v.clang !== undefined && { clang: v.clang }),
      ...(v.vmlinux !== undefined && { btf: v.vmlinux }),
      ...(v['no-vmlinux'] && { vmlinux: false }),
      ...(v['cache-dir'] !== undefined && { cacheDir: v['cache-dir'] }),
    });
    if (v.verbose) process.stderr.write(result.command.join(' ') + '\n');
    if (result.diagnostics !== '') process.stderr.write(result.diagnostics);
    const bytes = readFileArg(result.output);
    let typesFile: string | undefined;
    if (v.types !== undefined) {
      const spec = loadObjectSpec(bytes, { file: result.output });
      const text = generateTypes(spec, {
        source: basename(result.output),
        records: v.type ?? [],
        regenerate: ['ebpf', 'build', ...argv].join(' '),
        ...(v['no-embed'] !== true && { embed: bytes }),
        ...(v.name !== undefined && { name: v.name }),
        ...(v.import !== undefined && { importFrom: v.import }),
      });
      writeFileArg(v.types, text);
      typesFile = v.types;
    }
    const target = v.target ?? result.command[result.command.indexOf('-target') + 1]!;
    if (v.json) {
      const out = {
        object: result.output,
        target,
        bytes: bytes.length,
        ...(typesFile !== undefined && { types: typesFile }),
        ...(result.vmlinux !== undefined && { vmlinux: result.vmlinux }),
        command: result.command,
      };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    } else {
      process.stdout.write(`wrote ${result.output} (${target}, ${bytes.length} bytes)\n`);
      if (typesFile !== undefined) process.stdout.write(`wrote ${typesFile}\n`);
    }
    return Promise.resolve(0);
  },
};
