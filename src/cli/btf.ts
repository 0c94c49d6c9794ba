// `ebpf btf dump FILE`: a BTF file or an ELF object's .BTF, as bpftool raw text, C, a tree, or JSON.
import { basename, dirname } from 'node:path';
import { Btf } from '../btf/btf.js';
import { rawTypeJson, formatRawType, formatRaw } from '../btf/format-raw.js';
import { formatTree } from '../btf/format-tree.js';
import { parseBtfFile } from '../btf/from-elf.js';
import { KERNEL_BTF_DIR } from '../btf/kernel.js';
import type { Type } from '../btf/types.js';
import { EbpfError, NotFoundError } from '../errors.js';
import { readInputFile } from '../internal/file.js';
import { parseArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf btf dedup IN -o OUT [--json]  (raw BTF as libbpf's btf__dedup writes it)
       ebpf btf dump FILE [--format raw|c|tree] [--type NAME] [--json] [--base FILE] [--depth N]

  FILE        raw BTF (/sys/kernel/btf/vmlinux, /sys/kernel/btf/<module>) or a BPF ELF object
  --format    raw: bpftool's text (default); c: a C header; tree: each entry point and what it uses
  --type      only types with this name (tree: the roots to draw)
  --json      the types as JSON, like bpftool -j
  --base      base BTF for split BTF (default /sys/kernel/btf/vmlinux for other /sys/kernel/btf files)
  --depth     tree: how deep to expand (default 32)`;

function load(file: string, basePath: string | undefined): Btf {
  let base: Btf | undefined;
  const implicitBase =
    basePath === undefined && dirname(file) === KERNEL_BTF_DIR && basename(file) !== 'vmlinux'
      ? `${KERNEL_BTF_DIR}/vmlinux`
      : undefined;
  const bp = basePath ?? implicitBase;
  if (bp !== undefined) base = parseBtfFile(readInputFile(bp), { file: bp });
  return parseBtfFile(readInputFile(file), base ? { file, base } : { file });
}

async function dump(args: string[]): Promise<number> {
  const a = parseArgs(args, ['format', 'type', 'base', 'depth'], ['json']);
  const file = a.positionals[0];
  if (file === undefined || a.positionals.length > 1) {
    process.stderr.write(usage + '\n');
    return 2;
  }
  const format = a.options.get('format') ?? 'raw';
  if (!['raw', 'c', 'tree'].includes(format)) {
    process.stderr.write(`ebpf btf dump: unknown format '${format}' (raw, c or tree)\n`);
    return 2;
  }
  const name = a.options.get('type');
  const btf = load(file, a.options.get('base'));
  const selected = (): Type[] => {
    if (name === undefined) return [...btf.types()];
    const found = btf.findByName(name).filter((t) => t.id >= btf.firstTypeId);
    if (found.length === 0) throw new NotFoundError(`no type named '${name}'`, { file });
    return found;
  };

  if (a.flags.has('json')) {
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
      const { formatC } = await import('../btf/format-c.js');
      process.stdout.write(formatC(btf));
      return 0;
    }
    default: {
      const depth = a.options.get('depth');
      // Number('abc') is NaN, which would silently mean "no limit".
      if (depth !== undefined && !/^\d+$/.test(depth))
        throw new EbpfError(`--depth wants a whole number, not '${depth}'`);
      const out = formatTree(btf, {
        ...(name !== undefined ? { type: name } : {}),
        ...(depth !== undefined ? { maxDepth: Number(depth) } : {}),
      });
      if (out === '' && name !== undefined) throw new NotFoundError(`no type named '${name}'`, { file });
      process.stdout.write(out);
      return 0;
    }
  }
}

export const command: Command = {
  summary: 'dump BTF from a raw BTF file or an ELF object (raw, c, tree, json); dedup it',
  usage,
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === 'dump') return dump(rest);
    if (sub === 'dedup') return (await import('./btf-dedup.js')).dedup(rest);
    process.stderr.write(usage + '\n');
    return 2;
  },
};
