// Global variables as JS properties: on the ObjectSpec before load (both byte orders, names checked
// against bpftool's skeleton), and on the loaded object after, read and written live through mmap
// or syscalls, with values checked against bpftool's dump of the same maps and programs' results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BPF_F_MMAPABLE } from '../src/constants.js';
import { EbpfError, NotFoundError } from '../src/errors.js';
import { loadObject } from '../src/loader/index.js';
import { CodecError } from '../src/btf/codec.js';
import { globalsSection, isGlobalsMap } from '../src/object/globals-view.js';
import { loadObjectSpec, type ObjectSpec } from '../src/object/index.js';
import {
  bpfDescriptors,
  NODE_TS,
  needRoot,
  needTool,
  objectsIn,
  run,
  srcModule,
  TESTDATA,
  xdpToolsObjects,
} from './helpers.js';

const GLOBALS = (endian: 'el' | 'eb'): string => join(TESTDATA, `globals-${endian}.o`);
const openFds = (): number => bpfDescriptors().length;
/** Mappings of BPF maps in this process (a leaked mmap keeps the map alive without any fd). */
const bpfMappings = (): number =>
  readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes('anon_inode:bpf-map')).length;

/** The members bpftool's skeleton gives each data section (`struct <obj>__<ident>`), padding aside. */
function skeletonMembers(object: string): Map<string, string[]> | undefined {
  let header: string;
  try {
    header = run('bpftool', ['gen', 'skeleton', object, 'name', 'skel']);
  } catch {
    return undefined; // objects libbpf cannot open (legacy maps...)
  }
  const out = new Map<string, string[]>();
  const lines = header.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^\tstruct skel__(\w+) \{$/.exec(lines[i]!);
    if (open === null) continue;
    const members: string[] = [];
    let depth = 1;
    for (i++; i < lines.length && depth > 0; i++) {
      const l = lines[i]!.trim();
      const before = depth;
      depth += (l.match(/\{/g) ?? []).length - (l.match(/\}/g) ?? []).length;
      // A member ends a line at depth 1: `__u64 counter;`, or `} name;` closing an inline struct.
      if (depth === 1 && (before === 1 || l.startsWith('}')) && l.endsWith(';')) {
        const m = /(\w+)(\s*\[[^\]]*\])*(\s*__attribute__\(\(.*\)\))?\s*;$/.exec(l);
        if (m !== null && !/^__pad\d+$/.test(m[1]!)) members.push(m[1]!);
      }
    }
    const close = /^\} \*(\w+);$/.exec(lines[i - 1]!.trim());
    out.set(close?.[1] ?? open[1]!, members);
  }
  return out;
}

/** bpftool's identifier for a section: the name without its dot, other characters as '_'. */
const ident = (section: string): string => section.slice(1).replace(/[^A-Za-z0-9_]/g, '_');

const dataSections = (spec: ObjectSpec): string[] => spec.maps.filter(isGlobalsMap).map(globalsSection);

test('spec views expose the variables bpftool gen skeleton exposes, in its order', (t) => {
  if (!needTool(t, 'bpftool')) return;
  const objects = [...objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o')), ...xdpToolsObjects(t)];
  let compared = 0;
  for (const file of objects) {
    const skel = skeletonMembers(file);
    if (skel === undefined) continue;
    let spec: ObjectSpec;
    try {
      spec = loadObjectSpec(file);
    } catch {
      continue; // what the object tests cover (calls_entry: a call libbpf refuses too)
    }
    for (const section of dataSections(spec)) {
      const members = skel.get(ident(section));
      if (members === undefined) continue;
      assert.deepEqual(Object.keys(spec.globals(section)), members, `${basename(file)} ${section}`);
      compared++;
    }
  }
  assert.ok(compared >= 8, `only ${compared} sections compared`);
});

test('spec views read the initial values; big-endian objects give the same values as little-endian', () => {
  const el = loadObjectSpec(GLOBALS('el'));
  assert.deepEqual({ ...el.rodata }, { config_pid: 0, config_flag: 1, config_limit: 1000n });
  assert.equal(el.data.counter, 1n);
  assert.deepEqual(el.data.data_array, new Uint32Array([1, 2, 3]));
  assert.deepEqual(el.data.cfg_struct, { a: 1, b: 2, name: new Uint8Array([99, 102, 103, 0, 0, 0]) });
  assert.deepEqual({ ...el.globals('.data.custom') }, { custom_data: 0xdeadbeefn, custom_data2: 5 });
  assert.equal(el.globals('.rodata.custom').custom_ro, 42);
  assert.deepEqual(Object.keys(el.bss), ['bss_total', 'bss_hits', 'bss_bytes', 'message']);
  assert.equal(el.bss.message, '');
  // Every object, every section: the bpfeb build decodes to what the bpfel build does.
  for (const file of objectsIn(TESTDATA).filter((f) => f.endsWith('-el.o'))) {
    let a: ObjectSpec;
    try {
      a = loadObjectSpec(file);
    } catch {
      continue; // calls_entry: a call between entry programs, refused by design
    }
    const b = loadObjectSpec(file.replace(/-el\.o$/, '-eb.o'));
    assert.deepEqual(dataSections(b), dataSections(a), basename(file));
    for (const s of dataSections(a)) {
      assert.deepEqual({ ...b.globals(s) }, { ...a.globals(s) }, `${basename(file)} ${s}`);
    }
  }
});

test('spec writes encode into the data map contents in the object byte order', () => {
  for (const endian of ['el', 'eb'] as const) {
    const spec = loadObjectSpec(GLOBALS(endian));
    const rodata = spec.maps.find((m) => m.sectionName === '.rodata')!;
    const limit = spec.variables.get('config_limit')!;
    spec.rodata.config_limit = 0x0102030405060708n;
    const bytes = [...rodata.contents!.subarray(limit.offset, limit.offset + 8)];
    assert.deepEqual(bytes, endian === 'eb' ? [1, 2, 3, 4, 5, 6, 7, 8] : [8, 7, 6, 5, 4, 3, 2, 1]);
    assert.equal(spec.rodata.config_limit, 0x0102030405060708n);
    // Structs by member.
    spec.data.cfg_struct = { a: 0x0a0b, b: 7, name: new Uint8Array(6) };
    const cfg = spec.variables.get('cfg_struct')!;
    assert.equal(new DataView(cfg.get().buffer, cfg.get().byteOffset).getUint16(0, endian === 'el'), 0x0a0b);
    assert.deepEqual(spec.data.cfg_struct, { a: 0x0a0b, b: 7, name: new Uint8Array(6) });
    // .bss may be set before load too (libbpf's skeletons allow it).
    spec.bss.message = 'hi';
    assert.equal(spec.bss.message, 'hi');
    // A view over bytes the user replaced reads the new bytes.
    rodata.contents = new Uint8Array(rodata.valueSize);
    assert.equal(spec.rodata.config_limit, 0n);
  }
});

test('specs of one object share their hidden class, so a parse leaves nothing old behind', () => {
  // A getter made per spec would give each spec its own V8 map (hidden class), kept in the old
  // generation: the spec and all a parse built would survive young collections until a full one.
  // Asked of V8 itself in a child with --allow-natives-syntax; values read in the same child.
  const script = `
    const { loadObjectSpec } = await import(${JSON.stringify(srcModule('src/object/index'))});
    const a = loadObjectSpec(${JSON.stringify(GLOBALS('el'))});
    const b = loadObjectSpec(${JSON.stringify(GLOBALS('el'))});
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
    const { rodata } = b;
    const globals = b.globals;
    console.log(JSON.stringify({
      same: sameMap(a, b),
      limit: String(a.rodata.config_limit),
      destructured: String(rodata.config_limit),
      method: String(globals('.rodata').config_limit),
    }));`;
  const r = spawnSync(
    process.execPath,
    ['--allow-natives-syntax', ...NODE_TS, '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  const limit = String(loadObjectSpec(GLOBALS('el')).rodata.config_limit);
  assert.deepEqual(out, { same: true, limit, destructured: limit, method: limit });
});

test('spec views: unknown and static names, bad values and missing sections are typed errors', () => {
  const spec = loadObjectSpec(GLOBALS('el'));
  const before = spec.rodata.config_flag;
  assert.throws(
    () => (spec.rodata.min_len = 64),
    (e: unknown) =>
      e instanceof NotFoundError &&
      e.location.section === '.rodata' &&
      /no variable 'min_len' in \.rodata; it has: config_pid, config_flag, config_limit/.test(e.message),
  );
  assert.throws(() => spec.bss.nope, NotFoundError);
  assert.throws(() => spec.data.static_data, /'static_data' is static in \.data/);
  assert.throws(
    () => (spec.rodata.config_flag = 256),
    (e: unknown) => e instanceof CodecError && e.path === 'config_flag' && /out of range/.test(e.message),
  );
  assert.throws(() => (spec.bss.message = 'x'.repeat(17)), CodecError);
  assert.equal(spec.rodata.config_flag, before, 'a failed write changes nothing');
  assert.throws(
    () => spec.globals('.data.nope'),
    (e: unknown) =>
      e instanceof NotFoundError &&
      /has no global-data section '\.data\.nope' \(it has: \.data, /.test(e.message),
  );
  assert.throws(() => delete spec.rodata.config_pid, EbpfError);
  // An object without the section: the error says which sections it has.
  assert.throws(
    () => loadObjectSpec(join(TESTDATA, 'events-el.o')).rodata,
    (e: unknown) =>
      e instanceof NotFoundError && /no global-data section '\.rodata' \(it has: \.bss\)/.test(e.message),
  );
  // Probes that do not mean a variable: promises, JSON, string conversion, symbols.
  assert.equal((spec.rodata as { then?: unknown }).then, undefined);
  assert.equal(typeof String(spec.rodata), 'string');
  assert.equal('config_pid' in spec.rodata, true);
  // The views are not part of the spec's data.
  assert.ok(!Object.keys(spec).includes('rodata'));
  // A typed view.
  const ro = spec.globals<{ config_pid: number; config_limit: bigint }>('.rodata');
  ro.config_pid = 4242;
  assert.equal(ro.config_pid + 1, 4243);
});

/** bpftool's formatted dump of a data-section map: one object per variable. */
function bpftoolSection(mapId: number): Record<string, unknown> {
  const dump = JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'id', String(mapId)])) as {
    formatted?: { value: Record<string, Record<string, unknown>[]> };
  }[];
  const formatted = dump[0]?.formatted;
  assert.ok(formatted !== undefined, 'bpftool dump without BTF formatting');
  const vars = Object.values(formatted.value)[0]!;
  return Object.assign({}, ...vars) as Record<string, unknown>;
}

/** A 64-byte frame: use_globals adds data_end - data to bss_total. */
const PACKET = new Uint8Array(64);
const XDP_DROP = 1;
const XDP_PASS = 2;

for (const mode of ['mmap', 'syscall'] as const) {
  test(`loaded views (${mode}): programs see .rodata set before load, JS sees what programs wrote`, (t) => {
    if (!needRoot(t) || !needTool(t, 'bpftool')) return;
    const fds = openFds();
    const mappings = bpfMappings();
    {
      const spec = loadObjectSpec(GLOBALS('el'));
      spec.rodata.config_limit = 100n;
      spec.rodata.config_pid = 4242;
      if (mode === 'syscall') {
        // As on a kernel before 5.5, or for a section libbpf does not make mmapable.
        for (const m of spec.maps) if (isGlobalsMap(m)) m.flags &= ~BPF_F_MMAPABLE;
      }
      using obj = loadObject(spec);
      for (const s of ['.data', '.bss', '.rodata', '.data.custom']) {
        const mmapable =
          (obj.map(obj.spec.maps.find((m) => m.sectionName === s)!.name).flags & BPF_F_MMAPABLE) !== 0;
        assert.equal(mmapable, mode === 'mmap', s);
      }
      assert.deepEqual({ ...obj.rodata }, { config_pid: 4242, config_flag: 1, config_limit: 100n });
      const prog = obj.program('use_globals');
      // bss_total grows by 64 per run; once past config_limit (100) the program drops.
      assert.deepEqual(
        [1, 2, 3].map(() => prog.testRun({ dataIn: PACKET }).retval),
        [XDP_PASS, XDP_PASS, XDP_DROP],
      );
      assert.equal(obj.bss.bss_total, 128n);
      assert.equal(obj.data.counter, 3n);
      assert.deepEqual(obj.data.data_array, new Uint32Array([1, 2, 4242]), 'data_array[2] = config_pid');
      assert.deepEqual(obj.bss.bss_bytes, new Uint8Array([0, 0, 0, 0, 1]), 'bss_bytes[4] = config_flag');
      assert.equal(obj.globals('.data.custom').custom_data, 0xdeadbeefn + 2n * 42n);
      // The oracle: bpftool reads the same maps through the kernel.
      const bss = bpftoolSection(obj.map(obj.spec.maps.find((m) => m.sectionName === '.bss')!.name).id);
      assert.equal(bss.bss_total, 128);
      assert.equal(bss.bss_hits, obj.bss.bss_hits);
      const data = bpftoolSection(obj.map(obj.spec.maps.find((m) => m.sectionName === '.data')!.name).id);
      assert.equal(data.counter, 3);
      assert.deepEqual(data.data_array, [1, 2, 4242]);
      // Writes from JS reach the program: reset the total and it passes again.
      obj.bss.bss_total = 0n;
      assert.equal(
        bpftoolSection(obj.map(obj.spec.maps.find((m) => m.sectionName === '.bss')!.name).id).bss_total,
        0,
      );
      assert.equal(prog.testRun({ dataIn: PACKET }).retval, XDP_PASS);
      assert.equal(obj.bss.bss_total, 64n);
      obj.data.cfg_struct = { a: 5, b: 1, name: new Uint8Array([1, 2, 3, 4, 5, 6]) };
      prog.testRun({ dataIn: PACKET });
      assert.deepEqual(obj.data.cfg_struct, { a: 5, b: 6, name: new Uint8Array([1, 2, 3, 4, 5, 6]) });
      // .rodata is frozen: reading works, writing says what to do instead.
      assert.throws(
        () => (obj.rodata.config_pid = 1),
        (e: unknown) =>
          e instanceof EbpfError &&
          /read-only: \.rodata was frozen at load/.test(e.message) &&
          /spec\.rodata\.config_pid/.test(e.message),
      );
      assert.throws(
        () => (obj.globals('.rodata.custom').custom_ro = 1),
        /spec\.globals\('\.rodata\.custom'\)/,
      );
      assert.equal(obj.globals('.rodata.custom').custom_ro, 42);
      assert.equal(obj.rodata.config_pid, 4242);
      assert.throws(() => obj.bss.nope, NotFoundError);
      assert.throws(() => (obj.bss.bss_hits = -1), CodecError);
      // mmap'd views map the section once; syscall views map nothing.
      assert.equal(bpfMappings() > mappings, mode === 'mmap');
      obj.close();
      assert.throws(() => obj.bss.bss_total, EbpfError, 'a closed object reads nothing, without crashing');
    }
    assert.equal(openFds(), fds);
    assert.equal(bpfMappings(), mappings);
  });
}
