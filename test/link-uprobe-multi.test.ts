// uprobe_multi links and uprobe sessions on a program compiled here with gcc: a glob over its
// symbols (checked against nm's list), entries counted per function by cookie, returns summed, a
// session asking for the return probe only on even arguments, the section-name target, a pid
// filter, and kprobe sessions, which this machine's kernel cannot run (no kprobes): there the
// clear NotSupportedError is asserted; test/kernel/ runs them on kernels that have kprobes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LinkType } from '../src/constants.js';
import { EbpfError, NotFoundError, NotSupportedError } from '../src/errors.js';
import { parseElf } from '../src/elf/elf.js';
import {
  BPF_COOKIE,
  haveFeature,
  UPROBE_MULTI_LINK,
  UPROBE_SESSION,
  versionAtLeast,
  type Feature,
} from '../src/features/index.js';
import { autoAttachLoaded } from '../src/link/auto.js';
import { attachKprobeMulti } from '../src/link/kprobe.js';
import { pmuType } from '../src/link/probe-link.js';
import {
  attachUprobeMulti,
  binaryFunctionsMatching,
  globRegExp,
  UprobeGroup,
  UprobeMultiLink,
} from '../src/link/uprobe-multi.js';
import { loadObject } from '../src/loader/index.js';
import { loaderFeatures } from '../src/loader/features.js';
import { MULTI_LINK_FALLBACK } from '../src/link/probe-group.js';
import { loadObjectSpec } from '../src/object/index.js';
import { need, needRoot, needTool, ROOT, TESTDATA } from './helpers.js';

const MULTI_O = join(TESTDATA, 'uprobe_multi-el.o');
const KPROBE_O = join(TESTDATA, 'kprobe-el.o');

function compileTarget(t: TestContext): string | undefined {
  if (!needTool(t, 'gcc')) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-umulti-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'multi_target');
  execFileSync('gcc', ['-O1', '-o', bin, join(ROOT, 'test/c/multi_target.c')]);
  return bin;
}

/**
 * On a kernel without `f` (older than its version): runs `refusal`, which asserts how the kernel's
 * lack is reported, and returns true (the test ends there). A kernel as new as the version that
 * still lacks it is a skip, or a failure under CI=true.
 */
function olderKernel(t: TestContext, f: Feature, refusal: () => void): boolean {
  if (haveFeature(f)) return false;
  if (versionAtLeast(release(), f.version)) return !need(t, false, `${f.name} missing on ${release()}`);
  refusal();
  t.diagnostic(`Linux ${release()} predates ${f.name} (${f.version}): the refusal was checked`);
  return true;
}

/**
 * True (the test skipped) on a kernel older than bpf_get_attach_cookie (5.15), which multi_enter
 * and kprobe.c's programs call: the verifier refuses them there ("invalid func unknown#174").
 */
function predatesCookies(t: TestContext): boolean {
  if (haveFeature(BPF_COOKIE)) return false;
  assert.ok(!versionAtLeast(release(), BPF_COOKIE.version), `${BPF_COOKIE.name} missing on ${release()}`);
  t.skip(`Linux ${release()} predates ${BPF_COOKIE.name} (${BPF_COOKIE.version}), which the programs call`);
  return true;
}

const run = (bin: string, n: number): number =>
  Number(execFileSync(bin, [String(n)], { encoding: 'utf8' }).trim());
type Bss = Record<string, unknown>;
const arr = (x: unknown): bigint[] => Array.from(x as ArrayLike<bigint>, BigInt);
const sumTo = (n: number): bigint => BigInt((n * (n - 1)) / 2);

test('globs over a binary: the functions nm lists, each at its file offset', (t) => {
  const bin = compileTarget(t);
  if (bin === undefined || !needTool(t, 'nm')) return;
  const elf = parseElf(readFileSync(bin), bin);
  const found = binaryFunctionsMatching(elf, 'fn_*');
  const nm = execFileSync('nm', ['--defined-only', bin], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => /^[tT]$/.test(f[1] ?? '') && /^fn_/.test(f[2] ?? ''))
    .sort((a, b) => Number(BigInt(`0x${a[0]!}`) - BigInt(`0x${b[0]!}`)))
    .map((f) => f[2]);
  assert.deepEqual(
    found.map((f) => f.name),
    nm,
  );
  assert.deepEqual(found.map((f) => f.name).sort(), ['fn_one', 'fn_three', 'fn_two']);
  for (const f of found)
    assert.equal(f.offset, BigInt(elf.fileOffsetOf(elf.symbols.find((s) => s.name === f.name)!.value)!));
  assert.deepEqual(binaryFunctionsMatching(elf, 'fn_t?o'), [found.find((f) => f.name === 'fn_two')]);
  assert.deepEqual(binaryFunctionsMatching(elf, 'nothing*'), []);
  assert.ok(globRegExp('a.b*').test('a.bcd') && !globRegExp('a.b*').test('axbcd'));
});

test('uprobe.multi and uretprobe.multi: one link, counts per function by cookie', (t) => {
  if (!needRoot(t)) return;
  const bin = compileTarget(t);
  if (bin === undefined || predatesCookies(t)) return;
  if (
    olderKernel(t, UPROBE_MULTI_LINK, () => {
      // Loaded for single uprobes (the loader's fallback); the link itself, asked for, is refused.
      using obj = loadObject(MULTI_O, { programs: ['multi_enter'] });
      assert.throws(
        () => attachUprobeMulti(obj.program('multi_enter'), bin, { symbols: ['fn_*'], mode: 'multi' }),
        (e: unknown) =>
          e instanceof NotSupportedError &&
          /uprobe_multi links \(BPF_TRACE_UPROBE_MULTI\) requires Linux 6\.6 or later/.test(e.message),
      );
    })
  )
    return;
  using obj = loadObject(MULTI_O, { programs: ['multi_enter', 'multi_return'] });
  const n = 7;
  const enter = attachUprobeMulti(obj.program('multi_enter'), bin, {
    symbols: ['fn_*'],
    cookies: [0n, 1n, 2n],
  });
  const exit = attachUprobeMulti(obj.program('multi_return'), bin, {
    symbols: ['fn_one', 'fn_three'],
    retprobe: true,
  });
  try {
    assert.ok(enter instanceof UprobeMultiLink, 'a multi link on a kernel that has them');
    assert.equal(enter.functions.length, 3);
    assert.equal(enter.info().type, LinkType.UPROBE_MULTI);
    const sum = run(bin, n);
    const bss = obj.bss as Bss;
    assert.deepEqual(arr(bss.entries).slice(0, 4), [BigInt(n), BigInt(n), BigInt(n), 0n]);
    assert.equal(bss.arg_sum, 3n * sumTo(n), 'fn_* got i each; other() was not probed');
    assert.equal(bss.returns, BigInt(2 * n));
    assert.equal(bss.ret_sum, 2n * sumTo(n) + BigInt(4 * n), 'fn_one returns i+1, fn_three i+3');
    assert.equal(sum, Number(4n * sumTo(n)) + 106 * n);
    // bpftool 7.1 predates uprobe_multi links: it shows the type by number (BPF_LINK_TYPE_UPROBE_MULTI).
    const shown = JSON.parse(
      execFileSync('bpftool', ['-j', 'link', 'show', 'id', String(enter.info().id)], { encoding: 'utf8' }),
    ) as { type: string | number; prog_id: number };
    assert.ok(shown.type === 'uprobe_multi' || shown.type === LinkType.UPROBE_MULTI, String(shown.type));
    assert.equal(shown.prog_id, obj.program('multi_enter').info().id);
  } finally {
    enter.close();
    exit.close();
  }
  run(bin, 3);
  assert.equal(arr((obj.bss as Bss).entries)[0], BigInt(n), 'closed: no longer counted');
});

test('uprobe.multi from the section name, with a pid filter (one link, or one uprobe per function before Linux 6.6)', (t) => {
  if (!needRoot(t)) return;
  const bin = compileTarget(t);
  if (bin === undefined) return;
  const spec = loadObjectSpec(MULTI_O);
  const named = spec.programs.find((p) => p.name === 'multi_named')!;
  assert.equal(named.attachTo, 'multi_target:fn_*');
  named.attachTo = `${bin}:fn_*`;
  using obj = loadObject(spec, { programs: ['multi_named'] });
  const all = autoAttachLoaded(obj, 'multi_named');
  run(bin, 5);
  all.close();
  assert.equal((obj.bss as Bss).named_calls, 15n);
  // A pid that is not the target's: nothing counted.
  const filtered = autoAttachLoaded(obj, 'multi_named', { pid: process.pid });
  run(bin, 5);
  filtered.close();
  assert.equal((obj.bss as Bss).named_calls, 15n);
});

test('uprobe.session: the return probe runs only for entries that returned 0', (t) => {
  if (!needRoot(t)) return;
  const bin = compileTarget(t);
  if (bin === undefined) return;
  const programs = { programs: ['session'] };
  if (
    olderKernel(t, UPROBE_SESSION, () =>
      // No fallback for a session: the load names the kernel it needs.
      assert.throws(
        () => loadObject(MULTI_O, programs).close(),
        (e: unknown) =>
          e instanceof NotSupportedError &&
          /section 'uprobe.session': uprobe sessions \(BPF_TRACE_UPROBE_SESSION\) requires Linux 6\.13 or later/.test(
            e.message,
          ),
      ),
    )
  )
    return;
  using obj = loadObject(MULTI_O, programs);
  using s = attachUprobeMulti(obj.program('session'), bin, { symbols: ['fn_two'], session: true });
  assert.ok(s.session);
  const n = 9;
  run(bin, n);
  const bss = obj.bss as Bss;
  assert.equal(bss.session_entries, BigInt(n));
  const evens = Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === 0);
  assert.equal(bss.session_returns, BigInt(evens.length));
  assert.equal(
    bss.session_cookie_sum,
    BigInt(evens.reduce((a, i) => a + i + 1000, 0)),
    'each return saw its entry cookie',
  );
});

test('uprobe.multi errors say what is wrong', (t) => {
  if (!needRoot(t)) return;
  const bin = compileTarget(t);
  if (bin === undefined || predatesCookies(t)) return;
  using obj = loadObject(MULTI_O, { programs: ['multi_enter'] });
  const p = obj.program('multi_enter');
  assert.throws(() => attachUprobeMulti(p, bin, { symbols: ['zz_*'] }), NotFoundError);
  assert.throws(
    () => attachUprobeMulti(p, bin, { symbols: ['fn_*'], cookies: [1n] }),
    /1 cookies for 3 functions/,
  );
  assert.throws(() => attachUprobeMulti(p, bin, {}), /either symbols or offsets/);
  // A uprobe.multi program attached as a session: the kernel refuses the attach type; before
  // sessions (6.13), the session is refused naming the version.
  assert.throws(
    () => attachUprobeMulti(p, bin, { symbols: ['fn_one'], session: true }),
    (e: unknown) =>
      haveFeature(UPROBE_SESSION)
        ? e instanceof EbpfError && /loaded for BPF_TRACE_UPROBE_SESSION/.test(e.message)
        : e instanceof NotSupportedError &&
          /uprobe sessions \(BPF_TRACE_UPROBE_SESSION\) requires Linux 6\.13 or later/.test(e.message),
  );
});

test('kprobe.session: attached where the kernel has kprobes, else a clear NotSupportedError', (t) => {
  if (!needRoot(t) || predatesCookies(t)) return;
  using obj = loadObject(KPROBE_O);
  const p = obj.program(obj.spec.programs.find((x) => x.sectionName.startsWith('kprobe.multi'))!.name);
  if (pmuType('kprobe') === undefined) {
    assert.throws(
      () => attachKprobeMulti(p, ['__x64_sys_getppid'], { session: true }),
      (e: unknown) =>
        e instanceof NotSupportedError && /KPROBE_SESSION links \(Linux 6\.10\)/.test(e.message),
    );
    return;
  }
  t.diagnostic('kprobes available: the session runs in test/kernel/ where the object is built for it');
});

const fallbackWarning = (prog: string): string =>
  `prog '${prog}': uprobe_multi links (BPF_TRACE_UPROBE_MULTI) requires Linux 6.6 or later; loaded for single probes, attached one per function`;

test('single uprobes forced (loader and attach options): one per function, counted as the multi link counts', (t) => {
  if (!needRoot(t)) return;
  const bin = compileTarget(t);
  if (bin === undefined || predatesCookies(t)) return;
  const warnings: string[] = [];
  using obj = loadObject(MULTI_O, {
    programs: ['multi_enter', 'multi_return'],
    features: { ...loaderFeatures(), uprobeMultiLink: false },
    trace: (e) => {
      if (e.kind === 'warning') warnings.push(e.message);
    },
  });
  assert.deepEqual(warnings, [fallbackWarning('multi_enter'), fallbackWarning('multi_return')]);
  const n = 6;
  const enter = attachUprobeMulti(obj.program('multi_enter'), bin, {
    symbols: ['fn_*'],
    cookies: [0n, 1n, 2n],
    mode: 'single',
  });
  const exit = attachUprobeMulti(obj.program('multi_return'), bin, {
    symbols: ['fn_one', 'fn_three'],
    retprobe: true,
    mode: 'single',
  });
  try {
    assert.ok(enter instanceof UprobeGroup && exit instanceof UprobeGroup);
    assert.equal(enter.reason, 'single uprobes asked for');
    assert.deepEqual(
      enter.probes.map((p) => p.fileOffset),
      enter.functions.map((f) => f.offset),
    );
    assert.ok(exit.probes.every((p) => p.retprobe));
    const sum = run(bin, n);
    const bss = obj.bss as Bss;
    assert.deepEqual(arr(bss.entries).slice(0, 4), [BigInt(n), BigInt(n), BigInt(n), 0n]);
    assert.equal(bss.arg_sum, 3n * sumTo(n));
    assert.equal(bss.returns, BigInt(2 * n));
    assert.equal(bss.ret_sum, 2n * sumTo(n) + BigInt(4 * n));
    assert.equal(sum, Number(4n * sumTo(n)) + 106 * n);
  } finally {
    enter.close();
    exit.close();
  }
  assert.ok(enter.closed && exit.closed);
  run(bin, 2);
  assert.equal(arr((obj.bss as Bss).entries)[0], BigInt(n), 'closed: no longer counted');
  assert.throws(
    () =>
      attachUprobeMulti(obj.program('multi_enter'), bin, { symbols: ['fn_*'], mode: 'sideways' as 'auto' }),
    /mode/,
  );
});

test('auto: a multi link where the kernel has one, else one uprobe per function with a warning', async (t) => {
  if (!needRoot(t)) return;
  const bin = compileTarget(t);
  if (bin === undefined) return;
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => {
    // (This test's own: an earlier test's warnings may still be on their way.)
    if (w.code === MULTI_LINK_FALLBACK && w.message.includes(bin)) warnings.push(w.message);
  };
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const spec = loadObjectSpec(MULTI_O);
  spec.programs.find((p) => p.name === 'multi_named')!.attachTo = `${bin}:fn_*`;
  using obj = loadObject(spec, { programs: ['multi_named'] });
  const a = autoAttachLoaded(obj, 'multi_named');
  try {
    run(bin, 4);
    assert.equal((obj.bss as Bss).named_calls, 12n);
  } finally {
    a.close();
  }
  await new Promise((resolve) => setImmediate(resolve));
  if (haveFeature(UPROBE_MULTI_LINK)) {
    assert.ok(a instanceof UprobeMultiLink);
    assert.deepEqual(warnings, []);
  } else {
    assert.ok(a instanceof UprobeGroup && a.probes.length === 3);
    assert.deepEqual(warnings, [
      `prog 'multi_named': uprobe_multi links (BPF_TRACE_UPROBE_MULTI) requires Linux 6.6 or later; attached 3 uprobes on ${bin}, one per function`,
    ]);
  }
});
