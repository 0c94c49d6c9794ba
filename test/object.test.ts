// ObjectSpec from every testdata object (both endians) and the xdp-tools objects, checked against
// libbpf's own load of the same object (bpftool prog loadall ... pinmaps, prog show, map show,
// prog dump xlated for the order of linked subprograms) and structurally for call offsets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_PSEUDO_FUNC } from '../src/asm/index.js';
import { mapTypeName, progTypeName, MapType, BPF_F_MMAPABLE, BPF_F_RDONLY_PROG } from '../src/constants.js';
import { EbpfError, NotFoundError } from '../src/errors.js';
import {
  MapDefinitionError,
  ObjectError,
  RelocationError,
  internalMapName,
  loadObjectSpec,
  type ObjectSpec,
  type ProgramSpec,
} from '../src/object/index.js';
import { TESTDATA, XDP_TOOLS_DIR, haveTool, isRoot, need, run } from './helpers.js';

interface ManifestEntry {
  name: string;
  loads: boolean;
  programs: number;
}
const manifest = JSON.parse(readFileSync(join(TESTDATA, 'manifest.json'), 'utf8')) as {
  objects: ManifestEntry[];
};
const xdpTools = existsSync(XDP_TOOLS_DIR)
  ? readdirSync(XDP_TOOLS_DIR)
      .filter((f) => f.endsWith('.o'))
      .map((f) => join(XDP_TOOLS_DIR, f))
  : [];

/** Objects libbpf refuses for reasons of linking; the spec must refuse them too, with a typed error. */
const REFUSED: Record<string, typeof ObjectError> = {
  calls_entry: RelocationError,
  // Parts of one program that only `ebpf link` (bpftool gen object) makes whole.
  link_a: ObjectError,
  link_b: ObjectError,
  link_c: ObjectError,
  link_bad_extern: ObjectError,
  arena_two_maps: MapDefinitionError,
  arena_no_map: MapDefinitionError,
};

test('every testdata object reads in both endians, and the two agree', () => {
  for (const o of manifest.objects) {
    const specs: ObjectSpec[] = [];
    for (const e of ['el', 'eb']) {
      const path = join(TESTDATA, `${o.name}-${e}.o`);
      const refused = REFUSED[o.name];
      if (refused !== undefined) {
        assert.throws(() => loadObjectSpec(path), refused, path);
        continue;
      }
      const spec = loadObjectSpec(path);
      assert.equal(spec.littleEndian, e === 'el');
      assert.equal(spec.license, o.name === 'helper_errors' ? 'BSD' : 'GPL', path);
      assert.equal(spec.programs.length, o.programs + (o.name === 'progtypes_trampoline' ? 1 : 0), path);
      specs.push(spec);
    }
    if (specs.length === 2) {
      const [el, eb] = specs as [ObjectSpec, ObjectSpec];
      const progs = (s: ObjectSpec): unknown =>
        s.programs.map((p) => [
          p.name,
          p.sectionName,
          p.type,
          p.expectedAttachType,
          p.attachTo,
          p.linked.map((l) => l.name),
        ]);
      assert.deepEqual(progs(eb), progs(el), o.name);
      const maps = (s: ObjectSpec): unknown =>
        s.maps.map((m) => [
          m.source,
          m.type,
          m.keySize,
          m.valueSize,
          m.maxEntries,
          m.flags,
          m.initialSlots,
          m.inner?.type,
        ]);
      assert.deepEqual(maps(eb), maps(el), o.name);
      assert.deepEqual([...eb.variables.keys()], [...el.variables.keys()], o.name);
    }
  }
});

test('xdp-tools objects read', (t) => {
  if (!need(t, xdpTools.length > 0, `${XDP_TOOLS_DIR} has no objects`)) return;
  for (const f of xdpTools) {
    const spec = loadObjectSpec(f);
    assert.ok(spec.programs.length > 0, f);
  }
});

/** Every call and callback points at the start of the linked copy its reference names. */
function checkCalls(p: ProgramSpec): void {
  const starts = new Map<string, number>([[p.name, 0], ...p.linked.map((l) => [l.name, l.start] as const)]);
  const slots = p.instructions.reduce((n, i) => n + i.size / 8, 0);
  let end = p.linked.length > 0 ? p.linked[0]!.start : slots;
  for (const l of p.linked) {
    assert.ok(l.start >= end, `${p.name}: ${l.name} overlaps`);
    end = l.start + l.length;
  }
  assert.equal(end, slots, `${p.name}: linked functions end at the program's end`);
  const referenced = new Set<string>();
  for (const insn of p.instructions) {
    const r = insn.reference;
    if (r?.kind !== 'call' && r?.kind !== 'func') continue;
    const start = starts.get(r.target);
    assert.ok(start !== undefined, `${p.name}: ${r.target} not linked`);
    assert.equal(insn.index + insn.imm + 1, start, `${p.name} insn ${insn.index}: ${r.kind} ${r.target}`);
    if (r.kind === 'func') assert.equal(insn.src, BPF_PSEUDO_FUNC);
    referenced.add(r.target);
  }
  for (const l of p.linked) assert.ok(referenced.has(l.name), `${p.name}: ${l.name} linked but never called`);
  // func_info: one record per function, at its start, in linking order.
  if (p.funcInfo.length > 0) {
    assert.deepEqual(
      p.funcInfo.map((f) => f.insn),
      [0, ...p.linked.map((l) => l.start)],
      p.name,
    );
  }
}

test('linking: calls and callbacks point at the appended subprogram, func_info follows', () => {
  let calls = 0;
  for (const f of [
    ...readdirSync(TESTDATA).filter((x) => x.endsWith('.o') && !(x.replace(/-e[lb]\.o$/, '') in REFUSED)),
    ...xdpTools,
  ]) {
    const spec = loadObjectSpec(f.startsWith('/') ? f : join(TESTDATA, f));
    for (const p of spec.programs) {
      checkCalls(p);
      calls += p.linked.length;
      // line_info and CO-RE records stay inside the program and in order of instructions.
      for (const l of p.lineInfo) assert.ok(l.insn >= 0 && l.insn < p.instructions.at(-1)!.index + 2);
      for (const c of p.coreRelos)
        assert.ok(
          p.instructions.some((i) => i.index === c.insn),
          `${p.name} core relo at ${c.insn}`,
        );
    }
  }
  assert.ok(calls >= 10, `only ${calls} linked subprograms seen`);
  const calls_el = loadObjectSpec(join(TESTDATA, 'calls-el.o'));
  const byName = new Map(calls_el.programs.map((p) => [p.name, p]));
  // Depth first, in order of first reference, as libbpf appends (also checked against libbpf below).
  assert.deepEqual(
    byName.get('xdp_calls')!.linked.map((l) => l.name),
    ['shared', 'middle', 'leaf', 'global_lookup', 'global_add'],
  );
  assert.deepEqual(
    byName.get('xdp_loop')!.linked.map((l) => l.name),
    ['loop_step', 'for_each_step'],
  );
});

test('global data: libbpf map names, flags, variables settable', () => {
  assert.equal(internalMapName('my_object_name', '.rodata'), 'my_objec.rodata');
  assert.equal(internalMapName('my_object_name', '.bss'), 'my_objec.bss');
  assert.equal(internalMapName('my_object_name', '.kconfig'), 'my_obje.kconfig');
  assert.equal(internalMapName('x', '.rodata.abracadabra'), '.rodata.abracad');
  assert.equal(internalMapName('a-b', '.data'), 'a_b.data');
  const spec = loadObjectSpec(join(TESTDATA, 'globals-el.o'));
  const ro = spec.maps.find((m) => m.sectionName === '.rodata')!;
  assert.equal(ro.name, 'globals_.rodata');
  assert.equal(ro.flags, BPF_F_RDONLY_PROG | BPF_F_MMAPABLE);
  const str = spec.maps.find((m) => m.sectionName === '.rodata.str1.1')!;
  assert.equal(str.flags, BPF_F_RDONLY_PROG, 'no DATASEC, so not mmapable');
  const pid = spec.variables.get('config_pid')!;
  assert.equal(pid.size, 4);
  pid.set(new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual([...ro.contents!.subarray(pid.offset, pid.offset + 4)], [1, 2, 3, 4]);
  assert.throws(() => pid.set(new Uint8Array(3)), ObjectError);
  // Offsets agree with the ELF symbols llvm-objdump prints.
  const counter = spec.variables.get('counter')!;
  const small = spec.variables.get('small_data')!;
  assert.notEqual(counter.offset, small.offset);
  // Every data reference lands inside its map.
  for (const p of spec.programs) {
    for (const i of p.instructions) {
      if (i.reference?.kind !== 'data') continue;
      const m = spec.maps.find((x) => x.name === (i.reference as { map: string }).map)!;
      assert.ok(i.reference.offset >= 0 && i.reference.offset < m.valueSize, `${p.name} insn ${i.index}`);
    }
  }
});

test('maps: BTF definitions, inner maps and initial slots', () => {
  const spec = loadObjectSpec(join(TESTDATA, 'maps-el.o'));
  const m = new Map(spec.maps.map((x) => [x.name, x]));
  assert.equal(m.get('jump_table')!.type, MapType.PROG_ARRAY);
  assert.ok(m.get('jump_table')!.initialSlots!.some((s) => s === 'tail_0'));
  assert.equal(m.get('outer_array')!.inner?.type, MapType.ARRAY);
  assert.ok(m.get('outer_array')!.initialSlots!.includes('inner_a'));
  assert.equal(m.get('outer_hash')!.inner?.type !== undefined, true);
  assert.ok(
    m.get('hash_map')!.keyTypeId > 0 && spec.btf!.type(m.get('hash_map')!.valueTypeId).name === 'value',
  );
  const legacy = loadObjectSpec(join(TESTDATA, 'legacy_iproute2-el.o'));
  const outer = legacy.maps.find((x) => x.name === 'tc_outer')!;
  assert.equal(outer.inner?.type, MapType.HASH);
  assert.equal(legacy.maps.find((x) => x.name === 'tc_counters')!.legacy?.pinning, 2);
});

test('malformed objects give typed errors, never TypeError/RangeError', () => {
  const bytes = new Uint8Array(readFileSync(join(TESTDATA, 'calls-el.o')));
  let typed = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const b = bytes.slice();
    let x = seed * 2654435761;
    for (let k = 0; k < 8; k++) {
      x = (x * 1103515245 + 12345) >>> 0;
      b[x % b.length] = x >>> 24;
    }
    try {
      loadObjectSpec(b, { file: `fuzz-${seed}` });
    } catch (e) {
      // Only the project's errors: anything else (TypeError, RangeError, a plain Error that
      // happens to carry a `location`) is a crash on malformed input.
      assert.ok(e instanceof EbpfError, `seed ${seed}: ${String(e)}`);
      typed++;
    }
  }
  assert.ok(typed > 0);
  assert.throws(() => loadObjectSpec(bytes.subarray(0, 100)), EbpfError);
});

test('a path that is missing or not a file gives a typed error naming it', () => {
  const missing = join(TESTDATA, 'no-such-object.o');
  assert.throws(
    () => loadObjectSpec(missing),
    (e: unknown) =>
      e instanceof NotFoundError && e.location.file === missing && /no such file/.test(e.message),
  );
  assert.throws(
    () => loadObjectSpec(TESTDATA),
    (e: unknown) => e instanceof EbpfError && e.location.file === TESTDATA && /EISDIR/.test(e.message),
  );
});

// --- libbpf as the oracle -------------------------------------------------------------------

interface Loaded {
  progs: Map<string, { type: string; name: string; xlated: { proto?: string }[] }>;
  maps: Map<
    string,
    { type: string; name: string; bytes_key: number; bytes_value: number; max_entries: number; flags: number }
  >;
}

function libbpfLoad(path: string, dir: string): Loaded {
  mkdirSync(dir, { recursive: true });
  run('bpftool', ['prog', 'loadall', path, `${dir}/p`, 'pinmaps', `${dir}/m`]);
  const out: Loaded = { progs: new Map(), maps: new Map() };
  for (const f of readdirSync(`${dir}/p`)) {
    const info = JSON.parse(run('bpftool', ['prog', 'show', 'pinned', `${dir}/p/${f}`, '--json'])) as {
      type: string;
      name: string;
    };
    const xlated = JSON.parse(
      run('bpftool', ['prog', 'dump', 'xlated', 'pinned', `${dir}/p/${f}`, '--json']),
    ) as { proto?: string }[];
    out.progs.set(f, { ...info, xlated });
  }
  for (const f of readdirSync(`${dir}/m`)) {
    out.maps.set(f, JSON.parse(run('bpftool', ['map', 'show', 'pinned', `${dir}/m/${f}`, '--json'])));
  }
  return out;
}

const lower = (kernelName: string, prefix: string): string => kernelName.slice(prefix.length).toLowerCase();

test('programs and maps match what libbpf loads (bpftool prog loadall, prog/map show, dump xlated)', (t) => {
  if (!need(t, haveTool('bpftool'), 'bpftool not installed')) return;
  if (!need(t, isRoot(), 'needs root to load programs')) return;
  if (!existsSync('/sys/fs/bpf') || !run('mount', []).includes('/sys/fs/bpf'))
    run('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  const objects = [
    ...manifest.objects.filter((o) => o.loads).map((o) => join(TESTDATA, `${o.name}-el.o`)),
    ...xdpTools,
  ];
  let compared = 0;
  for (const path of objects) {
    const spec = loadObjectSpec(path);
    // Maps pinned by name go to a global path shared with other tests; leave those objects alone.
    if (spec.maps.some((m) => m.pinning !== 0)) continue;
    const dir = `/sys/fs/bpf/ebpf_objtest_${process.pid}_${compared}`;
    let loaded: Loaded;
    try {
      loaded = libbpfLoad(path, dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
      continue; // libbpf does not load it on this machine (e.g. xdpdump's fentry/func)
    }
    try {
      const wanted = spec.programs.filter((p) => p.autoload);
      assert.deepEqual([...loaded.progs.keys()].sort(), wanted.map((p) => p.name).sort(), path);
      for (const p of wanted) {
        const k = loaded.progs.get(p.name)!;
        assert.equal(k.type, lower(progTypeName(p.type), 'BPF_PROG_TYPE_'), `${path} ${p.name}`);
        // The kernel keeps 15 characters; bpftool shows the full name from BTF when it has it.
        assert.ok(k.name === p.name || k.name === p.name.slice(0, 15), `${k.name} vs ${p.name}`);
        // The kernel's func_info (from libbpf's linking) names the functions in the order libbpf appended them.
        const protos = k.xlated
          .filter((x) => x.proto !== undefined)
          .map((x) => /(\w+)\(/.exec(x.proto!)?.[1]);
        const ours = [p.name, ...p.linked.map((l) => l.name)];
        if (path.startsWith(TESTDATA)) assert.deepEqual(protos, ours, `${path} ${p.name}`);
        else {
          // The verifier drops subprograms that frozen .rodata makes dead (xdp-dispatcher's slots).
          let i = 0;
          for (const name of ours) if (name === protos[i]) i++;
          assert.equal(
            i,
            protos.length,
            `${path} ${p.name}: ${protos.join(',')} is not in order within ${ours.join(',')}`,
          );
        }
      }
      const pins = new Map(spec.maps.map((m) => [m.name.replace(/\./g, '_'), m]));
      assert.deepEqual([...loaded.maps.keys()].sort(), [...pins.keys()].sort(), path);
      for (const [pin, m] of pins) {
        const k = loaded.maps.get(pin)!;
        const where = `${path} map ${m.name}`;
        assert.equal(k.name, m.name.slice(0, 15), where);
        assert.equal(k.type, lower(mapTypeName(m.type), 'BPF_MAP_TYPE_'), where);
        assert.equal(k.bytes_key, m.keySize, where);
        // A struct_ops map's value is the kernel's struct bpf_struct_ops_<name>, known only at load.
        if (m.source !== 'struct_ops') assert.equal(k.bytes_value, m.valueSize, where);
        // libbpf sizes a perf event array with max_entries 0 to the number of CPUs at load.
        if (m.type === MapType.PERF_EVENT_ARRAY && m.maxEntries === 0) assert.ok(k.max_entries > 0);
        else assert.equal(k.max_entries, m.maxEntries, where);
        // bpftool 7.1 carries the libbpf of Linux 6.1, which made every global-data map mmapable;
        // libbpf 1.2+ (whose rule the spec follows) only does so when a variable is global.
        const isData = m.source === 'data' || m.source === 'rodata' || m.source === 'bss';
        const oldLibbpfFlags = isData ? m.flags | BPF_F_MMAPABLE : m.flags;
        assert.equal(k.flags, oldLibbpfFlags, where);
      }
      compared++;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.ok(compared >= 9, `compared only ${compared} objects with libbpf`);
});
