// `ebpf btf dump FILE`: a BTF file or an ELF object's .BTF, as bpftool raw text, C, a tree, or JSON.
import { basename, dirname } from 'node:path';
import {
  formatC,
  formatRaw,
  formatRawType,
  formatTree,
  KERNEL_BTF_DIR,
  rawTypeJson,
  readBtfFile,
  type Btf,
  type Type,
} from '../exports/btf.js';
import { NotFoundError } from '../index.js';
import { dedupBtf } from '../exports/linker.js';
import { parse, positionals, printJson, UsageError, writeFileArg, type Command } from './common.js';

const FORMATS = ['raw', 'c', 'tree'] as const;

const usage = `usage: ebpf btf dump FILE [--format raw|c|tree] [--type NAME] [-j] [--base FILE] [--depth N]
       ebpf btf dedup IN -o OUT [--no-fwd-by-name] [-j]  (raw BTF as libbpf's btf__dedup writes it)

  FILE        raw BTF (/sys/kernel/btf/vmlinux, /sys/kernel/btf/<module>) or a BPF ELF object
  --format    raw: bpftool's text (default); c: a C header; tree: each entry point and what it uses
  --type      only types with this name (tree: the roots to draw)
  -j, --json  the types as JSON, like bpftool -j
  --base      base BTF for split BTF (default /sys/kernel/btf/vmlinux for other /sys/kernel/btf files)
  --depth     tree: how deep to expand (default 32)
  IN          dedup: raw BTF or a BPF ELF object (its .BTF)
  -o, --output  dedup: where to write the deduplicated raw BTF
  --no-fwd-by-name
              dedup: leave a FWD no comparison resolved (libbpf before 1.1.0, bpftool 7.1)
  -j, --json  dedup: the counts of types in and out`;

function load(file: string, basePath: string | undefined): Btf {
  const implicitBase =
    basePath === undefined && dirname(file) === KERNEL_BTF_DIR && basename(file) !== 'vmlinux'
      ? `${KERNEL_BTF_DIR}/vmlinux`
      : undefined;
  const bp = basePath ?? implicitBase;
  return readBtfFile(file, bp !== undefined ? { base: readBtfFile(bp) } : {});
}

async function dump(args: string[]): Promise<number> {
  const a = parse(args, {
    format: { type: 'string' },
    type: { type: 'string' },
    base: { type: 'string' },
    depth: { type: 'string' },
  });
  const [file] = positionals(a.positionals, 1, 1, 'FILE, the BTF or object to dump') as [string];
  const format = a.choice('format', FORMATS) ?? 'raw';
  const depth = a.int('depth', 0);
  if (depth !== undefined && format !== 'tree') throw new UsageError('--depth is for --format tree');
  const name = a.string('type');
  const btf = load(file, a.path('base'));
  const selected = (): Type[] => {
    if (name === undefined) return [...btf.types()];
    const found = btf.findByName(name).filter((t) => t.id >= btf.firstTypeId);
    if (found.length === 0) throw new NotFoundError(`no type named '${name}'`, { file });
    return found;
  };

  if (a.json) {
    process.stdout.write(JSON.stringify({ types: selected().map((t) => rawTypeJson(btf, t)) }) + '\n');
    return 0;
  }
  switch (format) {
    case 'raw':
      process.stdout.write(
        name === undefined
          ? formatRaw(btf)
          : selected()
              .map((t) => formatRawType(btf, t) + '\n')
              .join(''),
      );
      return 0;
    case 'c': {
      process.stdout.write(formatC(btf));
      return 0;
    }
    default: {
      const out = formatTree(btf, {
        ...(name !== undefined ? { type: name } : {}),
        ...(depth !== undefined ? { maxDepth: depth } : {}),
      });
      if (out === '' && name !== undefined) throw new NotFoundError(`no type named '${name}'`, { file });
      process.stdout.write(out);
      return 0;
    }
  }
}

function dedup(args: string[]): Promise<number> {
  const a = parse(args, { output: { type: 'string', short: 'o' }, 'no-fwd-by-name': { type: 'boolean' } });
  const [file] = positionals(a.positionals, 1, 1, 'IN, the BTF to deduplicate') as [string];
  const out = a.path('output');
  if (out === undefined) throw new UsageError('-o OUT is needed: where to write the BTF');
  const r = dedupBtf(readBtfFile(file), { fwdByName: !a.flag('no-fwd-by-name') });
  writeFileArg(out, r.bytes);
  if (a.json) printJson({ typesIn: r.typesIn, typesOut: r.typesOut, bytes: r.bytes.length });
  return Promise.resolve(0);
}

export const command: Command = {
  summary: 'dump BTF from a raw BTF file or an ELF object (raw, c, tree, json)',
  usage,
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === 'dump') return dump(rest);
    if (sub === 'dedup') return dedup(rest);
    throw new UsageError(
      sub === undefined ? 'which btf command? dump or dedup' : `unknown btf command '${sub}' (dump, dedup)`,
    );
  },
};
