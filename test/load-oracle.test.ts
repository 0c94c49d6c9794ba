// `ebpf load` against libbpf: for every object libbpf loads (testdata manifest, xdp-tools), the
// same programs are loaded and the xlated instructions of each (what `bpftool prog dump xlated`
// prints) are the same, map ids mapped to map names, as is the BTF loaded with them. The kernel's
// own rewrite of the instructions is the oracle. freplace programs,
// which need a target program, against libbpf's bpf_program__set_attach_target (test/c/freplace_load.c).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LoadError, loadObject, type LoadedObject, type TraceEvent } from '../src/loader/index.js';
import { LIBBPF_PIN_BY_NAME, loadObjectSpec } from '../src/object/index.js';
import { SyscallError } from '../src/sys/error.js';
import { mapGetFdById, mapGetInfo, objGet, progGetInfo } from '../src/sys/bpf.js';
import {
  BPF_LD_IMM64,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  decode,
  formatInstruction,
} from '../src/asm/index.js';
import { HOST_LITTLE_ENDIAN } from '../src/host.js';
import {
  assertSameText,
  cli,
  KERNEL_SERIES,
  needRoot,
  needTool,
  run,
  ROOT,
  TESTDATA,
  XDP_TOOLS_DIR,
  need,
} from './helpers.js';

const BPFFS = '/sys/fs/bpf';

interface ManifestEntry {
  name: string;
  loads: boolean;
}
const manifest = JSON.parse(readFileSync(join(TESTDATA, 'manifest.json'), 'utf8')) as {
  objects: ManifestEntry[];
};

const objects: { label: string; path: string; loadsOnReference: boolean }[] = [
  ...manifest.objects.map((o) => ({
    label: o.name,
    path: join(TESTDATA, `${o.name}-el.o`),
    loadsOnReference: o.loads,
  })),
  ...[
    'xdp-dispatcher',
    'xdpdump_xdp',
    ...['alw', 'dny'].flatMap((a) => ['all', 'eth', 'ip', 'tcp', 'udp'].map((k) => `xdpfilt_${a}_${k}`)),
    'xsk_def_xdp_prog',
  ].map((n) => ({ label: n, path: join(XDP_TOOLS_DIR, `${n}.o`), loadsOnReference: true })),
];

/**
 * Objects that bpftool's libbpf (1.1) refuses for its age where the kernel accepts ours: named
 * here, reported, not failed. Anything else one loads and the other refuses is a disagreement.
 */
const LIBBPF_TOO_OLD: Record<string, string> = {
  progtypes_new:
    'section names newer than libbpf 1.1 (tcx/*, netfilter, uprobe.multi, kprobe.session): "failed to guess program type"',
  uprobe_multi:
    'uprobe.multi, uretprobe.multi, uprobe.session and kprobe.session are newer than libbpf 1.1: "failed to guess program type"',
  net_hooks: 'the netfilter and netkit sections are newer than libbpf 1.1: "failed to guess program type"',
  arena: "arenas are newer than libbpf 1.1: \"bad map relo against 'counter' in section '.addr_space.1'\"",
  tcp_cc:
    'libbpf 1.1 skips the `.struct_ops.link` section (1.2 added it), leaving its struct_ops programs without a target: ENOTSUPP',
};

/**
 * The other way round: objects libbpf 1.1 loads because it predates a rule newer libbpf enforces,
 * which ours enforces too. Ours must refuse them for that reason (the pattern).
 */
const LIBBPF_TOO_OLD_TO_REFUSE: Record<string, { why: string; ours: RegExp }> = {
  arena_two_maps: {
    why: 'libbpf 1.1 predates arenas and creates both maps; libbpf 1.4+ allows one arena per object',
    ours: /only one BPF_MAP_TYPE_ARENA map is supported/,
  },
};

/** The last line of a tool's complaint that says something (libbpf's end in "Error: ..."). */
const lastLine = (text: string): string =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^(Warning: bpftool is now running|If it used to work)/.test(l))
    .slice(-3)
    .join(' / ');

/** A map's name by id (the kernel's), for the ld_imm64 instructions of xlated programs. */
function mapName(id: number, names: Map<number, string>): string {
  let name = names.get(id);
  if (name === undefined) {
    const fd = mapGetFdById(id);
    try {
      name = mapGetInfo(fd.fd).name;
    } finally {
      fd.close();
    }
    names.set(id, name);
  }
  return name;
}

/**
 * The kernel's own rewrite of each program pinned in `dir` (its xlated instructions, by file
 * name, read with BPF_OBJ_GET_INFO_BY_FD as `bpftool prog dump xlated` reads them, without
 * bpftool's read of /proc/kallsyms per program, which cost tens of seconds per object in the
 * kernel matrix's VMs): one line per instruction with every field and its disassembly, map ids
 * (ld_imm64 of a map or of a map value) replaced by the map's name. And the BTF the kernel
 * accepted with the programs (`bpftool btf dump id`, raw; '' when loaded without): what
 * sanitising made of the object's BTF for this kernel.
 */
function snapshot(dir: string): { dumps: Map<string, string>; btf: string } {
  const names = new Map<number, string>();
  const dumps = new Map<string, string>();
  let btfId = 0;
  for (const f of readdirSync(dir).sort()) {
    const fd = objGet(join(dir, f));
    let info: ReturnType<typeof progGetInfo>;
    try {
      info = progGetInfo(fd.fd, { xlatedInsns: true });
    } finally {
      fd.close();
    }
    if (btfId === 0) btfId = info.info.btf_id;
    const lines: string[] = [];
    let pc = 0;
    for (const insn of decode(info.xlatedInsns!, HOST_LITTLE_ENDIAN)) {
      const isMap =
        insn.opcode === BPF_LD_IMM64 && (insn.src === BPF_PSEUDO_MAP_FD || insn.src === BPF_PSEUDO_MAP_VALUE);
      lines.push(
        isMap
          ? `${pc}: r${insn.dst} = map[${mapName(insn.imm, names)}]${insn.src === BPF_PSEUDO_MAP_VALUE ? ` + ${insn.next!.imm}` : ''}`
          : `${pc}: ${formatInstruction(insn).text}  [${[insn.opcode, insn.dst, insn.src, insn.off, insn.imm, ...(insn.next ? [insn.next.imm] : [])].join(' ')}]`,
      );
      pc += insn.opcode === BPF_LD_IMM64 ? 2 : 1;
    }
    dumps.set(f, lines.join('\n') + '\n');
  }
  const btf = btfId === 0 ? '' : run('bpftool', ['btf', 'dump', 'id', String(btfId)]);
  return { dumps, btf };
}

/** Entries directly in /sys/fs/bpf, to remove the maps a load pinned by name. */
function bpffsRoot(): Set<string> {
  return new Set(readdirSync(BPFFS));
}

function cleanup(path: string, before: Set<string>, dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  // Only what this object pins by name: other tests may be using bpffs at the same time.
  for (const e of pinnedByName(path)) if (!before.has(e)) rmSync(join(BPFFS, e), { force: true });
}

const pinNames = new Map<string, string[]>();

/**
 * Names of the maps an object pins by name (LIBBPF_PIN_BY_NAME), which libbpf puts in
 * /sys/fs/bpf; read once per object (each cleanup asks).
 */
function pinnedByName(path: string): string[] {
  let names = pinNames.get(path);
  if (names === undefined) {
    try {
      names = loadObjectSpec(path)
        .maps.filter((m) => m.pinning === LIBBPF_PIN_BY_NAME)
        .map((m) => m.name);
    } catch {
      names = []; // an object the object step refuses pins nothing
    }
    pinNames.set(path, names);
  }
  return names;
}

/**
 * `ebpf load OBJ --pin-dir DIR --pin-maps MAPS`. In the kernel matrix's VMs, where starting Node
 * costs seconds under emulation, the same load runs in this process (what the command does:
 * loadObject with these pin options, pin directories made first and removed on failure).
 */
function loadAsCli(path: string, pinDir: string, pinMaps: string): { status: number; stderr: string } {
  if (KERNEL_SERIES === undefined) return cli(['load', path, '--pin-dir', pinDir, '--pin-maps', pinMaps]);
  mkdirSync(pinDir, { recursive: true });
  mkdirSync(pinMaps, { recursive: true });
  try {
    loadObject(path, { pinDir, pinMaps, pinRoot: pinMaps }).close();
    return { status: 0, stderr: '' };
  } catch (e) {
    rmSync(pinDir, { recursive: true, force: true });
    rmSync(pinMaps, { recursive: true, force: true });
    return { status: 1, stderr: e instanceof Error ? e.message : String(e) };
  }
}

const safe = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');

for (const o of objects) {
  test(`ebpf load ${o.label}: loads with the same xlated instructions as libbpf, or both refuse it`, async (t) => {
    // A turn of the event loop, so that the reporter shows each result as it comes (in the
    // kernel matrix's slow VMs); synchronous tests would all be reported at the end.
    await new Promise((r) => setImmediate(r));
    if (!needRoot(t) || !needTool(t, 'bpftool')) return;
    if (!need(t, existsSync(o.path), `${o.path} missing`)) return;
    const tag = `ebpf_test_${process.pid}_${safe(o.label)}`;
    const libbpfDir = join(BPFFS, `${tag}_libbpf`);
    const oursDir = join(BPFFS, `${tag}_ours`);
    const oursMaps = join(BPFFS, `${tag}_maps`);
    const before = bpffsRoot();
    try {
      const lib = spawnSync('bpftool', ['prog', 'loadall', o.path, libbpfDir], { encoding: 'utf8' });
      const libbpfLoads = lib.status === 0;
      if (libbpfLoads && !existsSync(libbpfDir)) {
        // No program to pin (link_bad_map: one map, meant for the linker): both must load it.
        cleanup(o.path, before, [libbpfDir]);
        const none = loadAsCli(o.path, oursDir, oursMaps);
        assert.equal(none.status, 0, `libbpf loads it (no programs), ours refuses: ${none.stderr}`);
        return;
      }
      const theirs = libbpfLoads ? snapshot(libbpfDir) : undefined;
      const expected = theirs?.dumps;
      // Remove libbpf's maps pinned by name first, so ours are created rather than reused.
      cleanup(o.path, before, [libbpfDir]);
      const r = loadAsCli(o.path, oursDir, oursMaps);
      const oursLoads = r.status === 0;
      // On the reference machine (not in the kernel matrix's VMs), the manifest says what loads.
      if (KERNEL_SERIES === undefined && o.loadsOnReference)
        assert.ok(libbpfLoads, `libbpf no longer loads ${o.label}: ${lastLine(lib.stderr)}`);
      if (!libbpfLoads && !oursLoads) {
        t.diagnostic(`both refuse it: libbpf: ${lastLine(lib.stderr)}; ours: ${lastLine(r.stderr)}`);
        return;
      }
      if (!libbpfLoads && LIBBPF_TOO_OLD[o.label] !== undefined) {
        t.diagnostic(`libbpf 1.1 refuses it (${LIBBPF_TOO_OLD[o.label]}); ours loads`);
        return;
      }
      const rule = LIBBPF_TOO_OLD_TO_REFUSE[o.label];
      if (libbpfLoads && !oursLoads && rule !== undefined) {
        assert.match(r.stderr, rule.ours);
        t.diagnostic(`libbpf 1.1 loads it (${rule.why}); ours refuses: ${lastLine(r.stderr)}`);
        return;
      }
      assert.equal(
        oursLoads,
        libbpfLoads,
        libbpfLoads
          ? `libbpf loads it, ours refuses: ${r.stderr}`
          : `ours loads it, libbpf refuses: ${lastLine(lib.stderr)}`,
      );
      const ours = snapshot(oursDir);
      const actual = ours.dumps;
      assert.deepEqual([...actual.keys()], [...expected!.keys()], 'the same programs are loaded');
      for (const [name, text] of expected!) assert.equal(actual.get(name), text, `prog '${name}'`);
      // The BTF the kernel took, sanitised for it (5.10 lacks FLOAT, DECL_TAG, TYPE_TAG, ENUM64).
      assertSameText(ours.btf, theirs!.btf, `${o.label}: BTF loaded with the programs`, 'libbpf');
    } finally {
      cleanup(o.path, before, [libbpfDir, oursDir, oursMaps]);
    }
  });
}

const FREPLACE_SRC = join(ROOT, 'test', 'c', 'freplace_load.c');
const FREPLACE_BIN = join(ROOT, 'build', 'test-c', 'freplace_load');

function freplaceHarness(): string {
  if (!existsSync(FREPLACE_BIN) || statSync(FREPLACE_BIN).mtimeMs < statSync(FREPLACE_SRC).mtimeMs) {
    mkdirSync(join(ROOT, 'build', 'test-c'), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', FREPLACE_SRC, '-lbpf', '-o', FREPLACE_BIN], { stdio: 'inherit' });
  }
  return FREPLACE_BIN;
}

test('freplace: an extension of a loaded program loads as with libbpf, or fails at the same step with the same errno', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool') || !needTool(t, 'gcc')) return;
  const targetObj = join(TESTDATA, 'freplace_target-el.o');
  const extObj = join(TESTDATA, 'freplace-el.o');
  const tag = `ebpf_test_${process.pid}_freplace`;
  const libbpfDir = join(BPFFS, `${tag}_libbpf`);
  const oursDir = join(BPFFS, `${tag}_ours`);
  mkdirSync(libbpfDir);
  mkdirSync(oursDir);
  let target: LoadedObject | undefined;
  try {
    const h = spawnSync(freplaceHarness(), [targetObj, 'freplace_target', 'xdp_verdict', extObj, libbpfDir], {
      encoding: 'utf8',
    });
    const lib = JSON.parse(h.stdout) as { loaded: boolean; errno?: number; error?: string };

    target = loadObject(targetObj);
    const targetProg = target.program('freplace_target');
    const events: TraceEvent[] = [];
    let err: unknown;
    try {
      loadObject(extObj, {
        attachTarget: { program: targetProg },
        pinDir: oursDir,
        trace: (e) => events.push(e),
      }).close();
    } catch (e) {
      err = e;
    }

    // attach_btf_id: the id of FUNC xdp_verdict in the target program's BTF, as bpftool dumps it.
    const info = targetProg.info();
    const btf = run('bpftool', ['btf', 'dump', 'id', String(info.btfId)]);
    const funcId = /^\[(\d+)\] FUNC 'xdp_verdict'/m.exec(btf)?.[1];
    assert.ok(funcId !== undefined, btf);
    const at = events.find((e) => e.kind === 'attach-target');
    assert.ok(at?.kind === 'attach-target');
    assert.deepEqual(
      [at.program, at.func, at.btfId, at.progId, at.progFd],
      ['new_verdict', 'xdp_verdict', Number(funcId), info.id, targetProg.fd.fd],
    );

    if (lib.loaded) {
      assert.equal(err, undefined, String(err));
      const theirs = snapshot(libbpfDir).dumps.get('new_verdict');
      assert.ok(theirs !== undefined);
      assert.equal(snapshot(oursDir).dumps.get('new_verdict'), theirs);
    } else {
      // Here the kernel refuses extensions (trampolines) as it refuses fentry: libbpf gets EPERM
      // from BPF_PROG_LOAD of the extension; so must we, after the same steps before it.
      assert.match(lib.error ?? '', /^load extension: /, h.stderr);
      assert.ok(err instanceof LoadError, String(err));
      assert.equal(err.step, 'program');
      assert.equal(err.location.program, 'new_verdict');
      const cause = err.cause;
      assert.ok(cause instanceof SyscallError, String(cause));
      assert.equal(cause.command, 'BPF_PROG_LOAD');
      assert.equal(cause.errno, lib.errno);
      assert.ok(
        events.some((e) => e.kind === 'map' && e.name === 'verdict'),
        'maps were created first',
      );
      assert.deepEqual(readdirSync(oursDir), []);
    }
  } finally {
    target?.close();
    rmSync(libbpfDir, { recursive: true, force: true });
    rmSync(oursDir, { recursive: true, force: true });
  }
});

test('freplace without a target fails as libbpf does ("attach program FD is not set"); a missing function is named', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const extObj = join(TESTDATA, 'freplace-el.o');
  const dir = join(BPFFS, `ebpf_test_${process.pid}_freplace_none`);
  const r = spawnSync('bpftool', ['prog', 'loadall', extObj, dir], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /prog 'new_verdict': attach program FD is not set/);
  assert.throws(
    () => loadObject(extObj).close(),
    (e) =>
      e instanceof LoadError &&
      e.step === 'program' &&
      e.location.program === 'new_verdict' &&
      /attach program FD is not set/.test(e.message),
  );
  const target = loadObject(join(TESTDATA, 'freplace_target-el.o'));
  try {
    const program = target.program('freplace_target');
    assert.throws(
      () =>
        loadObject(extObj, { attachTarget: { program: program.fd.fd, function: 'no_such_func' } }).close(),
      (e) =>
        e instanceof LoadError &&
        /FUNC 'no_such_func' is not in the BTF of the target program/.test(e.message),
    );
  } finally {
    target.close();
  }
});

test('ebpf load --freplace-target takes a pinned program or `id N`', (t) => {
  if (!needRoot(t)) return;
  const dir = join(BPFFS, `ebpf_test_${process.pid}_freplace_cli`);
  mkdirSync(dir);
  const target = loadObject(join(TESTDATA, 'freplace_target-el.o'), { pinDir: dir });
  try {
    const id = target.program('freplace_target').info().id;
    const pin = join(dir, 'freplace_target');
    for (const how of [[pin], ['id', String(id)], [`id:${id}`]]) {
      const r = cli([
        'load',
        join(TESTDATA, 'freplace-el.o'),
        '--pin-dir',
        join(dir, 'ext'),
        '--trace',
        '--freplace-target',
        ...how,
      ]);
      assert.match(
        r.stdout,
        new RegExp(
          `^prog 'new_verdict': replaces FUNC 'xdp_verdict' \\[\\d+\\] of prog id ${id} \\(fd \\d+\\)$`,
          'm',
        ),
        how.join(' '),
      );
      // Loaded where the kernel allows extensions; here BPF_PROG_LOAD says EPERM, as for libbpf.
      if (r.status !== 0) assert.match(r.stderr, /prog 'new_verdict': BPF_PROG_LOAD: EPERM/);
      rmSync(join(dir, 'ext'), { recursive: true, force: true });
    }
    const bad = cli([
      'load',
      join(TESTDATA, 'freplace-el.o'),
      '--pin-dir',
      join(dir, 'ext'),
      '--freplace-target',
      'id',
      'x',
    ]);
    // A malformed value is a usage error: exit 2 (README, Exit codes).
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--freplace-target program id wants a whole number from 1 to \d+, not 'x'/);
  } finally {
    target.unpin();
    target.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
