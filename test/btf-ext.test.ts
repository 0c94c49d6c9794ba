// .BTF.ext against independent sources: func_info against the ELF symbol table (llvm-objdump -t),
// line_info against DWARF line annotations (llvm-objdump -d -l) and the source text, core_relo
// against the accessors a BPF_CORE_READ program is known to produce; both byte orders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { BtfError } from '../src/errors.js';
import {
  CoreReloKind,
  marshalFuncInfo,
  marshalLineInfo,
  parseBtfExt,
  toKernelFuncInfo,
  toKernelLineInfo,
  type BtfExt,
} from '../src/btf/ext.js';
import { btfExtFromElf, btfFromElf } from '../src/btf/from-elf.js';
import type { Btf } from '../src/btf/btf.js';
import { parseElf } from '../src/elf/index.js';
import { allObjects, needTool, run } from './helpers.js';

const SOURCE = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *parent;
} __attribute__((preserve_access_index));

struct pt_regs___x { long di; } __attribute__((preserve_access_index));

enum e___x { A___x = 1, B___x = 2 };

SEC("kprobe/foo")
int prog(struct pt_regs___x *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	int pid = BPF_CORE_READ(t, parent, tgid);
	int sz = bpf_core_field_size(t->pid);
	int ex = bpf_core_field_exists(t->tgid);
	int ev = bpf_core_enum_value(enum e___x, B___x);
	int ts = bpf_core_type_size(struct task_struct);
	return pid + sz + ex + ev + ts + (int)ctx->di;
}

static __noinline int helper(int x)
{
	return x * 3 +
	       1;
}

SEC("xdp")
int xdp_prog(struct xdp_md *ctx)
{
	int v = ctx->ingress_ifindex;
	return helper(v) > 2 ? XDP_PASS : XDP_DROP;
}
char LICENSE[] SEC("license") = "GPL";
`;

interface Compiled {
  dir: string;
  src: string;
  objs: { endian: string; path: string }[];
}

function compile(t: TestContext): Compiled | undefined {
  if (!needTool(t, 'clang-19') || !needTool(t, 'llvm-objdump-19')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-btfext-'));
  const src = join(dir, 'core.c');
  writeFileSync(src, SOURCE);
  const objs = ['el', 'eb'].map((endian) => {
    const path = join(dir, `core-${endian}.o`);
    execFileSync('clang-19', [
      '-g',
      '-O2',
      '-target',
      `bpf${endian}`,
      '-D__TARGET_ARCH_x86',
      '-I/usr/include',
      '-I/usr/include/x86_64-linux-gnu',
      '-c',
      src,
      '-o',
      path,
    ]);
    return { endian, path };
  });
  return { dir, src, objs };
}

function load(path: string): { btf: Btf; ext: BtfExt; bytes: Uint8Array } {
  const b = readFileSync(path);
  const bytes = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const elf = parseElf(bytes, path);
  const btf = btfFromElf(elf);
  const ext = btfExtFromElf(elf, btf);
  assert.ok(ext, `${path} has .BTF.ext`);
  return { btf, ext, bytes: elf.section('.BTF.ext')!.data() };
}

/** Function symbols from `llvm-objdump -t`: section → offset → name. */
function funcSymbols(path: string): Map<string, Map<number, string>> {
  const out = new Map<string, Map<number, string>>();
  for (const line of run('llvm-objdump-19', ['-t', path]).split('\n')) {
    const m = /^([0-9a-f]{16}) .{6}F (\S+)\s+[0-9a-f]{16}(?: \.hidden)? (\S+)$/.exec(line);
    if (!m) continue;
    let sec = out.get(m[2]!);
    if (!sec) out.set(m[2]!, (sec = new Map()));
    sec.set(parseInt(m[1]!, 16), m[3]!);
  }
  return out;
}

/** Source line of each instruction from `llvm-objdump -d -l`: section → insn index → line. */
function dwarfLines(path: string): Map<string, Map<number, number>> {
  const out = new Map<string, Map<number, number>>();
  let sec: Map<number, number> | undefined;
  let line = 0;
  for (const l of run('llvm-objdump-19', ['-d', '-l', '--no-show-raw-insn', path]).split('\n')) {
    let m = /^Disassembly of section (.*):$/.exec(l);
    if (m) {
      out.set(m[1]!, (sec = new Map()));
      line = 0;
      continue;
    }
    m = /^; .*:(\d+)$/.exec(l);
    if (m) {
      line = Number(m[1]);
      continue;
    }
    m = /^\s+(\d+):\t/.exec(l);
    if (m && sec) sec.set(Number(m[1]), line);
  }
  return out;
}

test('func_info: one record per function symbol, at its offset, naming its FUNC', (t) => {
  if (!needTool(t, 'llvm-objdump-19')) return;
  const files = allObjects(t);
  let checked = 0;
  for (const f of files) {
    const elf = parseElf(new Uint8Array(readFileSync(f)), f);
    if (!elf.section('.BTF.ext')) continue;
    const btf = btfFromElf(elf);
    const ext = btfExtFromElf(elf, btf)!;
    const syms = funcSymbols(f);
    for (const [sec, infos] of ext.funcInfo) {
      const want = syms.get(sec);
      assert.ok(want, `${f}: section ${sec} has function symbols`);
      assert.equal(infos.length, want.size, `${f} ${sec}: func_info count`);
      for (const fi of infos) {
        const fn = btf.type(fi.typeId);
        assert.equal(fn.kind, 'FUNC');
        assert.equal(fn.name, want.get(fi.insnOff), `${f} ${sec} +${fi.insnOff}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 20, `checked ${checked} functions`);
});

test('line_info agrees with DWARF line annotations and the source text, both endians', (t) => {
  const c = compile(t);
  if (!c) return;
  try {
    const srcLines = SOURCE.split('\n');
    const parsed = c.objs.map((o) => load(o.path));
    assert.equal(parsed[0]!.btf.littleEndian, true);
    assert.equal(parsed[1]!.btf.littleEndian, false);
    assert.equal(parsed[1]!.ext.littleEndian, false);
    assert.deepEqual(parsed[0]!.ext.lineInfo, parsed[1]!.ext.lineInfo, 'same records in both byte orders');
    assert.deepEqual(parsed[0]!.ext.coreRelos, parsed[1]!.ext.coreRelos);
    const { btf, ext } = parsed[0]!;
    assert.equal(ext.lineInfoRecSize, 16);
    assert.equal(ext.funcInfoRecSize, 8);
    assert.equal(ext.coreReloRecSize, 16);
    const dwarf = dwarfLines(c.objs[0]!.path);
    assert.deepEqual([...ext.lineInfo.keys()].sort(), ['.text', 'kprobe/foo', 'xdp']);
    let matched = 0;
    for (const [sec, infos] of ext.lineInfo) {
      const lines = dwarf.get(sec)!;
      const starts = new Set(ext.funcInfo.get(sec)!.map((f) => f.insnOff));
      for (const li of infos) {
        assert.equal(li.fileName, c.src);
        assert.equal(li.lineText, srcLines[li.line - 1], `${sec} line ${li.line} text`);
        assert.ok(li.col <= li.lineText.length + 1, 'column inside the line');
        const insn = li.insnOff / 8;
        if (starts.has(li.insnOff) && li.line !== lines.get(insn)) {
          // A function's first record may point at its declaration rather than its first statement.
          assert.match(li.lineText, /\w+\(/, `${sec} +${insn}: function start names the function`);
        } else {
          assert.equal(li.line, lines.get(insn), `${sec} insn ${insn}`);
          matched++;
        }
      }
    }
    assert.ok(matched >= 10, `${matched} records matched DWARF`);
    void btf;
  } finally {
    rmSync(c.dir, { recursive: true });
  }
});

test('core_relo: the accessors BPF_CORE_READ and bpf_core_* produce', (t) => {
  const c = compile(t);
  if (!c) return;
  try {
    for (const o of c.objs) {
      const { btf, ext } = load(o.path);
      const relos = ext.coreRelos.get('kprobe/foo');
      assert.ok(relos, `${o.endian}: relocations for kprobe/foo`);
      const got = relos.map((r) => [btf.type(r.typeId).name, r.accessStr, r.kind]);
      assert.deepEqual(got, [
        ['task_struct', '0:2', CoreReloKind.FIELD_BYTE_OFFSET], // t->parent
        ['task_struct', '0:1', CoreReloKind.FIELD_BYTE_OFFSET], // parent->tgid
        ['task_struct', '0:0', CoreReloKind.FIELD_BYTE_SIZE],
        ['task_struct', '0:1', CoreReloKind.FIELD_EXISTS],
        ['e___x', '1', CoreReloKind.ENUMVAL_VALUE],
        ['task_struct', '0', CoreReloKind.TYPE_SIZE],
        ['pt_regs___x', '0:0', CoreReloKind.FIELD_BYTE_OFFSET], // ctx->di
      ]);
      // Each relocated instruction exists in the section.
      const insns = dwarfLines(o.path).get('kprobe/foo')!;
      for (const r of relos) assert.ok(insns.has(r.insnOff / 8), `insn ${r.insnOff / 8}`);
      assert.equal(ext.coreRelos.has('xdp'), false);
    }
  } finally {
    rmSync(c.dir, { recursive: true });
  }
});

test('kernel func_info/line_info arrays carry the file records with instruction offsets', (t) => {
  const c = compile(t);
  if (!c) return;
  try {
    for (const o of c.objs) {
      const { btf, ext, bytes } = load(o.path);
      const le = btf.littleEndian;
      const raw = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const hdr = ext.header;
      // Walk the file's own func_info subsection and compare record by record.
      let at = hdr.hdrLen + hdr.funcInfoOff + 4;
      const end = hdr.hdrLen + hdr.funcInfoOff + hdr.funcInfoLen;
      while (at < end) {
        const sec = btf.string(raw.getUint32(at, le));
        const n = raw.getUint32(at + 4, le);
        const out = marshalFuncInfo(toKernelFuncInfo(ext.funcInfo.get(sec)!), le);
        const ov = new DataView(out.buffer);
        assert.equal(out.length, n * 8);
        for (let i = 0; i < n; i++) {
          const rec = at + 8 + i * 8;
          assert.equal(ov.getUint32(i * 8, le) * 8, raw.getUint32(rec, le), 'insn_off in instructions');
          assert.equal(ov.getUint32(i * 8 + 4, le), raw.getUint32(rec + 4, le));
        }
        at += 8 + n * 8;
      }
      at = hdr.hdrLen + hdr.lineInfoOff + 4;
      const lend = hdr.hdrLen + hdr.lineInfoOff + hdr.lineInfoLen;
      while (at < lend) {
        const sec = btf.string(raw.getUint32(at, le));
        const n = raw.getUint32(at + 4, le);
        const out = marshalLineInfo(toKernelLineInfo(ext.lineInfo.get(sec)!), le);
        assert.equal(out.length, n * 16);
        const ov = new DataView(out.buffer);
        for (let i = 0; i < n; i++) {
          const rec = at + 8 + i * 16;
          assert.equal(ov.getUint32(i * 16, le) * 8, raw.getUint32(rec, le));
          for (const k of [4, 8, 12]) assert.equal(ov.getUint32(i * 16 + k, le), raw.getUint32(rec + k, le));
        }
        at += 8 + n * 16;
      }
      // Re-basing to a program's first instruction.
      const xdp = toKernelFuncInfo([{ insnOff: 80, typeId: 3 }], 4);
      assert.deepEqual(xdp, [{ insn: 6, typeId: 3 }]);
      assert.throws(() => marshalFuncInfo([{ insn: -1, typeId: 1 }]), BtfError);
    }
  } finally {
    rmSync(c.dir, { recursive: true });
  }
});

test('malformed .BTF.ext: BtfError with the offset', (t) => {
  const c = compile(t);
  if (!c) return;
  try {
    const { btf, bytes } = load(c.objs[0]!.path);
    assert.throws(() => parseBtfExt(bytes.subarray(0, 8), btf), BtfError);
    const bad = bytes.slice();
    new DataView(bad.buffer).setUint32(32, 0, true); // func_info record size 0 → invalid
    assert.throws(() => parseBtfExt(bad, btf), /record size 0 invalid/);
    const badName = bytes.slice();
    new DataView(badName.buffer).setUint32(36, 0x7fffffff, true); // first section name offset
    assert.throws(
      () => parseBtfExt(badName, btf),
      (e: unknown) => e instanceof BtfError && e.location.offset === 36 && /string offset/.test(e.message),
    );
    const overrun = bytes.slice();
    new DataView(overrun.buffer).setUint32(40, 1000, true); // num_info of the first section
    assert.throws(() => parseBtfExt(overrun, btf), /overrun/);
  } finally {
    rmSync(c.dir, { recursive: true });
  }
});
