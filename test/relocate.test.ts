// Map, data and kernel-symbol relocation without a kernel: relocateInstructions over a resolver
// that hands out made-up descriptors and BTF ids, checked field by field and against the
// references a real object (globals.o, externs.o) carries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  BPF_PSEUDO_BTF_ID,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  asm,
  type Instruction,
} from '../src/asm/index.js';
import { LoadError } from '../src/loader/errors.js';
import type { ResolvedKsym } from '../src/loader/ksyms.js';
import {
  relocateInstructions,
  type RelocationEvent,
  type RelocationResolver,
} from '../src/loader/relocate.js';
import { loadObjectSpec, type Reference, type SpecInstruction } from '../src/object/index.js';
import { TESTDATA } from './helpers.js';

function at(index: number, insn: Instruction, reference?: Reference): SpecInstruction {
  const s = insn as SpecInstruction;
  s.index = index;
  if (reference !== undefined) s.reference = reference;
  return s;
}

/** Maps get fd 100 + their position in `maps`; modules' BTF fds are 200 + n, fd_array indexes 1 + n. */
function fakeResolver(
  maps: string[],
  ksyms: Record<string, ResolvedKsym> = {},
): RelocationResolver & {
  modules: string[];
} {
  const modules: string[] = [];
  const moduleIndex = (m: string): number => {
    if (!modules.includes(m)) modules.push(m);
    return modules.indexOf(m);
  };
  return {
    modules,
    mapFd: (name) => (maps.includes(name) ? 100 + maps.indexOf(name) : undefined),
    ksym: (name) => ksyms[name],
    fdArrayIndex: (m) => 1 + moduleIndex(m),
    moduleBtfFd: (m) => 200 + moduleIndex(m),
  };
}

test('map and data references: the map fd in imm, the offset in the second half, a note each', () => {
  const program = {
    name: 'p',
    instructions: [
      at(0, asm.ldImm64(1, 0n), { kind: 'map', map: 'counts' }),
      at(2, asm.ldImm64(2, 0n), { kind: 'data', map: '.data', offset: 20 }),
      at(4, asm.ldImm64(3, 0n), {
        kind: 'kconfig',
        map: '.kconfig',
        name: 'LINUX_KERNEL_VERSION',
        offset: 8,
        weak: false,
      }),
      at(6, asm.call(0, 1), { kind: 'call', target: 'sub' }),
      at(7, asm.exit()),
    ],
  };
  const before = program.instructions.map((i) => i.clone());
  const events: RelocationEvent[] = [];
  const out = relocateInstructions(
    program,
    fakeResolver(['counts', '.data', '.kconfig']),
    { file: 'x.o' },
    (e) => events.push(e),
  );
  assert.equal(out.length, 5);
  assert.deepEqual(
    out.slice(0, 3).map((i) => [i.src, i.imm, i.next!.imm]),
    [
      [BPF_PSEUDO_MAP_FD, 100, 0],
      [BPF_PSEUDO_MAP_VALUE, 101, 20],
      [BPF_PSEUDO_MAP_VALUE, 102, 8],
    ],
  );
  // Calls are linking's; the input is not touched.
  assert.deepEqual(out[3], before[3]);
  assert.deepEqual(
    program.instructions.map((i) => i.clone()),
    before,
  );
  assert.notEqual(out[0], program.instructions[0]);
  assert.deepEqual(
    events.map((e) => [e.program, e.insn, e.reference.kind, e.after.split('  ; ')[1]]),
    [
      ['p', 0, 'map', "map 'counts' fd 100"],
      ['p', 2, 'data', "map '.data' fd 101 + 20"],
      ['p', 4, 'kconfig', "map '.kconfig' fd 102 + 8"],
    ],
  );
});

test('kfuncs and ksyms: BTF ids, module BTF through fd_array or a BTF fd, kallsyms addresses, weak misses', () => {
  const resolver = fakeResolver([], {
    bpf_obj_new: { kind: 'btf', btfId: 7001, module: undefined },
    mod_func: { kind: 'btf', btfId: 9001, module: 'nf_conntrack' },
    gone_func: { kind: 'missing' },
    runqueues: { kind: 'btf', btfId: 7002, module: undefined },
    mod_var: { kind: 'btf', btfId: 9002, module: 'nf_conntrack' },
    bpf_prog_active: { kind: 'address', address: 0xffffffff81234560n },
    gone_var: { kind: 'missing' },
  });
  const kfunc = (i: number, name: string, weak = false): SpecInstruction =>
    at(i, asm.call(0, BPF_PSEUDO_KFUNC_CALL), { kind: 'kfunc', name, weak });
  const ksym = (i: number, name: string, weak = false): SpecInstruction =>
    at(i, asm.ldImm64(1, 0n), { kind: 'ksym', name, weak });
  const out = relocateInstructions(
    {
      name: 'k',
      instructions: [
        kfunc(0, 'bpf_obj_new'),
        kfunc(1, 'mod_func'),
        kfunc(2, 'gone_func', true),
        ksym(3, 'runqueues'),
        ksym(5, 'mod_var'),
        ksym(7, 'bpf_prog_active'),
        ksym(9, 'gone_var', true),
      ],
    },
    resolver,
    {},
  );
  assert.deepEqual(
    out.slice(0, 3).map((i) => [i.src, i.imm, i.off]),
    [
      [BPF_PSEUDO_KFUNC_CALL, 7001, 0],
      [BPF_PSEUDO_KFUNC_CALL, 9001, 1],
      [BPF_PSEUDO_KFUNC_CALL, 0, 0],
    ],
  );
  assert.deepEqual(
    out.slice(3, 5).map((i) => [i.src, i.imm, i.next!.imm]),
    [
      [BPF_PSEUDO_BTF_ID, 7002, 0],
      [BPF_PSEUDO_BTF_ID, 9002, 200],
    ],
  );
  assert.equal(out[5]!.imm64, 0xffffffff81234560n);
  assert.equal(out[5]!.src, 0);
  assert.equal(out[6]!.imm64, 0n);
  assert.deepEqual(resolver.modules, ['nf_conntrack']);
});

test('a map that was not created and a name that is no extern are LoadErrors at the instruction', () => {
  for (const [reference, message] of [
    [{ kind: 'map', map: 'missing' }, /reference to map 'missing', which was not created/],
    [{ kind: 'ksym', name: 'nope', weak: false }, /extern 'nope' is not among the object's externs/],
  ] as const) {
    assert.throws(
      () =>
        relocateInstructions(
          { name: 'p', instructions: [at(0, asm.mov64Imm(0, 0)), at(1, asm.ldImm64(1, 0n), reference)] },
          fakeResolver(['other']),
          { file: 'x.o' },
        ),
      (e) =>
        e instanceof LoadError &&
        e.step === 'relocation' &&
        message.test(e.message) &&
        e.location.file === 'x.o' &&
        e.location.program === 'p' &&
        e.location.instruction === 1,
    );
  }
});

test("a compiled object's map and data references all resolve, each to its map's fd", () => {
  for (const name of ['globals', 'externs']) {
    const spec = loadObjectSpec(join(TESTDATA, `${name}-el.o`));
    const maps = spec.maps.map((m) => m.name);
    const ksyms: Record<string, ResolvedKsym> = {};
    for (const e of spec.externs) if (e.ksym !== undefined) ksyms[e.name] = { kind: 'missing' };
    let relocated = 0;
    for (const p of spec.programs) {
      const out = relocateInstructions(p, fakeResolver(maps, ksyms), {}, () => relocated++);
      p.instructions.forEach((src, i) => {
        const ref = src.reference;
        if (ref === undefined || (ref.kind !== 'map' && ref.kind !== 'data' && ref.kind !== 'kconfig'))
          return;
        assert.equal(out[i]!.imm, 100 + maps.indexOf(ref.map), `${name} ${p.name} [${src.index}]`);
        assert.equal(out[i]!.next!.imm, ref.kind === 'map' ? 0 : ref.offset);
      });
    }
    assert.ok(relocated > 0, `${name}: no reference relocated`);
  }
});
