// `ebpf inspect`: sections against llvm-objdump -h, program sizes against the symbol table
// (llvm-objdump -t), BTF counts against bpftool btf dump, on testdata (both endians) and xdp-tools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TESTDATA, XDP_TOOLS_DIR, cli, haveTool, need, run } from './helpers.js';

interface Report {
  name: string;
  endian: string;
  sections: { index: number; name: string; type: string; size: number }[];
  programs: {
    name: string;
    section: string;
    type: string | null;
    attachTo: string | null;
    instructions: number;
    subprograms: { name: string; start: number; length: number }[];
    relocations: { insn: number; kind: string; text: string }[];
  }[];
  maps: {
    name: string;
    type: string;
    keySize: number;
    valueSize: number;
    keyType?: string;
    valueType?: string;
  }[];
  variables: { name: string; offset: number; size: number }[];
  btf: {
    types: number;
    kinds: Record<string, number>;
    funcInfo: number;
    lineInfo: number;
    coreRelos: number;
  } | null;
}

const OBJECTS = [
  join(TESTDATA, 'calls-el.o'),
  join(TESTDATA, 'calls-eb.o'),
  join(TESTDATA, 'globals-eb.o'),
  join(TESTDATA, 'maps-el.o'),
  join(TESTDATA, 'core-eb.o'),
  join(XDP_TOOLS_DIR, 'xdp-dispatcher.o'),
].filter((f) => existsSync(f));

function inspect(path: string): Report {
  const r = cli(['inspect', path, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Report;
}

test('sections agree with llvm-objdump -h', (t) => {
  if (!need(t, haveTool('llvm-objdump-19'), 'llvm-objdump-19 not installed')) return;
  for (const path of OBJECTS) {
    const rep = inspect(path);
    const want = run('llvm-objdump-19', ['-h', path])
      .split('\n')
      .map((l) => /^\s*(\d+)\s+(\S*)\s+([0-9a-f]{8})\s/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null && m[1] !== '0')
      .map((m) => ({ index: Number(m[1]), name: m[2], size: parseInt(m[3]!, 16) }));
    assert.deepEqual(
      rep.sections.map((s) => ({ index: s.index, name: s.name, size: s.size })),
      want,
      path,
    );
  }
});

test('program sizes are the function symbols of the program and its subprograms (llvm-objdump -t)', (t) => {
  if (!need(t, haveTool('llvm-objdump-19'), 'llvm-objdump-19 not installed')) return;
  for (const path of OBJECTS) {
    const rep = inspect(path);
    const sizes = new Map<string, number>();
    for (const l of run('llvm-objdump-19', ['-t', path]).split('\n')) {
      // 0000000000000000 g     F xdp	00000000000000e8 xdp_calls
      const m = /^[0-9a-f]{16} .{6}F\s+\S+\s+([0-9a-f]{16})\s+(\S+)$/.exec(l);
      if (m) sizes.set(m[2]!, parseInt(m[1]!, 16) / 8);
    }
    for (const p of rep.programs) {
      const expected = [p.name, ...p.subprograms.map((s) => s.name)].reduce((n, f) => n + sizes.get(f)!, 0);
      assert.equal(p.instructions, expected, `${path} ${p.name}`);
      for (const s of p.subprograms) assert.equal(s.length, sizes.get(s.name), `${path} ${p.name}/${s.name}`);
      assert.equal(p.type !== null, true, `${path} ${p.name} type`);
    }
  }
});

test('BTF summary agrees with bpftool btf dump', (t) => {
  if (!need(t, haveTool('bpftool'), 'bpftool not installed')) return;
  for (const path of OBJECTS) {
    const rep = inspect(path);
    const kinds: Record<string, number> = {};
    let types = 0;
    for (const l of run('bpftool', ['btf', 'dump', 'file', path]).split('\n')) {
      const m = /^\[\d+\] (\w+) /.exec(l);
      if (!m) continue;
      types++;
      kinds[m[1]!] = (kinds[m[1]!] ?? 0) + 1;
    }
    assert.ok(rep.btf !== null);
    assert.equal(rep.btf.types, types, path);
    assert.deepEqual(rep.btf.kinds, kinds, path);
    assert.ok(rep.btf.funcInfo > 0 && rep.btf.lineInfo > 0, path);
  }
});

test('text output names programs, maps and relocations; missing file is an error', () => {
  const r = cli(['inspect', join(TESTDATA, 'calls-el.o')]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /xdp_calls {2}section xdp {2}type BPF_PROG_TYPE_XDP/);
  assert.match(r.stdout, /linked: shared, middle, leaf, global_lookup, global_add/);
  assert.match(r.stdout, /insn +\d+: map values/);
  assert.match(r.stdout, /values {2}BPF_MAP_TYPE_ARRAY {2}key 4B/);
  const json = inspect(join(TESTDATA, 'globals-el.o'));
  assert.ok(json.programs.some((p) => p.relocations.some((x) => x.kind === 'data')));
  assert.ok(json.variables.some((v) => v.name === 'config_pid' && v.size === 4));
  const missing = cli(['inspect', '/nonexistent/x.o']);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such file/);
  const bad = cli(['inspect', join(TESTDATA, 'calls_entry-el.o')]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /RelocationError|only \.text functions can be called/);
});

test('input the CLI cannot use is a one-line error naming it, not a stack trace', () => {
  for (const args of [
    ['inspect', TESTDATA],
    ['disasm', TESTDATA],
    ['btf', 'dump', TESTDATA],
    ['core', 'explain', TESTDATA],
  ]) {
    const r = cli(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.equal(
      r.stderr,
      `ebpf: ${TESTDATA}: cannot read: EISDIR: illegal operation on a directory, read\n`,
    );
  }
  for (const args of [
    ['disasm', '/nonexistent/x.o'],
    ['btf', 'dump', '/nonexistent/x.o'],
    ['core', 'explain', '/nonexistent/x.o'],
  ]) {
    const r = cli(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.equal(r.stderr, 'ebpf: /nonexistent/x.o: no such file\n');
  }
  const noValue = cli(['disasm', join(TESTDATA, 'calls-el.o'), '--section']);
  assert.equal(noValue.status, 2, 'a usage error');
  assert.equal(noValue.stderr, "ebpf: option --section needs a value\n(see 'ebpf disasm --help')\n");
});
