// CO-RE against libbpf: the relocated instructions of every program of the CO-RE test objects
// equal those libbpf 1.1 produces for the same object, against (a) the running kernel's BTF and
// (b) a hand-built BTF whose layouts differ (testdata/core-target/target.btf, libbpf's
// btf_custom_path), read with test/c/core_insns.c; and loading with CO-RE through the loader gives
// the same xlated instructions as `bpftool prog loadall`.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { decode, formatInstruction, type Instruction } from '../src/asm/index.js';
import {
  applyCoreRelocations,
  coreRelocator,
  fileTarget,
  kernelTarget,
  type CoreTarget,
} from '../src/core/index.js';
import { loadObject, VerifierError } from '../src/loader/index.js';
import { loadObjectSpec, type SpecInstruction } from '../src/object/index.js';
import { haveTool, need, needRoot, needTool, ROOT, run, TESTDATA, VMLINUX } from './helpers.js';

const HARNESS_SRC = join(ROOT, 'test', 'c', 'core_insns.c');
const HARNESS = join(ROOT, 'build', 'test-c', 'core_insns');
const TARGET_BTF = join(TESTDATA, 'core-target', 'target.btf');
const OBJECTS = ['core', 'core_many'];
const BPFFS = '/sys/fs/bpf';

function harness(): string {
  if (!existsSync(HARNESS) || statSync(HARNESS).mtimeMs < statSync(HARNESS_SRC).mtimeMs) {
    mkdirSync(join(ROOT, 'build', 'test-c'), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', HARNESS_SRC, '-lbpf', '-ldl', '-o', HARNESS], { stdio: 'inherit' });
  }
  return HARNESS;
}

interface LibbpfPrograms {
  programs?: { name: string; section: string; insns: string[] }[];
  error?: string;
}

/** libbpf's relocated instructions per program. */
function libbpfInstructions(object: string, btf?: string): Map<string, Instruction[]> {
  const out = execFileSync(harness(), btf === undefined ? [object] : [object, btf], { encoding: 'utf8' });
  const parsed = JSON.parse(out) as LibbpfPrograms;
  assert.equal(parsed.error, undefined, `libbpf: ${parsed.error}`);
  const m = new Map<string, Instruction[]>();
  for (const p of parsed.programs ?? []) m.set(p.name, decode(Buffer.from(p.insns.join(''), 'hex'), true));
  return m;
}

/** Ours: the linked program with CO-RE applied (maps and data stay symbolic: the loader does those). */
function ourInstructions(object: string, target: CoreTarget) {
  const spec = loadObjectSpec(object);
  const out = new Map<string, { insns: SpecInstruction[]; relocations: number; poisoned: number }>();
  const cache = new Map();
  for (const p of spec.programs) {
    const insns = p.instructions.map((i) => {
      const c: SpecInstruction = i.clone();
      if (i.reference !== undefined) c.reference = i.reference;
      return c;
    });
    const applied = applyCoreRelocations(
      { name: p.name, instructions: insns, coreRelos: p.coreRelos },
      spec.btf!,
      {
        target,
        cache,
      },
    );
    out.set(p.name, {
      insns,
      relocations: applied.length,
      poisoned: applied.filter((a) => a.poisoned).length,
    });
  }
  return out;
}

/** Instruction-by-instruction differences; ld_imm64 of maps and global data (fds) are compared by opcode and register. */
function differences(ours: SpecInstruction[], theirs: Instruction[]): string[] {
  const diffs: string[] = [];
  if (ours.length !== theirs.length) diffs.push(`${ours.length} instructions, libbpf has ${theirs.length}`);
  for (let i = 0; i < Math.min(ours.length, theirs.length); i++) {
    const a = ours[i]!;
    const b = theirs[i]!;
    const ref = a.reference?.kind;
    const same =
      ref === 'map' || ref === 'data'
        ? a.opcode === b.opcode && a.dst === b.dst
        : a.opcode === b.opcode &&
          a.dst === b.dst &&
          a.src === b.src &&
          a.off === b.off &&
          a.imm === b.imm &&
          a.next?.imm === b.next?.imm;
    if (!same)
      diffs.push(`#${i}: ours '${formatInstruction(a).text}', libbpf '${formatInstruction(b).text}'`);
  }
  return diffs;
}

const targets = [
  { label: 'the running kernel', btf: undefined as string | undefined, target: () => kernelTarget() },
  { label: 'a hand-built BTF (btf_custom_path)', btf: TARGET_BTF, target: () => fileTarget(TARGET_BTF) },
];

for (const name of OBJECTS) {
  for (const tg of targets) {
    test(`CO-RE of ${name}-el.o against ${tg.label}: every program's instructions equal libbpf's`, (t) => {
      if (!needRoot(t) || !needTool(t, 'gcc') || !need(t, existsSync(VMLINUX), 'no kernel BTF')) return;
      const object = join(TESTDATA, `${name}-el.o`);
      const theirs = libbpfInstructions(object, tg.btf);
      const ours = ourInstructions(object, tg.target());
      assert.deepEqual([...ours.keys()].sort(), [...theirs.keys()].sort(), 'the same programs');
      let relocations = 0;
      for (const [prog, o] of ours) {
        relocations += o.relocations;
        assert.deepEqual(differences(o.insns, theirs.get(prog)!), [], `prog '${prog}'`);
      }
      assert.ok(relocations > 20, `${relocations} relocations compared`);
    });
  }
}

test('the hand-built target really moves offsets, drops a field and changes enum values', (t) => {
  if (!need(t, existsSync(VMLINUX), 'no kernel BTF')) return;
  const object = join(TESTDATA, 'core-el.o');
  const vm = ourInstructions(object, kernelTarget());
  const other = ourInstructions(object, fileTarget(TARGET_BTF));
  let moved = 0;
  for (const [prog, o] of vm) {
    const b = other.get(prog)!.insns;
    o.insns.forEach((insn, i) => {
      if (insn.imm !== b[i]!.imm || insn.off !== b[i]!.off || insn.next?.imm !== b[i]!.next?.imm) moved++;
    });
  }
  assert.ok(moved >= 15, `${moved} instructions differ between the two targets`);
  // task_struct___old.state is missing in both; the bitfield and enum relocations all resolve.
  assert.equal(other.get('core_task')!.poisoned, 1);
  assert.equal(vm.get('core_task')!.poisoned, 1);
});

/** `bpftool prog dump xlated` of each program pinned in `dir`, map ids replaced by map names. */
function xlated(dir: string): Map<string, string> {
  const names = new Map<number, string>();
  for (const m of JSON.parse(run('bpftool', ['-j', 'map', 'show'])) as { id: number; name?: string }[]) {
    names.set(m.id, m.name ?? '');
  }
  const out = new Map<string, string>();
  for (const f of readdirSync(dir).sort()) {
    const text = run('bpftool', ['prog', 'dump', 'xlated', 'pinned', join(dir, f)]);
    out.set(
      f,
      text.replace(/map\[id:(\d+)\]/g, (_, id: string) => `map[${names.get(Number(id)) ?? id}]`),
    );
  }
  return out;
}

for (const name of OBJECTS) {
  test(`loading ${name}-el.o with CO-RE: xlated instructions equal bpftool prog loadall's`, (t) => {
    if (!needRoot(t) || !needTool(t, 'bpftool') || !need(t, haveTool('bpftool'), 'bpftool')) return;
    const object = join(TESTDATA, `${name}-el.o`);
    const tag = `ebpf_core_${process.pid}_${name}`;
    const libbpfDir = join(BPFFS, `${tag}_libbpf`);
    const oursDir = join(BPFFS, `${tag}_ours`);
    try {
      const lib = spawnSync('bpftool', ['prog', 'loadall', object, libbpfDir], { encoding: 'utf8' });
      if (lib.status !== 0) {
        // libbpf refuses when this kernel lacks a field read without an existence check (on 5.10
        // task_struct.__state, named so from 5.14): the verifier reaches the poisoned instruction.
        // Ours must refuse too, naming the same relocation.
        const m = /failed to resolve CO-RE relocation <[^>]+> \[\d+\] (?:struct|union) (\w+)\.(\w+)/.exec(
          lib.stderr,
        );
        assert.ok(m !== null, `libbpf refused ${name} for another reason: ${lib.stderr.slice(-2000)}`);
        assert.throws(
          () => loadObject(object).close(),
          (e: unknown) =>
            e instanceof VerifierError &&
            e.coreRelocation !== undefined &&
            e.message.includes(`${m[1]}`) &&
            e.message.includes(`${m[2]}`),
        );
        t.diagnostic(`both refuse it: this kernel has no ${m[1]}.${m[2]}`);
        return;
      }
      const expected = xlated(libbpfDir);
      rmSync(libbpfDir, { recursive: true, force: true });
      let applied = 0;
      mkdirSync(oursDir);
      const loaded = loadObject(object, {
        pinDir: oursDir,
        core: coreRelocator({ onApplied: (_p, a) => (applied += a.length) }),
      });
      try {
        const actual = xlated(oursDir);
        assert.deepEqual([...actual.keys()], [...expected.keys()]);
        for (const [prog, text] of expected) assert.equal(actual.get(prog), text, `prog '${prog}'`);
        assert.ok(applied > 20);
      } finally {
        loaded.close();
      }
    } finally {
      rmSync(libbpfDir, { recursive: true, force: true });
      rmSync(oursDir, { recursive: true, force: true });
    }
  });
}
