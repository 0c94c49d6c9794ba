// `ebpf build SRC.bpf.c`: compile a BPF program with clang (libbpf-bootstrap's flags, a vmlinux.h
// from the running kernel's BTF) and, with --types, write its typed TypeScript module.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { buildObject, type BpfTarget } from '../build/index.js';
import { EbpfError } from '../errors.js';
import { generateTypes } from '../gen/index.js';
import { writeOutputFile } from '../internal/file.js';
import { loadObjectSpec } from '../object/index.js';
import type { Command } from './main.js';

const usage = `usage: ebpf build SRC.bpf.c [-o OUT.o] [--target bpfel|bpfeb] [--types OUT.ts [--type NAME]...]
                  [-I DIR]... [-D NAME[=VALUE]]... [--clang PATH] [--vmlinux BTF | --no-vmlinux]
                  [--cache-dir DIR] [-v] [--json] [-- CLANG_ARG...]

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
  --json         print what was written as JSON
  -- ARGS        more clang arguments (-Wall, -mcpu=v3...)`;

const TARGETS: readonly BpfTarget[] = ['bpfel', 'bpfeb'];

export const command: Command = {
  summary: 'compile a .bpf.c with clang against vmlinux.h, optionally writing typed TypeScript',
  usage,
  run(argv) {
    const dash = argv.indexOf('--');
    const own = dash >= 0 ? argv.slice(0, dash) : argv;
    const cflags = dash >= 0 ? argv.slice(dash + 1) : [];
    let a;
    try {
      a = parseArgs({
        args: own,
        allowPositionals: true,
        options: {
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
          json: { type: 'boolean' },
        },
      });
    } catch (e) {
      throw new EbpfError(`build: ${(e as Error).message}`);
    }
    const v = a.values;
    const [source, ...extra] = a.positionals;
    if (source === undefined || extra.length > 0) {
      process.stderr.write(usage + '\n');
      return Promise.resolve(2);
    }
    if (v.target !== undefined && !TARGETS.includes(v.target as BpfTarget)) {
      throw new EbpfError(`build: --target '${v.target}': expected bpfel or bpfeb`);
    }
    if (v.vmlinux !== undefined && v['no-vmlinux'] === true) {
      throw new EbpfError('build: --vmlinux and --no-vmlinux exclude each other');
    }
    const typeOnly = ['type', 'name', 'import', 'no-embed'] as const;
    for (const o of typeOnly) {
      if (v[o] !== undefined && v.types === undefined)
        throw new EbpfError(`build: --${o} needs --types FILE`);
    }
    if (v.name !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(v.name)) {
      throw new EbpfError(`build: --name '${v.name}' is not a TypeScript identifier`);
    }
    const result = buildObject({
      source,
      cflags,
      ...(v.output !== undefined && { output: v.output }),
      ...(v.target !== undefined && { target: v.target as BpfTarget }),
      ...(v.include !== undefined && { includeDirs: v.include }),
      ...(v.define !== undefined && { defines: v.define }),
      ...(v.clang !== undefined && { clang: v.clang }),
      ...(v.vmlinux !== undefined && { btf: v.vmlinux }),
      ...(v['no-vmlinux'] === true && { vmlinux: false }),
      ...(v['cache-dir'] !== undefined && { cacheDir: v['cache-dir'] }),
    });
    if (v.verbose === true) process.stderr.write(result.command.join(' ') + '\n');
    if (result.diagnostics !== '') process.stderr.write(result.diagnostics);
    const bytes = new Uint8Array(readFileSync(result.output));
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
      writeOutputFile(v.types, text);
      typesFile = v.types;
    }
    const target = v.target ?? result.command[result.command.indexOf('-target') + 1]!;
    if (v.json === true) {
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
