// USDT: the stapsdt notes of a program compiled here with gcc and <sys/sdt.h> (PIE and not, and a
// shared library), read and compared with readelf's; every argument form gcc wrote parsed, and
// pt_regs offsets checked against the kernel's BTF; then testdata/usdt.c, built against libbpf's
// unchanged <bpf/usdt.bpf.h>, attached to the probes: hits and every argument value exact, with BPF
// cookies and (loaded as for a kernel without them) through the ip-to-spec-id map, a semaphore the
// program sees set only while attached, a pid filter, and the section-name target.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseKernelBtf, type Member } from '../src/btf/index.js';
import { EbpfError, NotSupportedError } from '../src/errors.js';
import { parseElf } from '../src/elf/elf.js';
import { autoAttachLoaded } from '../src/link/auto.js';
import { parseUsdtArg, parseUsdtArgs, UsdtArgType, X86_64_PT_REGS } from '../src/link/usdt-args.js';
import { findUsdtSites, readUsdtNotes } from '../src/link/usdt-notes.js';
import { attachUsdt, parseUsdtTarget, USDT_IP_MAP, USDT_SPECS_MAP } from '../src/link/usdt.js';
import { loaderFeatures, loadObject } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { need, needRoot, needTool, ROOT, TESTDATA, VMLINUX } from './helpers.js';

const USDT_O = join(TESTDATA, 'usdt-el.o');
const SDT_H = '/usr/include/x86_64-linux-gnu/sys/sdt.h';

interface Built {
  dir: string;
  /** PIE executable linked with the library. */
  pie: string;
  /** Fixed-address executable, without the library. */
  fixed: string;
  lib: string;
}

function buildTargets(t: TestContext): Built | undefined {
  if (
    !needTool(t, 'gcc') ||
    !need(t, existsSync(SDT_H), `${SDT_H} missing (apt-get install systemtap-sdt-dev)`)
  )
    return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-usdt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const c = (f: string): string => join(ROOT, 'test/c', f);
  const lib = join(dir, 'libusdt_lib.so');
  const pie = join(dir, 'usdt_target');
  const fixed = join(dir, 'usdt_target_fixed');
  execFileSync('gcc', ['-O2', '-shared', '-fPIC', '-o', lib, c('usdt_lib.c')]);
  const sources = [c('usdt_target.c'), c('usdt_guarded.c')];
  execFileSync('gcc', [
    '-O1',
    '-pie',
    '-fPIE',
    '-DWITH_LIB',
    '-o',
    pie,
    ...sources,
    lib,
    `-Wl,-rpath,${dir}`,
  ]);
  execFileSync('gcc', ['-O1', '-no-pie', '-o', fixed, ...sources]);
  return { dir, pie, fixed, lib };
}

/** readelf -n's view of the stapsdt notes: provider, name, location, base, semaphore, arguments. */
function readelfNotes(file: string): string[] {
  const text = execFileSync('readelf', ['-n', file], { encoding: 'utf8' });
  const out: string[] = [];
  const re =
    /Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)\s+Arguments:([^\n]*)/g;
  for (const m of text.matchAll(re))
    out.push([m[1], m[2], BigInt(m[3]!), BigInt(m[4]!), BigInt(m[5]!), m[6]!.trim()].join(' '));
  return out;
}

test('stapsdt notes read as readelf reads them, PIE, fixed-address and shared library', (t) => {
  const b = buildTargets(t);
  if (b === undefined || !needTool(t, 'readelf')) return;
  for (const file of [b.pie, b.fixed, b.lib]) {
    const notes = readUsdtNotes(parseElf(readFileSync(file), file));
    const ours = notes.map((n) => [n.provider, n.name, n.locAddr, n.baseAddr, n.semaAddr, n.args].join(' '));
    assert.deepEqual(ours, readelfNotes(file), file);
    assert.ok(notes.length >= 1);
  }
  const elf = parseElf(readFileSync(b.fixed), b.fixed);
  const [guarded] = findUsdtSites(elf, 'ebpf_test', 'guarded');
  assert.ok(guarded !== undefined && guarded.semaAddr !== 0n, 'the guarded probe has a semaphore');
  assert.equal(guarded.semaphoreOffset, BigInt(elf.fileOffsetOf(guarded.semaAddr)!));
  assert.notEqual(guarded.fileOffset, guarded.address, 'a fixed-address file: offset and address differ');
  assert.throws(
    () => findUsdtSites(elf, 'ebpf_test', 'nope'),
    /no USDT probe ebpf_test:nope \(the file has .*ebpf_test:regs/,
  );
});

test('prelinked notes: the address moves with .stapsdt.base', (t) => {
  const b = buildTargets(t);
  if (b === undefined) return;
  const bytes = new Uint8Array(readFileSync(b.fixed));
  const before = findUsdtSites(parseElf(bytes, b.fixed), 'ebpf_test', 'regs');
  // Rewrite every note as if the file had been linked 0x10000 lower and prelink had moved it up:
  // the notes keep the old addresses, .stapsdt.base has the new one.
  const elf = parseElf(bytes, b.fixed);
  const sec = elf.section('.note.stapsdt')!;
  const v = new DataView(bytes.buffer, bytes.byteOffset);
  for (let off = sec.offset; off < sec.offset + sec.size;) {
    const namesz = v.getUint32(off, true);
    const descsz = v.getUint32(off + 4, true);
    const desc = off + 12 + ((namesz + 3) & ~3);
    v.setBigUint64(desc, v.getBigUint64(desc, true) - 0x10000n, true);
    v.setBigUint64(desc + 8, v.getBigUint64(desc + 8, true) - 0x10000n, true);
    off = desc + ((descsz + 3) & ~3);
  }
  const after = findUsdtSites(parseElf(bytes, b.fixed), 'ebpf_test', 'regs');
  assert.equal(after[0]!.locAddr, before[0]!.locAddr - 0x10000n);
  assert.deepEqual(
    after.map((s) => [s.address, s.fileOffset]),
    before.map((s) => [s.address, s.fileOffset]),
  );
});

test('USDT argument specs: every x86-64 form, and clear errors', () => {
  const r = (spec: string) => parseUsdtArg(spec);
  assert.deepEqual(r('-4@%eax'), {
    spec: '-4@%eax',
    type: UsdtArgType.REG,
    size: 4,
    signed: true,
    valOff: 0n,
    regOff: X86_64_PT_REGS.rax,
    idxRegOff: 0,
    scaleShift: 0,
    bitshift: 32,
  });
  assert.equal(r('-1@%dl').regOff, X86_64_PT_REGS.rdx);
  assert.equal(r('-2@%r13w').regOff, X86_64_PT_REGS.r13);
  assert.equal(r('1@%sil').regOff, X86_64_PT_REGS.rsi);
  assert.equal(r('8@%r9').bitshift, 0);
  const deref = r('8@-8(%rbp)');
  assert.equal(deref.type, UsdtArgType.REG_DEREF);
  assert.equal(deref.valOff, 2n ** 64n - 8n);
  assert.equal(deref.regOff, X86_64_PT_REGS.rbp);
  assert.equal(r('4@(%rsp)').valOff, 0n);
  assert.equal(r('4@0x10(%rdi)').valOff, 16n);
  const sib = r('8@(%rdx,%rax,8)');
  assert.equal(sib.type, UsdtArgType.SIB);
  assert.deepEqual([sib.regOff, sib.idxRegOff, sib.scaleShift], [X86_64_PT_REGS.rdx, X86_64_PT_REGS.rax, 3]);
  const sib2 = r('-4@-16(%rbx,%r12)');
  assert.deepEqual([sib2.valOff, sib2.idxRegOff, sib2.scaleShift], [2n ** 64n - 16n, X86_64_PT_REGS.r12, 0]);
  assert.deepEqual([r('-4@$5').type, r('-4@$5').valOff], [UsdtArgType.CONST, 5n]);
  assert.equal(r('-1@$-5').valOff, 2n ** 64n - 5n);
  assert.equal(r('8@$0x1f').valOff, 31n);
  assert.deepEqual([r('%rax').size, r('%rax').signed], [8, false]);
  assert.deepEqual(
    parseUsdtArgs('-4@%ebx -1@%dl  -2@%r13w 8@%rax').map((a) => a.size),
    [4, 1, 2, 8],
  );
  assert.deepEqual(parseUsdtArgs(''), []);
  for (const [bad, why] of [
    ['1@%ah', /high-byte register/],
    ['4@%xmm0', /unknown x86-64 register %xmm0/],
    ['3@%eax', /size 3/],
    ['8@counter(%rip)', /symbol-relative/],
    ['8@(%rax,%rbx,3)', /scale 3/],
    ['8@(,%rax,8)', /without a base/],
    ['8@$x', /not a number/],
    ['8@[rax]', /not a register, memory operand or constant/],
  ] as const) {
    assert.throws(
      () => parseUsdtArg(bad),
      (e: unknown) => e instanceof EbpfError && why.test(e.message) && e.message.includes(bad),
    );
  }
  assert.throws(() => parseUsdtArgs(Array(13).fill('8@%rax').join(' ')), /13 arguments, more than 12/);
});

test('x86-64 pt_regs offsets are the kernel BTF struct pt_regs offsets', (t) => {
  if (!need(t, existsSync(VMLINUX), `${VMLINUX} missing`) || process.arch !== 'x64') return;
  const btf = parseKernelBtf(VMLINUX);
  const regs = btf.findOne('pt_regs', 'STRUCT');
  assert.ok(regs.kind === 'STRUCT');
  // The kernel's names drop the 'r' of the uapi ones (rax -> ax), but for r8..r15.
  const kernelName = (n: string): string => (/^r\d/.test(n) ? n : n.slice(1));
  for (const [name, off] of Object.entries(X86_64_PT_REGS)) {
    const m: Member | undefined = regs.members.find((x) => x.name === kernelName(name));
    assert.ok(m !== undefined, `pt_regs.${kernelName(name)}`);
    assert.equal(m.bitsOffset / 8, off, name);
  }
});

test('USDT section targets: PATH:PROVIDER:NAME', () => {
  assert.deepEqual(parseUsdtTarget('/usr/bin/app:prov:name'), {
    binary: '/usr/bin/app',
    provider: 'prov',
    name: 'name',
  });
  assert.deepEqual(parseUsdtTarget('/a:b/c:p:n'), { binary: '/a:b/c', provider: 'p', name: 'n' });
  for (const bad of ['app:name', ':p:n', 'a:p:', 'a::n'])
    assert.throws(() => parseUsdtTarget(bad), /not binary:provider:name/);
});

type Bss = Record<string, unknown>;
const arr = (x: unknown): bigint[] => Array.from(x as ArrayLike<number | bigint>, (v) => BigInt(v));

function run(bin: string, n: number): number {
  return Number(execFileSync(bin, [String(n)], { encoding: 'utf8' }).trim());
}

/** What each probe of usdt_target fires with, for i = 0..n-1. */
const expected = {
  regs: (i: number) => [BigInt(i), BigInt(-i), BigInt(100 * i - 1000), (BigInt(i) << 40n) | 7n],
  stack: (i: number) => [BigInt(i), BigInt(-3 * i), BigInt(i)],
  consts: () => [-9n, 5n, 1000000n],
  lib_probe: (i: number) => [BigInt(i), BigInt(i * i)],
};

function checkSlot(bss: Bss, slot: number, n: number, args: bigint[], arg0Sum: bigint, what: string): void {
  assert.equal(arr(bss.hits)[slot], BigInt(n), `${what}: hits`);
  assert.equal(arr(bss.arg_cnt)[slot], BigInt(args.length), `${what}: bpf_usdt_arg_cnt`);
  assert.equal(arr(bss.arg_errors)[slot], 0n, `${what}: bpf_usdt_arg errors`);
  const last = arr((bss.args as unknown[])[slot]);
  assert.deepEqual(last, [...args, ...Array<bigint>(12 - args.length).fill(0n)], `${what}: arguments`);
  assert.equal(arr(bss.arg0_sum)[slot], arg0Sum, `${what}: sum of the first argument`);
}

const sumTo = (n: number): bigint => BigInt((n * (n - 1)) / 2);

test('USDT attach by API and from the section: hits, arguments, semaphore, cookies', (t) => {
  if (!needRoot(t)) return;
  const b = buildTargets(t);
  if (b === undefined) return;
  const spec = loadObjectSpec(USDT_O);
  const guardedSpec = spec.programs.find((p) => p.name === 'on_guarded')!;
  assert.equal(guardedSpec.attachTo, 'usdt_target:ebpf_test:guarded');
  guardedSpec.attachTo = `${b.pie}:ebpf_test:guarded`;
  using obj = loadObject(spec);
  const n = 6;
  assert.equal(run(b.pie, 2), 0, 'no listener: the semaphore is 0');
  const links = [
    attachUsdt(obj, 'on_probe', b.pie, 'ebpf_test', 'regs', { cookie: 0n }),
    attachUsdt(obj, 'on_probe', b.pie, 'ebpf_test', 'stack', { cookie: 1n }),
    attachUsdt(obj, 'on_probe', b.pie, 'ebpf_test', 'consts', { cookie: 2n }),
    attachUsdt(obj, 'on_probe', b.lib, 'ebpf_lib', 'lib_probe', { cookie: 3n }),
    autoAttachLoaded(obj, 'on_guarded'),
  ];
  try {
    assert.ok(links.slice(0, 4).every((l) => 'byCookie' in l && l.byCookie));
    // One spec slot per attachment here (one site each), distinct.
    const ids = links.flatMap((l) => ('specIds' in l ? l.specIds : []));
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(run(b.pie, n), n, 'attached: the semaphore is set every time');
    const bss = obj.bss as Bss;
    checkSlot(bss, 0, n, expected.regs(n - 1), sumTo(n), 'regs (registers)');
    checkSlot(bss, 1, n, expected.stack(n - 1), sumTo(n), 'stack (memory)');
    checkSlot(bss, 2, n, expected.consts(), -9n * BigInt(n), 'consts (constants)');
    checkSlot(bss, 3, n, expected.lib_probe(n - 1), sumTo(n), 'lib_probe (shared library)');
    assert.equal(bss.guarded_hits, BigInt(n));
    assert.equal(bss.guarded_sum, sumTo(n));
    // The fixed-address build of the same program fires the same probes: not attached, not counted.
    run(b.fixed, 3);
    assert.equal(arr((obj.bss as Bss).hits)[0], BigInt(n));
  } finally {
    for (const l of links) l.close();
  }
  assert.equal(run(b.pie, 2), 0, 'detached: the semaphore is back to 0');
  assert.equal(arr((obj.bss as Bss).hits)[0], BigInt(n));
  // The slots were freed: a new attachment takes slot 0 again.
  using again = attachUsdt(obj, 'on_probe', b.fixed, 'ebpf_test', 'regs', { cookie: 5n });
  assert.deepEqual(again.specIds, [0]);
  run(b.fixed, 2);
  checkSlot(obj.bss as Bss, 5, 2, expected.regs(1), 1n, 'regs (fixed-address)');
});

test('USDT base + index * scale arguments need a newer usdt.bpf.h than this object has', (t) => {
  if (!needRoot(t)) return;
  const b = buildTargets(t);
  if (b === undefined) return;
  const [site] = findUsdtSites(parseElf(readFileSync(b.pie), b.pie), 'ebpf_test', 'indexed');
  if (!need(t, /\(%\w+,%\w+/.test(site!.args), `gcc wrote '${site!.args}', not a base+index form`)) return;
  using obj = loadObject(USDT_O);
  assert.throws(
    () => attachUsdt(obj, 'on_probe', b.pie, 'ebpf_test', 'indexed'),
    (e: unknown) => e instanceof NotSupportedError && /base \+ index \* scale.*libbpf 1\.7/.test(e.message),
  );
  // Nothing left behind: the failed attach freed its slot.
  using l = attachUsdt(obj, 'on_probe', b.pie, 'ebpf_test', 'consts');
  assert.deepEqual(l.specIds, [0]);
});

test('USDT without BPF cookies: the program finds its spec by instruction pointer', async (t) => {
  if (!needRoot(t)) return;
  const b = buildTargets(t);
  if (b === undefined) return;
  // Loaded as for a kernel before 5.15: LINUX_HAS_BPF_COOKIE is 0 in the object.
  using obj = loadObject(USDT_O, { features: { ...loaderFeatures(), bpfCookie: false } });
  const fixed = attachUsdt(obj, 'on_probe', b.fixed, 'ebpf_test', 'regs', { cookie: 4n });
  try {
    assert.equal(fixed.byCookie, false);
    const ipMap = obj.map(USDT_IP_MAP);
    const entries = [...ipMap.entries()];
    assert.deepEqual(
      entries.map(([k, v]) => [BigInt(k as bigint), Number(v)]),
      fixed.sites.map((s, i) => [s.address, fixed.specIds[i]]),
      'a fixed-address executable: the note address is the runtime address',
    );
    run(b.fixed, 4);
    checkSlot(obj.bss as Bss, 4, 4, expected.regs(3), sumTo(4), 'regs by ip');
  } finally {
    fixed.close();
  }
  assert.equal([...obj.map(USDT_IP_MAP).keys()].length, 0, 'closing removes the ip entries');

  // PIE and a shared library: where they are mapped depends on the process, so a pid is needed.
  assert.throws(
    () => attachUsdt(obj, 'on_probe', b.lib, 'ebpf_lib', 'lib_probe'),
    (e: unknown) => e instanceof NotSupportedError && /needs a pid/.test(e.message),
  );
  const child = spawn(b.pie, ['5', 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const done = new Promise<number | null>((res) => child.on('exit', res));
  try {
    await new Promise((res) => setTimeout(res, 200));
    using lib = attachUsdt(obj, 'on_probe', b.lib, 'ebpf_lib', 'lib_probe', { pid: child.pid!, cookie: 6n });
    using exe = attachUsdt(obj, 'on_probe', b.pie, 'ebpf_test', 'stack', { pid: child.pid!, cookie: 7n });
    run(b.pie, 3); // another process: filtered out by the pid
    child.stdin.end('go\n');
    assert.equal(await done, 0);
    checkSlot(obj.bss as Bss, 6, 5, expected.lib_probe(4), sumTo(5), 'lib_probe by ip');
    checkSlot(obj.bss as Bss, 7, 5, expected.stack(4), sumTo(5), 'stack by ip');
    void lib;
    void exe;
  } finally {
    child.kill();
  }
});

test('USDT errors say what is wrong', (t) => {
  if (!needRoot(t)) return;
  const b = buildTargets(t);
  if (b === undefined) return;
  using obj = loadObject(USDT_O);
  assert.throws(
    () => attachUsdt(obj, 'on_probe', b.pie, 'ebpf_test', 'missing'),
    /no USDT probe ebpf_test:missing/,
  );
  assert.throws(
    () => attachUsdt(obj, 'on_probe', '/bin/true', 'a', 'b'),
    /no USDT probes \(no \.note\.stapsdt notes\)/,
  );
  using plain = loadObject(join(TESTDATA, 'uprobe-el.o'));
  assert.throws(
    () => attachUsdt(plain, 'on_enter', b.pie, 'ebpf_test', 'regs'),
    new RegExp(`no ${USDT_SPECS_MAP} map`),
  );
  const spec = loadObjectSpec(USDT_O);
  using unpatched = loadObject(spec);
  // The section names a bare 'usdt_target', looked for in PATH.
  assert.throws(() => autoAttachLoaded(unpatched, 'on_guarded'), /usdt_target' not found/);
  writeFileSync(join(b.dir, 'not-elf'), 'text');
  assert.throws(() => attachUsdt(obj, 'on_probe', join(b.dir, 'not-elf'), 'a', 'b'), EbpfError);
});
