// The disassembler against llvm-objdump-19: every test object, freshly compiled v1-v4 objects,
// every opcode byte with its field variants, and seeded random instruction streams.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disassembleObject, disassembleSection, type DisasmOptions } from '../src/asm/index.js';
import { parseElf } from '../src/elf/index.js';
import { allObjects, TESTDATA, cli, haveTool, need, run } from './helpers.js';

const OBJDUMP = 'llvm-objdump-19';
const haveLlvm = haveTool(OBJDUMP) && haveTool('llvm-mc-19') && haveTool('clang-19');

/** Lines without blank ones and with runs of whitespace made one space; nothing else changes. */
const normalise = (s: string): string[] =>
  s
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '');

type Mode = 'd' | 'alu32' | 'dr';
const MODES: Mode[] = ['d', 'alu32', 'dr'];

function objdump(file: string, mode: Mode): string[] {
  const args = mode === 'dr' ? ['-dr'] : mode === 'alu32' ? ['-d', '--mattr=+alu32'] : ['-d'];
  const lines = normalise(run(OBJDUMP, [...args, '--no-show-raw-insn', file]));
  // llvm-objdump 19 also prints CO-RE relocations from .BTF.ext with -r; those are not ELF relocations.
  return lines.filter((l) => !/^[0-9a-f]{16}: CO-RE </.test(l));
}

function ours(file: string, mode: Mode): string[] {
  const opts: DisasmOptions = { alu32: mode === 'alu32', relocations: mode === 'dr' };
  return normalise(disassembleObject(parseElf(new Uint8Array(readFileSync(file)), file), opts));
}

/** Compare whole listings; returns the number of instruction lines compared. */
function compare(file: string, mode: Mode): number {
  const want = objdump(file, mode);
  const got = ours(file, mode);
  for (let i = 0; i < Math.max(want.length, got.length); i++) {
    if (want[i] !== got[i]) {
      assert.fail(`${file} (${mode}) line ${i}:\n  llvm-objdump: ${want[i]}\n  ours:         ${got[i]}`);
    }
  }
  return want.filter((l) => /^\d+: /.test(l)).length;
}

test('every object in testdata/ and xdp-tools disassembles as llvm-objdump-19 prints it', (t) => {
  if (!need(t, haveLlvm, 'llvm-objdump-19 not installed')) return;
  const files = allObjects(t);
  assert.ok(files.length > 10);
  let lines = 0;
  for (const file of files) for (const mode of MODES) lines += compare(file, mode);
  t.diagnostic(`${files.length} objects x ${MODES.length} modes, ${lines} instruction lines identical`);
});

const V4_SOURCE = `
typedef unsigned long u64; typedef unsigned int u32; typedef signed char s8; typedef short s16; typedef int s32; typedef long s64;
u64 counter; u32 counter32; s64 table[4];
static __attribute__((noinline)) long helper(long a, long b) { return a * b + table[a & 3]; }
__attribute__((section("tc"), used)) long prog(u64 *p, u32 *q, long a, int b, long c) {
  long r = 0;
  s8 *sc = (s8 *)p; s16 *ss = (s16 *)q; s32 *si = (s32 *)(p + 1);
  __sync_fetch_and_add(&counter, a);
#if __BPF_CPU_VERSION__ >= 3
  r += __sync_fetch_and_add(p, a);
  r += __sync_fetch_and_and(p, a);
  __sync_fetch_and_or(p, a);
  r += __sync_fetch_and_xor(p, a);
  r += __atomic_exchange_n(p, a, 0);
  r += __sync_val_compare_and_swap(p, a, r);
  r += __sync_fetch_and_add(q, b);
  r += __sync_fetch_and_or(q, b);
  __sync_fetch_and_and(q, b);
  r += __atomic_exchange_n(q, b, 0);
  r += __sync_val_compare_and_swap(q, b, (int)r);
#endif
  r += *sc + *ss + *si;
  r += (s8)a + (s16)b + (s32)c + (s8)b;
#if __BPF_CPU_VERSION__ >= 4
  r += a / c + a % c + (int)a / b + (int)a % b;
  r += __builtin_bswap16(a) + __builtin_bswap32(a) + __builtin_bswap64(a);
#endif
  for (int i = 0; i < 8; i++) { if (p[i] > (u64)c) break; r += helper(i, r); }
  if ((u32)b < 7 || (s32)b > -9) r ^= 0x123456789abcdefL;
  return r + counter32;
}
char _license[] __attribute__((section("license"), used)) = "GPL";
`;

test('freshly compiled objects, bpfel and bpfeb, -mcpu=v1..v4, match llvm-objdump-19', (t) => {
  if (!need(t, haveLlvm, 'clang-19 / llvm-objdump-19 not installed')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-disasm-'));
  try {
    writeFileSync(join(dir, 'v4.c'), V4_SOURCE);
    let lines = 0;
    for (const target of ['bpfel', 'bpfeb']) {
      for (const cpu of ['v1', 'v2', 'v3', 'v4']) {
        const obj = join(dir, `v4-${target}-${cpu}.o`);
        run('clang-19', ['-O2', '-g', '-target', target, `-mcpu=${cpu}`, '-c', join(dir, 'v4.c'), '-o', obj]);
        for (const mode of MODES) lines += compare(obj, mode);
      }
    }
    const v4 = ours(join(dir, 'v4-bpfeb-v4.o'), 'alu32').join('\n');
    for (const needle of [
      'bswap16',
      's/=',
      '= (s8)',
      '= (s16)',
      '(s32)',
      'cmpxchg_64',
      'xchg32_32',
      'atomic_fetch_and',
    ]) {
      assert.ok(v4.includes(needle), `v4 object has ${needle}`);
    }
    t.diagnostic(`${lines} instruction lines identical`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Assemble raw slots with llvm-mc (as .byte data) and compare both listings. */
function compareBytes(
  t: { diagnostic(s: string): void },
  name: string,
  slots: Uint8Array[],
  le: boolean,
): number {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-bytes-'));
  try {
    const src =
      ['.text', '.globl f', 'f:', ...slots.map((s) => `.byte ${[...s].join(',')}`)].join('\n') + '\n';
    writeFileSync(join(dir, 'b.s'), src);
    const obj = join(dir, `${name}.o`);
    run('llvm-mc-19', ['-triple', le ? 'bpfel' : 'bpfeb', '-filetype=obj', join(dir, 'b.s'), '-o', obj]);
    let lines = 0;
    for (const mode of ['d', 'alu32'] as const) lines += compare(obj, mode);
    return lines;
  } catch (e) {
    t.diagnostic(`${name}: ${String(e)}`);
    throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function slot(le: boolean, opcode: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  b[0] = opcode;
  b[1] = le ? (src << 4) | dst : (dst << 4) | src;
  v.setInt16(2, off, le);
  v.setInt32(4, imm, le);
  return b;
}

test('every opcode byte with field variants disassembles as llvm-objdump-19 does, both byte orders', (t) => {
  if (!need(t, haveLlvm, 'llvm-mc-19 / llvm-objdump-19 not installed')) return;
  // Field values that select instruction variants (sdiv, movsx, bswap widths, atomics, pseudo
  // sources) or that LLVM refuses (registers above r11, stray offsets).
  const variants: [number, number, number, number][] = [
    [1, 2, 0, 4],
    [1, 2, 1, 16],
    [3, 4, 8, 32],
    [5, 6, 16, 64],
    [7, 8, 32, 0x41],
    [9, 10, -3, 0xe1],
    [0, 1, 0, 0xf1],
    [11, 12, 0, 0x51],
    [12, 11, 0x7fff, -1],
    [2, 1, -0x8000, 0xa1],
    [10, 0, 0, 0x10001],
    [6, 15, 1, 0],
  ];
  let lines = 0;
  for (const le of [true, false]) {
    const slots: Uint8Array[] = [];
    for (let op = 0; op < 256; op++) {
      for (const [dst, src, off, imm] of variants) {
        slots.push(slot(le, op, dst, src, off, imm));
        // Give every ld_imm64 a second half so the stream stays in step.
        if (op === 0x18) slots.push(slot(le, 0, 0, 0, 0, 0x1234));
      }
    }
    lines += compareBytes(t, le ? 'every-el' : 'every-eb', slots, le);
  }
  t.diagnostic(`${lines} instruction lines identical`);
});

test('seeded random instruction streams disassemble as llvm-objdump-19 does', (t) => {
  if (!need(t, haveLlvm, 'llvm-mc-19 / llvm-objdump-19 not installed')) return;
  let seed = 20240917;
  const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const offs = [0, 0, 0, 1, 8, 16, 32, -1, 3, -7, 0x7fff, -0x8000];
  const imms = [
    0, 0, 1, 16, 32, 64, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x42, -1, 0x7fffffff,
    -0x80000000,
  ];
  let lines = 0;
  for (const le of [true, false]) {
    const slots: Uint8Array[] = [];
    for (let i = 0; i < 2500; i++) {
      const op = rnd() < 0.1 ? 0x18 : Math.floor(rnd() * 256);
      const reg = (): number => (rnd() < 0.85 ? Math.floor(rnd() * 11) : Math.floor(rnd() * 16));
      const imm = rnd() < 0.2 ? Math.floor(rnd() * 2 ** 32) | 0 : pick(imms);
      slots.push(
        slot(le, op, reg(), reg(), rnd() < 0.1 ? Math.floor(rnd() * 65536) - 32768 : pick(offs), imm),
      );
    }
    lines += compareBytes(t, le ? 'random-el' : 'random-eb', slots, le);
  }
  t.diagnostic(`${lines} instruction lines identical`);
});

test('source lines from a callback are printed when they change', () => {
  const file = join(TESTDATA, 'calls-el.o');
  const elf = parseElf(new Uint8Array(readFileSync(file)), file);
  const text = elf.section('.text')!;
  const src = (section: string, index: number): string | undefined =>
    section === '.text' && index < 4 ? `line ${index < 2 ? 1 : 2}` : undefined;
  const d = disassembleSection(elf, text, { sourceLine: src });
  assert.equal(d.lines[0]?.source, 'line 1');
  const out = disassembleObject(elf, { sourceLine: src, sections: ['.text'] });
  assert.equal(out.match(/^; line 1$/gm)?.length, 1);
  assert.equal(out.match(/^; line 2$/gm)?.length, 1);
  assert.ok(!out.includes('Disassembly of section xdp'));
});

test('ebpf disasm: text is the llvm-objdump listing; --json, --section, --reloc', (t) => {
  if (!need(t, haveLlvm, 'llvm-objdump-19 not installed')) return;
  const file = join(TESTDATA, 'calls-eb.o');
  const text = cli(['disasm', file]);
  assert.equal(text.status, 0, text.stderr);
  assert.deepEqual(normalise(text.stdout), objdump(file, 'd'));
  const rel = cli(['disasm', file, '--reloc']);
  assert.deepEqual(normalise(rel.stdout), objdump(file, 'dr'));

  const json = cli(['disasm', file, '--json', '--section', 'xdp']);
  assert.equal(json.status, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as {
    section: string;
    instructions: { index: number; text: string; opcode: number; reloc?: { type: string; symbol: string } }[];
  }[];
  assert.equal(parsed.length, 1);
  assert.equal(parsed[0]?.section, 'xdp');
  const insns = parsed[0]!.instructions;
  const wantLines = objdump(file, 'd').filter((l) => /^\d+: /.test(l));
  const xdpStart = objdump(file, 'd').indexOf('Disassembly of section xdp:');
  assert.ok(xdpStart > 0);
  const want = objdump(file, 'd')
    .slice(xdpStart)
    .filter((l) => /^\d+: /.test(l));
  assert.ok(wantLines.length > want.length);
  assert.deepEqual(
    insns.map((i) => `${i.index}: ${i.text}`),
    want.slice(0, insns.length),
  );
  assert.ok(insns.some((i) => i.reloc?.type === 'R_BPF_64_32'));
  const missing = cli(['disasm', file, '--section', 'nope']);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /nope/);
});

test('ebpf disasm --source: line_info annotations name real source lines, and the listing is unchanged', () => {
  for (const name of ['flow-el.o', 'calls-eb.o', 'globals-el.o']) {
    const obj = join(TESTDATA, name);
    const plain = cli(['disasm', obj]);
    const annotated = cli(['disasm', obj, '--source']);
    assert.equal(annotated.status, 0, annotated.stderr);
    const notes = annotated.stdout.split('\n').filter((l) => l.startsWith('; '));
    assert.ok(notes.length > 5, `${name}: source annotations`);
    // Removing the annotations gives back exactly the plain listing.
    const stripped = annotated.stdout
      .split('\n')
      .filter((l) => !l.startsWith('; '))
      .join('\n');
    assert.equal(stripped, plain.stdout);
    for (const note of notes) {
      const m = /^; ([^:]+):(\d+): (.*)$/.exec(note);
      assert.ok(m, `annotation shape: ${note}`);
      const source = readFileSync(join(TESTDATA, m[1]!), 'utf8').split('\n');
      assert.equal(m[3], source[Number(m[2]) - 1]!.trim(), `${name}: ${note}`);
    }
  }
  const json = JSON.parse(cli(['disasm', join(TESTDATA, 'flow-el.o'), '--source', '--json']).stdout) as {
    instructions: { source?: string }[];
  }[];
  assert.ok(json.some((s) => s.instructions.some((i) => i.source?.startsWith('flow.c:'))));
});
