// `ebpf core explain OBJ`: every CO-RE relocation of an object, what it asks for in C terms, what
// it resolves to in the kernel's BTF (or a given BTF file), and the instruction before and after.
import {
  applyCoreRelocations,
  coreSearchIds,
  coreRelocationJson,
  fileTarget,
  formatCoreRelocation,
  kernelTarget,
  type AppliedCoreRelocation,
} from '../exports/core.js';
import { NotFoundError } from '../index.js';
import { loadObjectSpec, type SpecInstruction } from '../exports/object.js';
import { parse, positionals, UsageError, type Command } from './common.js';

const usage = `usage: ebpf core explain OBJ [--target BTF] [--program NAME] [-j]

  OBJ         a BPF ELF object with CO-RE relocations (.BTF.ext)
  --target    relocate against this BTF file (raw BTF or an ELF's .BTF, like libbpf's btf_custom_path)
              instead of the running kernel (/sys/kernel/btf/vmlinux, then module BTF)
  --program   only this program
  -j, --json  one object per relocation: program, insn, kind, localType, access, accessStr,
              target {source, typeId, type, accessStr, access, offset, size}, orig, new, poisoned,
              reason, error, before, after

Each relocation is shown in the program it ends up in (a subprogram's relocations appear in
every program that calls it), with the instruction index in the linked program.`;

function summary(all: AppliedCoreRelocation[]): string {
  const errors = all.filter((r) => r.error).length;
  const poisoned = all.filter((r) => r.poisoned).length;
  const missing = all.filter(
    (r) => !r.error && !r.poisoned && r.resolution?.target === undefined && r.relo.kind !== 6,
  ).length;
  const parts = [`${all.length} relocations`, `${all.length - errors - poisoned - missing} resolved`];
  if (missing) parts.push(`${missing} not found (patched to 0)`);
  if (poisoned) parts.push(`${poisoned} poisoned`);
  if (errors) parts.push(`${errors} failed (the object would not load)`);
  return parts.join(', ');
}

async function explain(args: string[]): Promise<number> {
  const a = parse(args, { target: { type: 'string' }, program: { type: 'string' } });
  const [file] = positionals(a.positionals, 1, 1, 'OBJ, the object to explain') as [string];
  const spec = loadObjectSpec(file);
  if (spec.btf === undefined)
    throw new NotFoundError('object has no .BTF section, so no CO-RE relocations', { file });
  const targetPath = a.path('target');
  const target = targetPath === undefined ? kernelTarget() : fileTarget(targetPath);
  const only = a.string('program');
  const programs = spec.programs.filter((p) => only === undefined || p.name === only);
  if (only !== undefined && programs.length === 0)
    throw new NotFoundError(`no program named '${only}'`, { file });

  const cache = new Map();
  const alsoSearch = coreSearchIds(programs);
  const all: AppliedCoreRelocation[] = [];
  for (const p of programs) {
    // Work on copies: explaining changes nothing in the object.
    const insns = p.instructions.map((i) => i.clone() as SpecInstruction);
    all.push(
      ...applyCoreRelocations({ name: p.name, instructions: insns, coreRelos: p.coreRelos }, spec.btf, {
        target,
        cache,
        alsoSearch,
        collectErrors: true,
        file,
      }),
    );
  }
  if (a.json) {
    process.stdout.write(JSON.stringify(all.map(coreRelocationJson), null, 2) + '\n');
    return 0;
  }
  const targetName = targetPath ?? 'the running kernel (vmlinux, then module BTF)';
  const out = [`${file}: CO-RE relocations against ${targetName}`, ''];
  for (const r of all) out.push(formatCoreRelocation(r), '');
  out.push(summary(all));
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}

export const command: Command = {
  summary: 'explain CO-RE relocations: the access in C, what the target resolves it to, the patch',
  usage,
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === 'explain') return explain(rest);
    throw new UsageError(
      sub === undefined ? 'which core command? explain' : `unknown core command '${sub}' (explain)`,
    );
  },
};
