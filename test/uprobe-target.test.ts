// Where a uprobe goes: libbpf's `binary:function[+offset]` parsed, binaries found, and function
// symbols turned into file offsets, checked against `perf probe -D` (which prints the file offset
// it would give the kernel) on a PIE and a non-PIE program compiled here, libc and Node itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EbpfError, NotFoundError } from '../src/errors.js';
import {
  BINARY_CACHE_LIMITS,
  clearBinaryCache,
  parseUprobeTarget,
  readBinary,
  resolveBinary,
  symbolFileOffset,
} from '../src/link/uprobe-target.js';
import { needTool, ROOT } from './helpers.js';

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

test('parseUprobeTarget reads libbpf target text', () => {
  assert.deepEqual(parseUprobeTarget('/bin/x:main'), { binary: '/bin/x', symbol: 'main', offset: 0n });
  assert.deepEqual(parseUprobeTarget('/proc/self/exe:uv_os_getppid+0x4'), {
    binary: '/proc/self/exe',
    symbol: 'uv_os_getppid',
    offset: 4n,
  });
  assert.deepEqual(parseUprobeTarget('libc.so.6:0x1234'), {
    binary: 'libc.so.6',
    symbol: undefined,
    offset: 0x1234n,
  });
  assert.deepEqual(parseUprobeTarget('a:b:f+16'), { binary: 'a:b', symbol: 'f', offset: 16n });
  for (const bad of ['nocolon', ':f', '/bin/x:', '/bin/x:f+', '/bin/x:+4', '/bin/x:f+zz'])
    assert.throws(() => parseUprobeTarget(bad), EbpfError, bad);
});

test('resolveBinary: paths as given, libraries in library directories, programs in PATH', () => {
  assert.equal(resolveBinary('libc.so.6').endsWith('/libc.so.6'), true);
  assert.equal(resolveBinary('sh'), execFileSync('sh', ['-c', 'command -v sh'], { encoding: 'utf8' }).trim());
  assert.equal(resolveBinary('/proc/self/exe'), '/proc/self/exe');
  assert.throws(() => resolveBinary('/no/such/binary'), NotFoundError);
  assert.throws(() => resolveBinary('libnosuch.so.9'), NotFoundError);
});

/** The file offset `perf probe -x BIN -D FUNC` would put in uprobe_events. */
function perfOffset(binary: string, fn: string): bigint {
  const out = execFileSync('perf', ['probe', '-x', binary, '-D', fn], { encoding: 'utf8', stdio: 'pipe' });
  const m = /:0x([0-9a-f]+)\s*$/m.exec(out);
  assert.ok(m !== null, out);
  return BigInt(`0x${m[1]}`);
}

test('symbolFileOffset equals perf probe on PIE, non-PIE, libc (.dynsym only) and node', (t) => {
  if (!needTool(t, 'gcc') || !needTool(t, 'perf')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-uprobe-'));
  try {
    const src = join(ROOT, 'test/c/uprobe_target.c');
    const pie = join(dir, 'pie');
    const nopie = join(dir, 'nopie');
    execFileSync('gcc', ['-O1', '-o', pie, src]);
    execFileSync('gcc', ['-O1', '-no-pie', '-o', nopie, src]);
    const cases: [string, string][] = [
      [pie, 'target'],
      [pie, 'main'],
      [nopie, 'target'],
      [nopie, 'main'],
      [LIBC, 'getpid'],
      [LIBC, 'malloc'],
      [process.execPath, 'uv_os_getppid'],
    ];
    for (const [bin, fn] of cases) {
      const elf = readBinary(bin);
      assert.equal(symbolFileOffset(elf, fn), perfOffset(bin, fn), `${bin}:${fn}`);
      assert.equal(symbolFileOffset(elf, fn, 4n), perfOffset(bin, fn) + 4n, `${bin}:${fn}+4`);
    }
    assert.ok(readBinary(LIBC).symbols.length === 0, 'libc is stripped: .dynsym alone found its functions');
    const nopieElf = readBinary(nopie);
    assert.notEqual(
      symbolFileOffset(nopieElf, 'target'),
      nopieElf.symbols.find((s) => s.name === 'target')!.value,
    );
    assert.throws(() => symbolFileOffset(nopieElf, 'no_such_function'), NotFoundError);
    // An undefined (imported) symbol is not a function of this file.
    assert.throws(() => symbolFileOffset(nopieElf, 'printf'), NotFoundError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The file offset of `fn` in `bin` as nm and readelf give it (vaddr − segment vaddr + its offset). */
function nmOffset(bin: string, fn: string): bigint {
  const line = execFileSync('nm', ['--defined-only', bin], { encoding: 'utf8' })
    .split('\n')
    .find((l) => l.endsWith(` T ${fn}`) || l.endsWith(` t ${fn}`));
  assert.ok(line !== undefined, `${fn} in nm ${bin}`);
  const vaddr = BigInt(`0x${line.split(' ')[0]!}`);
  const loads = execFileSync('readelf', ['-lW', bin], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /^\s+LOAD\s/.test(l))
    .map((l) => l.trim().split(/\s+/));
  for (const [, off, va, , filesz] of loads) {
    const v = BigInt(va!);
    if (vaddr >= v && vaddr < v + BigInt(filesz!)) return vaddr - v + BigInt(off!);
  }
  throw new Error(`${fn} at 0x${vaddr.toString(16)} is in no LOAD segment of ${bin}`);
}

test('readBinary parses a binary once while it is unchanged, and again once it changes', (t) => {
  if (!needTool(t, 'gcc') || !needTool(t, 'nm') || !needTool(t, 'readelf')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-uprobe-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  clearBinaryCache();
  t.after(clearBinaryCache);
  const build = (out: string, padding: number): void => {
    const pad = Array.from({ length: padding }, (_, i) => `int pad${i}(int x) { return x * ${i + 3}; }`);
    const src = join(dir, `${out}.c`);
    writeFileSync(
      src,
      `${pad.join('\n')}\nint target(int x) { return x + 1; }\nint main(void) { return target(1); }\n`,
    );
    execFileSync('gcc', ['-O0', '-o', join(dir, out), src]);
  };
  const bin = join(dir, 'target');
  build('target', 0);
  const first = readBinary(bin);
  assert.equal(readBinary(bin), first, 'unchanged: the same parse');
  assert.equal(symbolFileOffset(first, 'target'), nmOffset(bin, 'target'));
  // Rewritten in place (same inode) by a build whose target lies further in: parsed again.
  build('other', 40);
  copyFileSync(join(dir, 'other'), bin);
  const second = readBinary(bin);
  assert.notEqual(second, first);
  assert.equal(symbolFileOffset(second, 'target'), nmOffset(bin, 'target'));
  assert.notEqual(symbolFileOffset(second, 'target'), symbolFileOffset(first, 'target'));
  assert.equal(readBinary(bin), second);
  // Same size and mtime (restored), one byte changed: the ctime tells.
  const { atime, mtime } = statSync(bin);
  const bytes = readFileSync(bin);
  const at = bytes.indexOf('pad39');
  assert.ok(at > 0);
  bytes[at + 1] = 'b'.charCodeAt(0);
  writeFileSync(bin, bytes);
  utimesSync(bin, atime, mtime);
  const third = readBinary(bin);
  assert.notEqual(third, second);
  assert.ok(third.symbols.some((s) => s.name === 'pbd39') && !third.symbols.some((s) => s.name === 'pad39'));
  // Replaced by another file (a new inode) at the same path: parsed again.
  rmSync(bin);
  copyFileSync(join(dir, 'other'), bin);
  assert.notEqual(readBinary(bin), third);
  // Bounded: past BINARY_CACHE_LIMITS.entries binaries, the least recently used is parsed again.
  const kept = readBinary(bin);
  const others = Array.from({ length: BINARY_CACHE_LIMITS.entries }, (_, i) => {
    const p = join(dir, `copy${i}`);
    copyFileSync(join(dir, 'other'), p);
    return p;
  });
  for (const p of others.slice(0, -1)) readBinary(p);
  assert.equal(readBinary(bin), kept, 'still one of the last few');
  for (const p of others) readBinary(p);
  assert.equal(readBinary(others.at(-1)!), readBinary(others.at(-1)!));
  assert.notEqual(readBinary(bin), kept, 'evicted: parsed again');
});
