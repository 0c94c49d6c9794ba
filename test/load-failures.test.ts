// Failures: objects libbpf refuses are refused here too, at the same step; and a load that fails
// at any syscall leaves nothing behind (descriptors of this process, pins in bpffs).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  LoadError,
  VerifierError,
  loadObject,
  type LoadedObject,
  type TraceEvent,
} from '../src/loader/index.js';
import { setSyscallHook, failNthCall } from '../src/loader/syscalls.js';
import { LIBBPF_PIN_BY_NAME, RelocationError, loadObjectSpec } from '../src/object/index.js';
import { E } from '../src/sys/errno.js';
import { need, needRoot, needTool, ROOT, TESTDATA, XDP_TOOLS_DIR, bpfDescriptors } from './helpers.js';

const BPFFS = '/sys/fs/bpf';

/** Names of the maps an object pins by name (LIBBPF_PIN_BY_NAME), which libbpf puts in /sys/fs/bpf. */
function pinnedByName(path: string): string[] {
  try {
    return loadObjectSpec(path)
      .maps.filter((m) => m.pinning === LIBBPF_PIN_BY_NAME)
      .map((m) => m.name);
  } catch {
    return []; // an object the object step refuses pins nothing
  }
}

/** libbpf's verdict on an object: bpftool's exit status and what it printed. */
function libbpfLoad(path: string): { ok: boolean; stderr: string } {
  const dir = join(BPFFS, `ebpf_test_${process.pid}_libbpf_fail`);
  const before = new Set(readdirSync(BPFFS));
  const r = spawnSync('bpftool', ['prog', 'loadall', path, dir], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  // Only what this object pins by name: other tests may be using bpffs at the same time.
  for (const e of pinnedByName(path)) if (!before.has(e)) rmSync(join(BPFFS, e), { force: true });
  return { ok: r.status === 0, stderr: r.stderr };
}

function expectFailure(path: string, check: (e: unknown) => boolean, libbpfSays: RegExp): void {
  const lib = libbpfLoad(path);
  assert.equal(lib.ok, false, 'libbpf refuses it');
  assert.match(lib.stderr, libbpfSays);
  assert.throws(() => loadObject(path).close(), check);
}

test('legacy SEC("maps") is refused when opening, as libbpf 1.x does; legacyMaps: true loads it', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const path = join(TESTDATA, 'legacy-el.o');
  expectFailure(
    path,
    (e) => e instanceof LoadError && e.step === 'open' && /legacy map definitions/.test(e.message),
    /legacy map definitions in 'maps' section are not supported/,
  );
  const obj = loadObject(path, { legacyMaps: true });
  try {
    assert.deepEqual([...obj.programs.keys()], ['legacy_socket']);
    assert.deepEqual([...obj.maps.keys()].sort(), ['legacy_array', 'legacy_hash', 'legacy_percpu']);
  } finally {
    obj.close();
  }
});

test('an entry program calling another is refused when relocating calls ("bad call relo")', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  expectFailure(
    join(TESTDATA, 'calls_entry-el.o'),
    (e) =>
      e instanceof RelocationError && e.location.program === 'xdp_caller' && /xdp_callee/.test(e.message),
    /prog 'xdp_caller': bad call relo against 'xdp_callee'/,
  );
});

test('a typed ksym gets its vmlinux BTF id as in libbpf, and the kernel refuses it the same way here', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const path = join(TESTDATA, 'externs_typed-el.o');
  const dir = join(BPFFS, `ebpf_test_${process.pid}_typed_ksym`);
  const r = spawnSync('bpftool', ['-d', 'prog', 'loadall', path, dir], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  assert.notEqual(r.status, 0);
  const libbpfId = /extern \(var ksym\) 'bpf_prog_active': resolved to \[(\d+)\]/.exec(r.stderr)?.[1];
  assert.ok(libbpfId !== undefined, r.stderr);
  const kernelSays = /ldimm64 failed to find the address for kernel symbol 'bpf_prog_active'/;
  assert.match(r.stderr, kernelSays);
  const events: TraceEvent[] = [];
  assert.throws(
    () => loadObject(path, { trace: (e) => events.push(e) }).close(),
    (e) => e instanceof LoadError && e.step === 'program' && kernelSays.test((e as VerifierError).log),
  );
  assert.ok(
    events.some(
      (e) =>
        e.kind === 'extern' && e.name === 'bpf_prog_active' && e.what === `ksym = vmlinux BTF [${libbpfId}]`,
    ),
  );
  // The instruction sent: ld_imm64 with BPF_PSEUDO_BTF_ID (src 3) and that id.
  const reloc = events.find((e) => e.kind === 'relocation' && e.reference.kind === 'ksym');
  assert.ok(reloc?.kind === 'relocation');
  const sent = /ld_pseudo r\d+, 0x3, (0x[0-9a-f]+)/.exec(reloc.after);
  assert.ok(sent !== null, reloc.after);
  assert.equal(Number(sent[1]), Number(libbpfId));
});

test('a poisoned CO-RE relocation the verifier reaches: both loaders fail, ours names the field in C and its line', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const path = join(TESTDATA, 'core_poison-el.o');
  const dir = join(BPFFS, `ebpf_test_${process.pid}_core_poison`);
  const r = spawnSync('bpftool', ['-d', 'prog', 'loadall', path, dir], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  assert.notEqual(r.status, 0, 'libbpf fails too');
  // libbpf rewrites the kernel's `call unknown#195896080` into these two lines, after the source line.
  const lib =
    /; (.*) @ core_poison\.c:(\d+)\n(\d+): <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation <byte_off> \[(\d+)\] struct task_struct\.nonexistent_field \((0:1) @ offset 4\)/.exec(
      r.stderr,
    );
  assert.ok(lib !== null, r.stderr);
  const [, text, line, insn, typeId, accessStr] = lib;
  assert.match(r.stderr, /prog 'read_missing': failed to load: -22/);
  let err: unknown;
  try {
    loadObject(path).close();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof VerifierError, String(err));
  assert.equal(err.code, 'EINVAL');
  assert.equal(err.location.program, 'read_missing');
  assert.equal(err.failedInstruction, Number(insn));
  assert.match(err.log, /call unknown#195896080/, 'the kernel log is kept as the kernel wrote it');
  const relo = err.coreRelocation;
  assert.ok(relo !== undefined);
  assert.equal(relo.relo.typeId, Number(typeId));
  assert.equal(relo.relo.accessStr, accessStr);
  assert.match(
    err.message,
    /CO-RE relocation #1 \(FIELD_BYTE_OFFSET t->nonexistent_field\) cannot be resolved/,
  );
  assert.match(err.message, /no member 'nonexistent_field' in struct task_struct/);
  assert.deepEqual([err.source?.line, err.source?.text.trim()], [Number(line), text]);
  assert.ok(err.message.includes(`core_poison.c:${line}:`), err.message);
  assert.match(err.message, new RegExp(`^ {4}${insn}: <invalid CO-RE relocation>$`, 'm'));
});

test('fentry programs fail at BPF_PROG_LOAD with the same errno as libbpf (no trampolines here)', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  expectFailure(
    join(TESTDATA, 'progtypes_trampoline-el.o'),
    (e) =>
      e instanceof LoadError &&
      e.step === 'program' &&
      e.location.program === 'prog_fentry' &&
      /EPERM/.test(e.message),
    /prog 'prog_fentry': BPF program load failed: Operation not permitted/,
  );
});

test('xdpdump_bpf: the fentry target "func" is not in kernel BTF, for both loaders', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  expectFailure(
    join(XDP_TOOLS_DIR, 'xdpdump_bpf.o'),
    (e) =>
      e instanceof LoadError &&
      e.step === 'program' &&
      e.location.program === 'trace_on_entry' &&
      /attach target FUNC 'func' not found/.test(e.message),
    /prog 'trace_on_entry': failed to find kernel BTF type ID of 'func'/,
  );
});

const fdCount = (): number => bpfDescriptors().length;

function listing(dirs: string[]): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    try {
      for (const e of readdirSync(d)) out.push(join(d, e));
    } catch {
      out.push(`${d} (absent)`);
    }
  }
  return out.sort();
}

for (const name of ['flow', 'maps', 'globals', 'struct_ops']) {
  test(`${name}: failing each syscall in turn leaks no descriptor and no pin`, (t) => {
    if (!needRoot(t)) return;
    const path = join(TESTDATA, `${name}-el.o`);
    const root = join(BPFFS, `ebpf_test_${process.pid}_inject_${name}`);
    const pins = join(root, 'maps');
    const progs = join(root, 'progs');
    mkdirSync(pins, { recursive: true });
    mkdirSync(progs, { recursive: true });
    const opts = { pinRoot: pins, pinMaps: pins, pinDir: progs };
    const done = (o: LoadedObject): void => {
      o.unpin();
      o.close();
    };
    try {
      done(loadObject(path, opts)); // warm caches: feature probes, kernel BTF
      let total = 0;
      setSyscallHook((_c, n) => {
        total = n;
      });
      done(loadObject(path, opts));
      setSyscallHook(undefined);
      if (!need(t, total > 3, 'the load made too few syscalls to test')) return;
      let failed = 0;
      for (let i = 1; i <= total; i++) {
        const fds = fdCount();
        const before = listing([pins, progs]);
        setSyscallHook(failNthCall(i));
        try {
          done(loadObject(path, opts));
        } catch (e) {
          assert.ok(e instanceof Error && e.name !== 'TypeError' && e.name !== 'RangeError', String(e));
          failed++;
        } finally {
          setSyscallHook(undefined);
        }
        assert.equal(fdCount(), fds, `descriptors leaked when syscall ${i} of ${total} failed`);
        assert.deepEqual(
          listing([pins, progs]),
          before,
          `pins left behind when syscall ${i} of ${total} failed`,
        );
      }
      // Only steps libbpf also tolerates (BTF load, BTF-typed map create, binding .rodata) may fail quietly.
      assert.ok(failed >= total / 2, `${failed} of ${total} injected failures failed the load`);
    } finally {
      setSyscallHook(undefined);
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('freplace: failing each syscall of the target lookup and the load leaks no descriptor', (t) => {
  if (!needRoot(t)) return;
  const target = loadObject(join(TESTDATA, 'freplace_target-el.o'));
  const opts = { attachTarget: { program: target.program('freplace_target') } };
  const attempt = (): void => {
    try {
      loadObject(join(TESTDATA, 'freplace-el.o'), opts).close();
    } catch (e) {
      // EPERM from BPF_PROG_LOAD where the kernel refuses extensions; any injected failure.
      assert.ok(e instanceof Error && e.name !== 'TypeError' && e.name !== 'RangeError', String(e));
    }
  };
  try {
    attempt(); // warm caches
    let total = 0;
    setSyscallHook((_c, n) => {
      total = n;
    });
    attempt();
    setSyscallHook(undefined);
    assert.ok(total >= 6, `${total} syscalls`);
    for (let i = 1; i <= total; i++) {
      const fds = fdCount();
      setSyscallHook(failNthCall(i));
      try {
        attempt();
      } finally {
        setSyscallHook(undefined);
      }
      assert.equal(fdCount(), fds, `descriptors leaked when syscall ${i} of ${total} failed`);
    }
  } finally {
    target.close();
  }
});

test('a sampling profiler (node --cpu-prof, SIGPROF every 100 µs) does not interrupt BPF_PROG_LOAD', (t) => {
  if (!needRoot(t)) return;
  const object = join(XDP_TOOLS_DIR, 'xdpfilt_alw_all.o');
  if (!need(t, existsSync(object), `${object} missing (xdp-tools)`)) return;
  // The verifier gives up with EAGAIN whenever a signal is pending; before the addon held SIGPROF
  // back during the load, every try of this ~30 ms verification was cut short, even at --cpu-prof's
  // default 1 ms interval.
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-cpu-prof-'));
  try {
    const script = [
      `import { loadObject } from ${JSON.stringify(join(ROOT, 'src', 'loader', 'index.ts'))};`,
      `for (let i = 0; i < 3; i++) loadObject(${JSON.stringify(object)}).close();`,
      `console.log('loaded');`,
    ].join('\n');
    const r = spawnSync(
      process.execPath,
      [
        '--cpu-prof',
        '--cpu-prof-dir',
        dir,
        '--cpu-prof-interval',
        '100',
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script,
      ],
      { encoding: 'utf8', cwd: ROOT, timeout: 120_000 },
    );
    assert.equal(r.status, 0, `${r.stderr}`);
    assert.match(r.stdout, /loaded/);
    assert.ok(
      readdirSync(dir).some((f) => f.endsWith('.cpuprofile')),
      'the profiler ran',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a verifier interrupted on every try (EAGAIN) is said to be interrupted, not to have rejected the program', () => {
  // What the kernel returns when a signal stays pending through every retry: EAGAIN and the log
  // as far as the verifier got (the last lines of such a log from this kernel).
  const log = [
    '411: (bf) r2 = r10                    ; R2=fp0 R10=fp0',
    '412: (07) r2 += -16                   ; R2=fp-16',
    '',
  ].join('\n');
  const e = new VerifierError('xdpfilt_alw_all', {
    code: 'EAGAIN',
    errno: E.EAGAIN,
    log,
    failedInstruction: 412,
  });
  assert.match(e.message, /interrupted by a signal on each of its tries \(EAGAIN\): not a rejection/);
  assert.doesNotMatch(e.message, /rejected/);
  assert.match(e.message, /412: \(07\) r2 \+= -16/, 'the log tail is still shown');
  // Any other errno is a rejection, as before.
  const refused = new VerifierError('p', { code: 'EACCES', errno: E.EACCES, log, failedInstruction: 412 });
  assert.match(refused.message, /the verifier rejected the program \(EACCES\)/);
});
