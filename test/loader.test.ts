// The loader's steps against oracles: the BTF the kernel holds after our fix-ups equals the one
// libbpf loaded; sanitised BTF is accepted by the kernel; verifier errors name the source line;
// incompatible pins are refused with a diff; the trace narrates each step; .rodata is frozen.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  BPF_ADD,
  BPF_ATOMIC,
  BPF_DW,
  BPF_FETCH,
  BPF_LD_IMM64,
  BPF_LDX,
  BPF_MEM,
  BPF_PSEUDO_FUNC,
  BPF_STX,
  Instruction,
} from '../src/asm/index.js';
import { NotSupportedError } from '../src/errors.js';
import { ATOMICS, haveFeature } from '../src/features/index.js';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder } from '../src/btf/builder.js';
import {
  loadObject,
  LoadError,
  MapIncompatibleError,
  VerifierError,
  formatTraceEvent,
  type TraceEvent,
} from '../src/loader/index.js';
import { buildBtf, sanitizeTypes, ALL_BTF_FEATURES, type BtfFeatures } from '../src/loader/btf-sanitize.js';
import { loaderFeatures, type LoaderFeatures } from '../src/loader/features.js';
import { BPF_F_MMAPABLE } from '../src/constants.js';
import {
  LIBBPF_PIN_BY_NAME,
  loadObjectSpec,
  type ExternSpec,
  type KconfigType,
  type SpecInstruction,
} from '../src/object/index.js';
import { fillKconfig, type KconfigSources } from '../src/loader/kconfig.js';
import { btfGetInfo, btfLoad, mapGetInfo, mapLookupElem, objGet, progGetInfo } from '../src/sys/bpf.js';
import { bpfDescriptors, cli, needRoot, needTool, run, TESTDATA, XDP_TOOLS_DIR } from './helpers.js';

const BPFFS = '/sys/fs/bpf';
const NONE: BtfFeatures = {
  func: false,
  globalFunc: false,
  datasec: false,
  float: false,
  declTag: false,
  typeTag: false,
  enum64: false,
};

function tmpPinDir(tag: string): string {
  const d = join(BPFFS, `ebpf_test_${process.pid}_${tag}`);
  mkdirSync(d, { recursive: true });
  return d;
}

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

/** The BTF libbpf loads for an object, as `bpftool btf dump id` prints it from the kernel. */
function libbpfKernelBtf(path: string): string {
  const dir = join(BPFFS, `ebpf_test_${process.pid}_btf_libbpf`);
  const before = new Set(readdirSync(BPFFS));
  try {
    run('bpftool', ['prog', 'loadall', path, dir]);
    const prog = readdirSync(dir)[0]!;
    const info = JSON.parse(run('bpftool', ['-j', 'prog', 'show', 'pinned', join(dir, prog)])) as {
      btf_id: number;
    };
    return run('bpftool', ['btf', 'dump', 'id', String(info.btf_id)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    for (const e of pinnedByName(path)) if (!before.has(e)) rmSync(join(BPFFS, e), { force: true });
  }
}

for (const path of [
  join(TESTDATA, 'globals-el.o'),
  join(TESTDATA, 'maps-el.o'),
  join(TESTDATA, 'calls-el.o'),
  join(TESTDATA, 'externs-el.o'),
  join(XDP_TOOLS_DIR, 'xdp-dispatcher.o'),
]) {
  test(`the kernel holds the same BTF for ${path.split('/').pop()} as after libbpf's fix-ups`, (t) => {
    if (!needRoot(t) || !needTool(t, 'bpftool')) return;
    const expected = libbpfKernelBtf(path);
    const pins = tmpPinDir('btf_ours');
    const obj = loadObject(path, { pinRoot: pins });
    try {
      const id = btfGetInfo(obj.btfFd!.fd).info.id;
      assert.equal(run('bpftool', ['btf', 'dump', 'id', String(id)]), expected);
    } finally {
      obj.unpin();
      obj.close();
      rmSync(pins, { recursive: true, force: true });
    }
  });
}

test('BTF sanitised for a kernel without FUNC, DATASEC, ...: the kernel accepts it and programs load', (t) => {
  if (!needRoot(t)) return;
  const events: TraceEvent[] = [];
  const obj = loadObject(join(TESTDATA, 'globals-el.o'), {
    features: { ...loaderFeatures(), btfKinds: NONE },
    trace: (e) => events.push(e),
  });
  try {
    const btf = events.find((e) => e.kind === 'btf');
    assert.ok(btf?.kind === 'btf');
    const what = btf.sanitized.map((c) => c.what).join('\n');
    assert.match(what, /DATASEC '\.rodata' → STRUCT '_rodata'/);
    assert.match(what, /VAR 'config_pid' → INT/);
    assert.match(what, /FUNC 'use_globals' → TYPEDEF/);
    assert.match(what, /FUNC_PROTO → ENUM/);
    const kernel = Btf.parse(btfGetInfo(obj.btfFd!.fd, true).data!);
    const kinds = new Set([...kernel.types()].map((t) => t.kind));
    for (const k of ['VAR', 'DATASEC', 'FUNC', 'FUNC_PROTO'] as const) assert.ok(!kinds.has(k), `${k} left`);
    // Without FUNC support no func_info goes with the programs.
    assert.equal(progGetInfo(obj.program('use_globals').fd.fd).info.nr_func_info, 0);
  } finally {
    obj.close();
  }
});

/** A pinned map's flags and its one value, as the kernel holds them. */
function pinnedArrayValue(path: string): { flags: number; btfValueTypeId: number; value: Uint8Array } {
  const fd = objGet(path);
  try {
    const { info } = mapGetInfo(fd.fd);
    const value = new Uint8Array(info.value_size);
    mapLookupElem(fd.fd, new Uint32Array([0]), value);
    return { flags: info.map_flags, btfValueTypeId: info.btf_value_type_id, value };
  } finally {
    fd.close();
  }
}

test('the .kconfig map holds the values libbpf puts there, with its flags, frozen', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const path = join(TESTDATA, 'externs-el.o');
  const progs = join(BPFFS, `ebpf_test_${process.pid}_kconfig_progs`);
  const maps = tmpPinDir('kconfig_maps');
  let expected: ReturnType<typeof pinnedArrayValue>;
  try {
    run('bpftool', ['prog', 'loadall', path, progs, 'pinmaps', maps]);
    expected = pinnedArrayValue(join(maps, 'externs_kconfig'));
  } finally {
    rmSync(progs, { recursive: true, force: true });
    rmSync(maps, { recursive: true, force: true });
  }
  const events: TraceEvent[] = [];
  const obj = loadObject(path, { trace: (e) => events.push(e) });
  try {
    const rec = obj.maps.get('externs.kconfig')!;
    const { info } = mapGetInfo(rec.fd.fd);
    const value = new Uint8Array(info.value_size);
    mapLookupElem(rec.fd.fd, new Uint32Array([0]), value);
    assert.deepEqual({ flags: info.map_flags, btfValueTypeId: info.btf_value_type_id, value }, expected);
    assert.equal(value.length, 50);
    // Readable facts inside it: CONFIG_HZ (int at 20) as /proc/config.gz says, the weak missing one 0.
    const hz = /^CONFIG_HZ=(\d+)$/m.exec(run('sh', ['-c', 'zcat /proc/config.gz']))?.[1];
    assert.equal(new DataView(value.buffer).getInt32(20, true), Number(hz));
    assert.equal(new DataView(value.buffer).getInt32(12, true), 0);
    assert.ok(
      events.some((e) => e.kind === 'map-init' && e.name === 'externs.kconfig' && /frozen/.test(e.what)),
    );
  } finally {
    obj.close();
  }
});

test('iproute2 maps with PIN_GLOBAL_NS are pinned at <pinRoot>/tc/globals/<name>, as tc pins them', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const root = tmpPinDir('iproute2');
  const obj = loadObject(join(TESTDATA, 'legacy_iproute2-el.o'), { legacyMaps: true, pinRoot: root });
  try {
    const path = join(root, 'tc', 'globals', 'tc_counters');
    assert.equal(obj.maps.get('tc_counters')!.pinnedAt, path);
    const shown = JSON.parse(run('bpftool', ['-j', 'map', 'show', 'pinned', path])) as {
      id: number;
      name: string;
    };
    assert.equal(shown.name, 'tc_counters');
    assert.equal(shown.id, mapGetInfo(obj.maps.get('tc_counters')!.fd.fd).info.id);
    // PIN_NONE maps stay unpinned; nothing else appears under the pin root.
    assert.deepEqual(obj.pins, [path]);
    assert.deepEqual(readdirSync(join(root, 'tc', 'globals')), ['tc_counters']);
    // A second load finds the pin and reuses it, as tc does.
    const again = loadObject(join(TESTDATA, 'legacy_iproute2-el.o'), { legacyMaps: true, pinRoot: root });
    try {
      assert.equal(again.maps.get('tc_counters')!.reused, true);
    } finally {
      again.close();
    }
  } finally {
    obj.unpin();
    obj.close();
    rmSync(root, { recursive: true, force: true });
  }
});

test('kconfig values follow libbpf: tristate m, string truncated, weak missing 0, strong missing / m-for-bool / overflow refused', () => {
  const ext = (
    name: string,
    type: KconfigType,
    size: number,
    offset: number,
    weak = false,
    signed = false,
  ): ExternSpec => ({
    name,
    kind: 'kconfig',
    weak,
    btfId: 1,
    kconfig: { type, size, align: Math.min(size, 8), signed, offset },
  });
  const src = (config: Record<string, string>): KconfigSources => ({
    kernelVersion: 0x6122c,
    bpfCookie: true,
    syscallWrapper: false,
    config: () => new Map(Object.entries(config)),
  });
  const fill = (externs: ExternSpec[], config: Record<string, string>): Uint8Array => {
    const out = new Uint8Array(32);
    fillKconfig(externs, out, src(config), true, {});
    return out;
  };
  const v = fill(
    [
      ext('CONFIG_T', 'tristate', 4, 0),
      ext('CONFIG_S', 'char_array', 4, 4),
      ext('CONFIG_W', 'int', 4, 8, true),
      ext('LINUX_KERNEL_VERSION', 'int', 4, 12),
      ext('CONFIG_N', 'int', 2, 16, false, true),
    ],
    { CONFIG_T: 'm', CONFIG_S: '"abcdef"', CONFIG_N: '0x7fff' },
  );
  const dv = new DataView(v.buffer);
  assert.equal(dv.getUint32(0, true), 2);
  assert.deepEqual([...v.subarray(4, 8)], [0x61, 0x62, 0x63, 0]);
  assert.equal(dv.getUint32(8, true), 0);
  assert.equal(dv.getUint32(12, true), 0x6122c);
  assert.equal(dv.getInt16(16, true), 0x7fff);
  const refused = (externs: ExternSpec[], config: Record<string, string>, re: RegExp): void =>
    assert.throws(
      () => fill(externs, config),
      (e) => e instanceof LoadError && re.test(e.message),
    );
  refused([ext('CONFIG_X', 'int', 4, 0)], {}, /extern 'CONFIG_X' \(strong\): not resolved/);
  refused([ext('CONFIG_B', 'bool', 1, 0)], { CONFIG_B: 'm' }, /implies tristate or char/);
  refused([ext('CONFIG_N', 'int', 2, 0, false, true)], { CONFIG_N: '32768' }, /would overflow 2-byte type/);
  refused([ext('CONFIG_I', 'int', 4, 0)], { CONFIG_I: 'y' }, /implies bool, tristate, or char/);
  refused([ext('LINUX_NO_SUCH', 'int', 4, 0)], {}, /unrecognized virtual extern/);
});

test('internal maps lose BPF_F_MMAPABLE on a kernel without mmapable arrays, as libbpf sanitises them', (t) => {
  if (!needRoot(t)) return;
  const mmapable = (features: LoaderFeatures): number => {
    const obj = loadObject(join(TESTDATA, 'globals-el.o'), { features });
    try {
      return mapGetInfo(obj.maps.get('globals_.data')!.fd.fd).info.map_flags & BPF_F_MMAPABLE;
    } finally {
      obj.close();
    }
  };
  assert.equal(mmapable(loaderFeatures()), BPF_F_MMAPABLE);
  assert.equal(mmapable({ ...loaderFeatures(), mmapable: false }), 0);
});

test('a callback (ld_imm64 BPF_PSEUDO_FUNC) on a kernel without them (before 5.13) is a NotSupportedError naming the program and instruction, with nothing left loaded', (t) => {
  if (!needRoot(t)) return;
  const path = join(TESTDATA, 'calls-el.o');
  // Here (callbacks supported) the whole object loads; the kernel matrix runs this on 5.10 itself.
  loadObject(path).close();
  const before = bpfDescriptors();
  const events: TraceEvent[] = [];
  let err: unknown;
  try {
    loadObject(path, {
      features: { ...loaderFeatures(), callbacks: false },
      trace: (e) => events.push(e),
    }).close();
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof NotSupportedError, String(err));
  assert.equal(err.location.program, 'xdp_loop');
  assert.match(
    err.message,
    /prog 'xdp_loop', insn \d+: a subprogram passed as a callback: callbacks \(ld_imm64 BPF_PSEUDO_FUNC\) requires Linux 5\.13 or later/,
  );
  // The instruction named is the ld_imm64 of bpf_loop's callback in the object's own program.
  const spec = loadObjectSpec(path).programs.find((p) => p.name === 'xdp_loop')!;
  let slot = 0;
  const at = spec.instructions.find((i) => {
    const here = slot;
    slot += i.opcode === BPF_LD_IMM64 ? 2 : 1;
    return here === err.location.instruction;
  });
  assert.equal(at?.opcode, BPF_LD_IMM64);
  assert.ok(at.src === BPF_PSEUDO_FUNC || (at as SpecInstruction).reference?.kind === 'func', String(at));
  // The programs loaded before it (xdp_calls) and the maps were rolled back.
  assert.ok(events.some((e) => e.kind === 'program' && e.name === 'xdp_calls'));
  assert.ok(events.some((e) => e.kind === 'rollback'));
  assert.deepEqual(bpfDescriptors(), before);
});

test('an atomic fetch (5.12) or a kfunc call (5.13) on a kernel without them is a NotSupportedError naming it, where the kernel would say "BPF_STX uses reserved fields" or "BPF_CALL uses reserved fields"', (t) => {
  if (!needRoot(t)) return;
  // events' ring_reserve with its counter's atomic add turned into a fetching one.
  const spec = loadObjectSpec(join(TESTDATA, 'events-el.o'));
  const prog = spec.programs.find((p) => p.name === 'ring_reserve')!;
  const i = prog.instructions.findIndex((x) => (x.opcode & 0xe7) === (BPF_STX | BPF_ATOMIC));
  assert.ok(i >= 0, 'ring_reserve has an atomic add');
  prog.instructions[i]!.imm = BPF_ADD | BPF_FETCH;
  const before = bpfDescriptors();
  assert.throws(
    () => loadObject(spec, { features: { ...loaderFeatures(), atomics: false } }).close(),
    (e: unknown) =>
      e instanceof NotSupportedError &&
      e.location.program === 'ring_reserve' &&
      /atomic operation 0x1: atomic fetch, and\/or\/xor, xchg and cmpxchg \(BPF_ATOMIC\) requires Linux 5\.12 or later/.test(
        e.message,
      ),
  );
  assert.deepEqual(bpfDescriptors(), before, 'nothing left loaded');
  // Where the kernel has them (here), the same object loads.
  if (haveFeature(ATOMICS)) loadObject(spec).close();
  assert.throws(
    () =>
      loadObject(join(TESTDATA, 'ct_kfunc-el.o'), {
        features: { ...loaderFeatures(), kfuncCalls: false },
      }).close(),
    (e: unknown) =>
      e instanceof NotSupportedError &&
      /extern \(func ksym\) 'bpf_(xdp_ct_lookup|ct_release)': kfunc calls \(BPF_PSEUDO_KFUNC_CALL\) requires Linux 5\.13 or later/.test(
        e.message,
      ),
  );
  assert.deepEqual(bpfDescriptors(), before, 'nothing left loaded');
});

test('FLOAT, TYPE_TAG, DECL_TAG and ENUM64 are replaced as libbpf does, and the kernel accepts the result', (t) => {
  const b = new BtfBuilder();
  b.add({ kind: 'INT', name: 'int', size: 4, encoding: 1, bitsOffset: 0, bits: 32 });
  b.add({ kind: 'FLOAT', name: 'double', size: 8 });
  b.add({ kind: 'TYPE_TAG', name: 'user', type: 1 });
  b.add({ kind: 'PTR', name: '', type: 3 });
  b.add({
    kind: 'STRUCT',
    name: 's',
    size: 16,
    kindFlag: false,
    members: [
      { name: 'd', type: 2, bitsOffset: 0, bitfieldSize: 0 },
      { name: 'p', type: 4, bitsOffset: 64, bitfieldSize: 0 },
    ],
  });
  b.add({ kind: 'DECL_TAG', name: 'tag', type: 5, componentIdx: 0 });
  b.add({ kind: 'ENUM64', name: 'big', size: 8, signed: false, values: [{ name: 'A', value: 1n << 40n }] });
  b.add({ kind: 'ENUM', name: 'neg', size: 4, signed: true, values: [{ name: 'M', value: -1n }] });
  const btf = Btf.parse(b.build());
  const types = [...btf.types()];
  const extra = sanitizeTypes(types, btf.endTypeId, {
    ...ALL_BTF_FEATURES,
    float: false,
    typeTag: false,
    declTag: false,
    enum64: false,
  });
  assert.deepEqual(
    types.map((x) => x.kind),
    ['INT', 'STRUCT', 'CONST', 'PTR', 'STRUCT', 'INT', 'UNION', 'ENUM'],
  );
  assert.equal(types[1]!.name, '');
  assert.deepEqual(
    extra.map((x) => [x.kind, x.name, x.id]),
    [['INT', 'enum64_placeholder', 9]],
  );
  const out = Btf.parse(buildBtf(btf, [...types, ...extra]));
  const e = out.type(8);
  assert.ok(e.kind === 'ENUM' && !e.signed);
  if (!needRoot(t)) return;
  btfLoad(buildBtf(btf, [...types, ...extra])).fd.close();
});

test('a program the verifier refuses: VerifierError with the whole log and the source line', (t) => {
  if (!needRoot(t)) return;
  const spec = loadObjectSpec(join(TESTDATA, 'flow-el.o'));
  const p = spec.programs[0]!;
  // r0 = *(u64 *)(r9 + 0) first: r9 was never written, which the verifier refuses at instruction 0.
  p.instructions[0] = new Instruction({ opcode: BPF_LDX | BPF_MEM | BPF_DW, dst: 0, src: 9, index: 0 });
  let err: unknown;
  try {
    loadObject(spec, { pinRoot: tmpPinDir('verifier') }).close();
  } catch (e) {
    err = e;
  } finally {
    rmSync(join(BPFFS, `ebpf_test_${process.pid}_verifier`), { recursive: true, force: true });
  }
  assert.ok(err instanceof VerifierError, String(err));
  assert.equal(err.failedInstruction, 0);
  assert.match(err.log, /R9 !read_ok/);
  assert.equal(err.code, 'EACCES');
  const first = p.lineInfo.find((l) => l.insn === 0)!;
  assert.deepEqual(err.source, {
    file: first.fileName,
    line: first.line,
    col: first.col,
    text: first.lineText,
  });
  assert.ok(err.message.includes(`${first.fileName}:${first.line}`), err.message);
  assert.equal(err.location.program, 'count_flows');
});

test('a pinned map is reused when compatible and refused with a diff when not', (t) => {
  if (!needRoot(t)) return;
  const pins = tmpPinDir('pins');
  try {
    const first = loadObject(join(TESTDATA, 'flow-el.o'), { pinRoot: pins });
    const id = mapGetInfo(first.maps.get('flow_map')!.fd.fd).info.id;
    first.close();
    assert.deepEqual(readdirSync(pins), ['flow_map']);

    const events: TraceEvent[] = [];
    const again = loadObject(join(TESTDATA, 'flow-el.o'), { pinRoot: pins, trace: (e) => events.push(e) });
    assert.equal(mapGetInfo(again.maps.get('flow_map')!.fd.fd).info.id, id, 'the same kernel map');
    assert.ok(
      events.some((e) => e.kind === 'map' && e.how === 'reused' && e.pinnedAt === join(pins, 'flow_map')),
    );
    again.unpin(); // a reused pin is not this load's to remove
    again.close();
    assert.deepEqual(readdirSync(pins), ['flow_map']);

    const spec = loadObjectSpec(join(TESTDATA, 'flow-el.o'));
    const m = spec.maps.find((x) => x.name === 'flow_map')!;
    m.keySize = 16;
    m.maxEntries = 2048;
    assert.throws(
      () => loadObject(spec, { pinRoot: pins }),
      (e: unknown) =>
        e instanceof MapIncompatibleError &&
        e.differences.join('|') === 'KeySize: 8 changed to 16|MaxEntries: 1024 changed to 2048' &&
        /KeySize: 8 changed to 16/.test(e.message),
    );
    assert.deepEqual(readdirSync(pins), ['flow_map'], 'the existing pin is left alone');
  } finally {
    rmSync(pins, { recursive: true, force: true });
  }
});

test('the trace narrates BTF, maps, relocations (before and after), programs and pins', (t) => {
  if (!needRoot(t)) return;
  const pins = tmpPinDir('trace');
  const events: TraceEvent[] = [];
  try {
    const obj = loadObject(join(TESTDATA, 'globals-el.o'), { pinDir: pins, trace: (e) => events.push(e) });
    const fdOf = (name: string): number => obj.maps.get(name)!.fd.fd;
    const kinds = events.map((e) => e.kind);
    assert.deepEqual(
      [...new Set(kinds)],
      ['object', 'btf', 'map', 'map-init', 'relocation', 'program', 'pin'],
    );
    const reloc = events.find(
      (e) => e.kind === 'relocation' && e.reference.kind === 'data' && e.reference.symbol === 'config_flag',
    );
    assert.ok(reloc?.kind === 'relocation');
    assert.match(reloc.before, /^r\d = 0x0 ll$/);
    // As llvm-objdump prints it, then what it is: the offset lives in the second half, unprinted.
    assert.equal(
      reloc.after,
      `ld_pseudo ${reloc.before.split(' ')[0]}, 0x2, ${'0x' + fdOf('globals_.rodata').toString(16)}` +
        `  ; map 'globals_.rodata' fd ${fdOf('globals_.rodata')} + 4`,
    );
    assert.match(formatTraceEvent(reloc), /'globals_\.rodata'\+4 \(config_flag\)/);
    const ro = JSON.parse(
      run('bpftool', ['-j', 'map', 'show', 'id', String(mapGetInfo(fdOf('globals_.rodata')).info.id)]),
    ) as { frozen: number };
    const rw = JSON.parse(
      run('bpftool', ['-j', 'map', 'show', 'id', String(mapGetInfo(fdOf('globals_.data')).info.id)]),
    ) as { frozen: number };
    assert.equal(ro.frozen, 1, '.rodata frozen');
    assert.equal(rw.frozen, 0, '.data writable');
    assert.deepEqual(readdirSync(pins).sort(), ['use_globals', 'use_strings']);
    obj.unpin();
    obj.close();
  } finally {
    rmSync(pins, { recursive: true, force: true });
  }
});

test("the trace names the map an ld_imm64 refers to after llvm-objdump's text of it", (t) => {
  if (!needRoot(t)) return;
  const events: TraceEvent[] = [];
  const obj = loadObject(join(TESTDATA, 'flow-el.o'), {
    pinRoot: tmpPinDir('mapref'),
    trace: (e) => events.push(e),
  });
  try {
    const fd = obj.maps.get('flow_map')!.fd.fd;
    const reloc = events.find((e) => e.kind === 'relocation' && e.reference.kind === 'map');
    assert.ok(reloc?.kind === 'relocation');
    assert.match(
      reloc.after,
      new RegExp(`^ld_pseudo r\\d+, 0x1, 0x${fd.toString(16)}  ; map 'flow_map' fd ${fd}$`),
    );
  } finally {
    obj.close();
    rmSync(join(BPFFS, `ebpf_test_${process.pid}_mapref`), { recursive: true, force: true });
  }
});

test('ebpf load --trace shows each CO-RE relocation it applies as ebpf core explain does', (t) => {
  if (!needRoot(t)) return;
  const obj = join(TESTDATA, 'core-el.o');
  const explain = cli(['core', 'explain', obj]);
  assert.equal(explain.status, 0, explain.stderr);
  // Blocks separated by blank lines: a header, one block per relocation, a summary.
  const blocks = explain.stdout.trimEnd().split('\n\n').slice(1, -1);
  assert.ok(blocks.length >= 30, `${blocks.length} relocations explained`);
  const dir = join(BPFFS, `ebpf_test_${process.pid}_coretrace`);
  let trace;
  try {
    trace = cli(['load', obj, '--pin-dir', dir, '--trace']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(trace.status, 0, trace.stderr);
  const lines = trace.stdout.split('\n');
  for (const block of blocks) {
    const want = block.split('\n');
    const at = lines.indexOf(want[0]!);
    assert.ok(at >= 0, `the trace has: ${want[0]}`);
    assert.deepEqual(lines.slice(at, at + want.length), want);
  }
  const traced = lines.filter((l) => /^\w+ insn \d+: (FIELD|TYPE|ENUMVAL)_[A-Z0-9_]+ /.test(l));
  assert.equal(traced.length, blocks.length, 'no relocation traced that explain does not list');
  assert.match(
    trace.stdout,
    /^core_task insn \d+: FIELD_BYTE_OFFSET t->state .*\n.*\n {2}value: {3}poisoned$/m,
  );
});

test('the trace says which kernel function a kfunc call was relocated to', (t) => {
  if (!needRoot(t)) return;
  const events: TraceEvent[] = [];
  loadObject(join(TESTDATA, 'externs-el.o'), { trace: (e) => events.push(e) }).close();
  const kfuncs = events.filter((e) => e.kind === 'relocation' && e.reference.kind === 'kfunc');
  assert.ok(kfuncs.length >= 2);
  for (const e of kfuncs) {
    assert.ok(e.kind === 'relocation' && e.reference.kind === 'kfunc');
    const name = e.reference.name;
    const ext = events.find((x) => x.kind === 'extern' && x.name === name);
    assert.ok(ext?.kind === 'extern');
    const id = /^ksym = vmlinux BTF \[(\d+)\]$/.exec(ext.what)?.[1];
    if (id === undefined) {
      assert.equal(e.after, `call 0x0  ; kfunc '${name}' not in the kernel (weak): left as imm 0`);
      continue;
    }
    assert.equal(e.after, `call 0x${Number(id).toString(16)}  ; kfunc '${name}' vmlinux BTF [${id}]`);
  }
});
