// Fuzzing the whole load: mutants of objects that load (BTF and BTF.ext records, .maps definitions,
// relocations, symbols, instructions, section headers, truncations) either load or fail with a
// typed error naming where, in bounded time, leaving no descriptor, pin or kernel object behind.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { parseElf, SHF_EXECINSTR } from '../src/elf/index.js';
import { Btf } from '../src/btf/btf.js';
import { CoreError } from '../src/core/errors.js';
import { BtfError, EbpfError } from '../src/errors.js';
import { LoadError, loadObject, type TraceEvent } from '../src/loader/index.js';
import { programIds } from '../src/program/index.js';
import { ObjectError, objectSpecFromElf } from '../src/object/index.js';
import { SyscallError } from '../src/sys/error.js';
import { btfGetInfo, btfGetNextId, mapGetInfo, mapGetNextId, progGetInfo } from '../src/sys/bpf.js';
import { bpfDescriptors, needRoot, TESTDATA } from './helpers.js';
import { prng } from '../scripts/fuzz/engine.js';

// Fixed, so a failure repeats. To look further: FUZZ_LOAD_SEED=<n> FUZZ_LOAD_ITERATIONS=<n>; to
// repeat one failure: FUZZ_LOAD_ONLY=<iteration> (earlier mutants are still drawn, not loaded).
const env = (name: string): number | undefined =>
  process.env[name] !== undefined ? Number(process.env[name]) : undefined;
const SEED = env('FUZZ_LOAD_SEED') ?? 0x10ad5eed;
const ITERATIONS = env('FUZZ_LOAD_ITERATIONS') ?? 500;
const ONLY = env('FUZZ_LOAD_ONLY');
/** Directories under the pin root for pinMaps and pinDir. */
const MAPS = 'maps';
const PROGS = 'progs';
/** An iteration that takes longer than this is a hang: the watchdog stops the worker. */
const HANG_MS = 15_000;

interface Job {
  seed: number;
  iterations: number;
  pinRoot: string;
}

interface Report {
  counts: Record<string, number>;
  byMutation: Record<string, number>;
  failures: string[];
  maxMs: number;
  slowest: string;
}

type Message = { kind: 'begin'; i: number; what: string } | { kind: 'done'; report: Report };

// ---- the objects and where their structures are ---------------------------------------------------

/** File offsets of the records a mutation aims at, all found from the original object. */
interface Layout {
  name: string;
  bytes: Uint8Array;
  shoff: number;
  shnum: number;
  typeCount: number;
  /** BTF type records: file offset, kind, vlen. */
  types: { off: number; kind: number; vlen: number }[];
  /** Offsets of the type/nelems words that `.maps` definitions point through. */
  mapDefWords: { off: number; what: 'nelems' | 'type' }[];
  funcInfo: number[];
  lineInfo: number[];
  coreRelo: number[];
  /** rec_size, sec_name_off and num_info words of .BTF.ext. */
  extHeaders: number[];
  relocations: number[];
  symbols: number[];
  symbolCount: number;
  instructions: { off: number; code: number }[];
  sections: { offset: number; size: number; nobits: boolean }[];
  /** Strings the loader uses as names or parses: map, function and type names, CO-RE access strings. */
  strings: { off: number; len: number; what: 'map' | 'func' | 'access' | 'type' }[];
}

// BTF_KIND_* numbers and the bytes each kind's record has after the 12-byte common part.
const PTR = 2;
const ARRAY = 3;
const STRUCT = 4;
const UNION = 5;
const FUNC = 12;
const DATASEC = 15;
function extraBytes(kind: number, vlen: number): number {
  if (kind === 1 || kind === 14 || kind === 17) return 4; // INT, VAR, DECL_TAG
  if (kind === ARRAY) return 12;
  if (kind === STRUCT || kind === UNION || kind === DATASEC || kind === 19) return 12 * vlen; // ENUM64
  if (kind === 6 || kind === 13) return 8 * vlen; // ENUM, FUNC_PROTO
  return 0;
}

function layout(name: string): Layout {
  const bytes = new Uint8Array(readFileSync(join(TESTDATA, `${name}-el.o`)));
  const v = new DataView(bytes.buffer);
  const elf = parseElf(bytes, name);
  const l: Layout = {
    name,
    bytes,
    shoff: elf.header.shoff,
    shnum: elf.sections.length,
    typeCount: 0,
    types: [],
    mapDefWords: [],
    funcInfo: [],
    lineInfo: [],
    coreRelo: [],
    extHeaders: [],
    relocations: [],
    symbols: [],
    symbolCount: elf.symbols.length,
    instructions: [],
    sections: elf.sections.map((s) => ({ offset: s.offset, size: s.size, nobits: s.type === 8 })),
    strings: [],
  };
  let strStart = 0;
  let addString = (_off: number, _what: Layout['strings'][number]['what']): void => {};
  const btf = elf.section('.BTF');
  if (btf !== undefined) {
    const hdrLen = v.getUint32(btf.offset + 4, true);
    const typeStart = btf.offset + hdrLen + v.getUint32(btf.offset + 8, true);
    const typeEnd = typeStart + v.getUint32(btf.offset + 12, true);
    strStart = btf.offset + hdrLen + v.getUint32(btf.offset + 16, true);
    const str = (off: number): string => {
      let end = strStart + off;
      while (bytes[end] !== 0) end++;
      return new TextDecoder().decode(bytes.subarray(strStart + off, end));
    };
    addString = (off, what) => {
      const len = str(off).length;
      if (len > 0) l.strings.push({ off: strStart + off, len, what });
    };
    for (let off = typeStart; off < typeEnd;) {
      const info = v.getUint32(off + 4, true);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      l.types.push({ off, kind, vlen });
      if (kind === FUNC) addString(v.getUint32(off, true), 'func');
      // Names CO-RE looks candidates up by (structs, unions, enums, typedefs, forward declarations).
      if ([STRUCT, UNION, 6, 7, 8, 19].includes(kind)) addString(v.getUint32(off, true), 'type');
      off += 12 + extraBytes(kind, vlen);
    }
    l.typeCount = l.types.length;
    // .maps: DATASEC -> VAR -> STRUCT, whose members point (PTR) at ARRAYs (__uint) or types (__type).
    const at = (id: number): Layout['types'][number] | undefined => l.types[id - 1];
    for (const ds of l.types) {
      if (ds.kind !== DATASEC || str(v.getUint32(ds.off, true)) !== '.maps') continue;
      for (let i = 0; i < ds.vlen; i++) {
        const variable = at(v.getUint32(ds.off + 12 + 12 * i, true));
        if (variable !== undefined) addString(v.getUint32(variable.off, true), 'map');
        const def = variable && at(v.getUint32(variable.off + 8, true));
        if (def === undefined || def.kind !== STRUCT) continue;
        for (let m = 0; m < def.vlen; m++) {
          const ptr = at(v.getUint32(def.off + 12 + 12 * m + 4, true));
          if (ptr?.kind !== PTR) continue;
          l.mapDefWords.push({ off: ptr.off + 8, what: 'type' });
          const target = at(v.getUint32(ptr.off + 8, true));
          if (target?.kind === ARRAY) l.mapDefWords.push({ off: target.off + 20, what: 'nelems' });
        }
      }
    }
  }
  const ext = elf.section('.BTF.ext');
  if (ext !== undefined) {
    const hdrLen = v.getUint32(ext.offset + 4, true);
    const parts: [number, number[], number][] = [
      [8, l.funcInfo, 8],
      [16, l.lineInfo, 16],
      [24, l.coreRelo, 16],
    ];
    for (const [field, out] of parts) {
      if (field + 8 > hdrLen) continue;
      const start = ext.offset + hdrLen + v.getUint32(ext.offset + field, true);
      const end = start + v.getUint32(ext.offset + field + 4, true);
      if (end <= start) continue;
      l.extHeaders.push(start);
      const recSize = v.getUint32(start, true);
      for (let off = start + 4; off + 8 <= end;) {
        const n = v.getUint32(off + 4, true);
        l.extHeaders.push(off, off + 4);
        off += 8;
        for (let r = 0; r < n; r++, off += recSize) {
          out.push(off);
          if (out === l.coreRelo) addString(v.getUint32(off + 8, true), 'access');
        }
      }
    }
  }
  for (const rs of elf.relocationSections) {
    const size = rs.section.type === 4 ? 24 : 16; // SHT_RELA : SHT_REL
    for (let off = rs.section.offset; off + size <= rs.section.offset + rs.section.size; off += size)
      l.relocations.push(off);
  }
  const symtab = elf.symtab;
  if (symtab !== undefined)
    for (let off = symtab.offset + 24; off + 24 <= symtab.offset + symtab.size; off += 24)
      l.symbols.push(off);
  for (const s of elf.sections) {
    if ((s.flags & SHF_EXECINSTR) === 0) continue;
    for (let off = s.offset; off + 8 <= s.offset + s.size; off += 8)
      l.instructions.push({ off, code: bytes[off]! });
  }
  return l;
}

// ---- mutations --------------------------------------------------------------------------------

/**
 * Values for a 32-bit word. Counts and sizes stay where the kernel either refuses them outright or
 * allocates little: a max_entries near 2^31 times an 8-byte value is 16 GiB the kernel may really
 * try to allocate on a machine that has it, while 2^32-1 is refused before any allocation.
 */
function word(rnd: () => number, old: number, ids: number): number {
  const pick = [
    0,
    1,
    2,
    3,
    4,
    8,
    255,
    0xffffffff,
    old + 1,
    old - 1,
    old + 4,
    old + 8,
    old * 2,
    ids,
    ids + 1,
    1 + Math.floor(rnd() * ids),
    Math.floor(rnd() * 4096),
  ];
  return pick[Math.floor(rnd() * pick.length)]! >>> 0;
}

type Mutation = (b: Uint8Array, v: DataView, l: Layout, rnd: () => number) => string;

const oneOf = <T>(rnd: () => number, xs: readonly T[]): T | undefined => xs[Math.floor(rnd() * xs.length)];

function setWord(v: DataView, off: number, l: Layout, rnd: () => number): string {
  const old = v.getUint32(off, true);
  const val = word(rnd, old, l.typeCount);
  v.setUint32(off, val, true);
  return `@0x${off.toString(16)} ${old} -> ${val}`;
}

const MUTATIONS: Record<string, Mutation> = {
  'btf-type': (_b, v, l, rnd) => {
    const t = oneOf(rnd, l.types);
    if (t === undefined) return '';
    // name_off, info (kind, vlen, kflag), size/type, then the kind's own words.
    const words = 3 + extraBytes(t.kind, t.vlen) / 4;
    const w = Math.floor(rnd() * words);
    if (w === 1) {
      const old = v.getUint32(t.off + 4, true);
      const val = old ^ (1 << Math.floor(rnd() * 32));
      v.setUint32(t.off + 4, val, true);
      return `info @0x${(t.off + 4).toString(16)} 0x${old.toString(16)} -> 0x${(val >>> 0).toString(16)}`;
    }
    return setWord(v, t.off + 4 * w, l, rnd);
  },
  'maps-def': (_b, v, l, rnd) => {
    const w = oneOf(rnd, l.mapDefWords);
    return w === undefined ? '' : `${w.what} ${setWord(v, w.off, l, rnd)}`;
  },
  'func-info': (_b, v, l, rnd) => {
    const r = oneOf(rnd, l.funcInfo);
    return r === undefined ? '' : setWord(v, r + 4 * Math.floor(rnd() * 2), l, rnd);
  },
  'line-info': (_b, v, l, rnd) => {
    const r = oneOf(rnd, l.lineInfo);
    return r === undefined ? '' : setWord(v, r + 4 * Math.floor(rnd() * 4), l, rnd);
  },
  'core-relo': (_b, v, l, rnd) => {
    const r = oneOf(rnd, l.coreRelo);
    return r === undefined ? '' : setWord(v, r + 4 * Math.floor(rnd() * 4), l, rnd);
  },
  'ext-header': (_b, v, l, rnd) => {
    const r = oneOf(rnd, l.extHeaders);
    return r === undefined ? '' : setWord(v, r, l, rnd);
  },
  relocation: (_b, v, l, rnd) => {
    const r = oneOf(rnd, l.relocations);
    if (r === undefined) return '';
    const field = oneOf(rnd, ['offset', 'type', 'symbol'] as const)!;
    const off = r + (field === 'offset' ? 0 : field === 'type' ? 8 : 12);
    const old = v.getUint32(off, true);
    const val =
      field === 'symbol'
        ? Math.floor(rnd() * (l.symbolCount + 3))
        : (oneOf(rnd, [old + 8, old - 8, old + 4, old + 1, 0, 0xfffffff8, old + 0x10000]) ?? 0) >>> 0;
    v.setUint32(off, val, true);
    return `${field} @0x${off.toString(16)} ${old} -> ${val}`;
  },
  symbol: (b, v, l, rnd) => {
    const s = oneOf(rnd, l.symbols);
    if (s === undefined) return '';
    const field = oneOf(rnd, ['name', 'info', 'shndx', 'value', 'size'] as const)!;
    if (field === 'info') {
      const old = b[s + 4]!;
      b[s + 4] = old ^ (1 << Math.floor(rnd() * 8));
      return `info @0x${(s + 4).toString(16)} ${old} -> ${b[s + 4]}`;
    }
    if (field === 'shndx') {
      const old = v.getUint16(s + 6, true);
      const val = oneOf(rnd, [0, 1, old + 1, old - 1, l.shnum, 0xfff1, 0xfff2, 0xffff])! & 0xffff;
      v.setUint16(s + 6, val, true);
      return `shndx @0x${(s + 6).toString(16)} ${old} -> ${val}`;
    }
    return `${field} ${setWord(v, s + (field === 'name' ? 0 : field === 'value' ? 8 : 16), l, rnd)}`;
  },
  instruction: (b, v, l, rnd) => {
    // Mostly the interesting ones: ld_imm64 (map and data references), calls, jumps.
    const special = l.instructions.filter((i) => i.code === 0x18 || i.code === 0x85 || (i.code & 7) === 5);
    const insn = oneOf(rnd, rnd() < 0.7 && special.length > 0 ? special : l.instructions);
    if (insn === undefined) return '';
    const o = insn.off;
    const part = Math.floor(rnd() * (insn.code === 0x18 ? 6 : 4));
    switch (part) {
      case 0: {
        const old = b[o]!;
        b[o] = rnd() < 0.5 ? old ^ (1 << Math.floor(rnd() * 8)) : Math.floor(rnd() * 256);
        return `opcode @0x${o.toString(16)} 0x${old.toString(16)} -> 0x${b[o]!.toString(16)}`;
      }
      case 1: {
        const old = b[o + 1]!;
        b[o + 1] = old ^ (1 << Math.floor(rnd() * 8));
        return `regs @0x${(o + 1).toString(16)} 0x${old.toString(16)} -> 0x${b[o + 1]!.toString(16)}`;
      }
      case 2: {
        const old = v.getInt16(o + 2, true);
        const val = oneOf(rnd, [old + 1, old - 1, -1, 0, 0x7fff, -0x8000, old * 2])!;
        v.setInt16(o + 2, val, true);
        return `off @0x${(o + 2).toString(16)} ${old} -> ${v.getInt16(o + 2, true)}`;
      }
      case 4: {
        // ld_imm64's second half: its opcode byte must stay zero.
        const old = b[o + 8]!;
        b[o + 8] = old ^ (1 << Math.floor(rnd() * 8));
        return `ld_imm64 second opcode @0x${(o + 8).toString(16)} -> 0x${b[o + 8]!.toString(16)}`;
      }
      case 5:
        return `ld_imm64 high imm ${setWord(v, o + 12, l, rnd)}`;
      default:
        return `imm ${setWord(v, o + 4, l, rnd)}`;
    }
  },
  'section-header': (_b, v, l, rnd) => {
    const i = 1 + Math.floor(rnd() * (l.shnum - 1));
    const h = l.shoff + 64 * i;
    const field = oneOf(rnd, ['type', 'offset', 'size', 'link', 'info', 'entsize'] as const)!;
    const off = h + { type: 4, offset: 24, size: 32, link: 40, info: 44, entsize: 56 }[field];
    const old = v.getUint32(off, true);
    // Not 2^31-1: a .bss that size is an array map value the kernel accepts (value_size up to
    // INT_MAX) and zero-fills, with the loader's copy of it: seconds and gigabytes, not a bug.
    const val =
      field === 'offset' || field === 'size'
        ? oneOf(rnd, [old + 8, old - 8, old + 1, old - 1, 0, old + 0x1000, 0x80000000, 0xffffffff])! >>> 0
        : oneOf(rnd, [0, 1, old + 1, old - 1, l.shnum, 0xffffffff])! >>> 0;
    v.setUint32(off, val, true);
    return `section ${i} ${field} ${old} -> ${val}`;
  },
  'section-bytes': (b, _v, l, rnd) => {
    // Data sections (.maps, .data, .rodata, license, .BTF strings): a few flipped bits.
    const s = oneOf(
      rnd,
      l.sections.filter((x) => !x.nobits && x.size > 0),
    );
    if (s === undefined) return '';
    const at = s.offset + Math.floor(rnd() * s.size);
    b[at] = b[at]! ^ (1 << Math.floor(rnd() * 8));
    return `bit @0x${at.toString(16)}`;
  },
};

const STRING_CHARS = ['0', '9', ':', '/', '.', '_', 'a', '\0'];

MUTATIONS.string = (b, _v, l, rnd) => {
  const s = oneOf(rnd, l.strings);
  if (s === undefined) return '';
  const before = new TextDecoder().decode(b.subarray(s.off, s.off + s.len));
  // A path climbing out of the pin directory, or one character changed.
  const text = rnd() < 0.25 && s.len >= 3 ? '../' : oneOf(rnd, STRING_CHARS)!;
  const at = text === '../' ? 0 : Math.floor(rnd() * s.len);
  b.set(new TextEncoder().encode(text), s.off + at);
  const after = new TextDecoder().decode(b.subarray(s.off, s.off + s.len));
  return `${s.what} '${before}' -> ${JSON.stringify(after)}`;
};

const MUTATION_NAMES = [...Object.keys(MUTATIONS), 'truncate', 'mixed'];

function mutant(l: Layout, rnd: () => number): { bytes: Uint8Array; what: string } {
  const kind = oneOf(rnd, MUTATION_NAMES)!;
  if (kind === 'truncate') {
    // Cut inside a section more often than anywhere at all.
    const s = oneOf(rnd, l.sections);
    const at =
      s !== undefined && rnd() < 0.6
        ? s.offset + Math.floor(rnd() * (s.size + 1))
        : Math.floor(rnd() * l.bytes.length);
    return { bytes: l.bytes.slice(0, at), what: `truncate at ${at}` };
  }
  const b = l.bytes.slice();
  const v = new DataView(b.buffer);
  const n = 1 + Math.floor(rnd() * 3);
  const done: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = kind === 'mixed' ? oneOf(rnd, Object.keys(MUTATIONS))! : kind;
    const d = MUTATIONS[k]!(b, v, l, rnd);
    if (d !== '') done.push(kind === 'mixed' ? `${k} ${d}` : d);
  }
  return { bytes: b, what: `${kind}: ${done.join('; ') || 'nothing to mutate'}` };
}

// ---- what a load leaves behind ----------------------------------------------------------------

// BPF and perf descriptors only: Node's own (pipes, the loader thread's) come and go by themselves.
const fdList = (): string[] => bpfDescriptors().map((d) => d.slice(0, d.indexOf(' ')));

/** The kernel objects one load made, by id: learnt from its trace, as each is created. */
interface Made {
  prog: Set<number>;
  map: Set<number>;
  btf: Set<number>;
  /** Paths pinned, which must all be under the pin root. */
  pins: string[];
}

function* ids(next: (id: number) => number | undefined): Generator<number> {
  for (let id = next(0); id !== undefined; id = next(id)) yield id;
}

/** Records the id behind each descriptor the loader reports (BPF_OBJ_GET_INFO_BY_FD opens nothing). */
function recordIds(made: Made): (e: TraceEvent) => void {
  return (e) => {
    if (e.kind === 'program') made.prog.add(progGetInfo(e.fd).info.id);
    else if (e.kind === 'map' && e.how !== 'reused') made.map.add(mapGetInfo(e.fd).info.id);
    else if (e.kind === 'btf') made.btf.add(btfGetInfo(e.fd).info.id);
    else if (e.kind === 'pin') made.pins.push(e.path);
  };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number): void => void Atomics.wait(sleeper, 0, 0, ms);

/**
 * Which of the objects a load made still exist after it closed everything. Closing the last
 * descriptor of a program frees its id at once, but the program itself goes after an RCU grace
 * period and only then drops its maps and BTF (and their ids); a prog array first clears its
 * slots from a work item. So an id still listed right after close is not yet a leak: look again,
 * with growing waits, before calling it one. Only ids are compared, never opened: opening a prog
 * array by id while its clearing is pending leaks it in the kernel (Linux 6.18: about one in ten
 * times, map then alive with no descriptor, pin or program), which is the kind of leak this
 * looks for.
 */
function leftInKernel(made: Made): string[] {
  let left: string[] = [];
  for (let attempt = 0; attempt < 9; attempt++) {
    if (attempt > 0) sleep(10 << attempt);
    left = [
      ...[...programIds()].filter((id) => made.prog.has(id)).map((id) => `prog ${id}`),
      ...[...ids(mapGetNextId)].filter((id) => made.map.has(id)).map((id) => `map ${id}`),
      ...[...ids(btfGetNextId)].filter((id) => made.btf.has(id)).map((id) => `btf ${id}`),
    ];
    if (left.length === 0) break;
  }
  return left;
}

// ---- the worker: one load per mutant ----------------------------------------------------------

function outcome(e: unknown): string {
  if (e instanceof LoadError) return `${e.name}:${e.step}`;
  if (e instanceof SyscallError) return `${e.name}:${e.command}`;
  return e instanceof Error ? e.name : typeof e;
}

function runJob(job: Job, post: (m: Message) => void): Report {
  const files = (
    JSON.parse(readFileSync(join(TESTDATA, 'manifest.json'), 'utf8')) as {
      objects: { name: string; loads: boolean }[];
    }
  ).objects
    .filter((o) => o.loads)
    .map((o) => o.name);
  const layouts = files.map(layout);
  for (const d of [MAPS, PROGS]) mkdirSync(join(job.pinRoot, d), { recursive: true });
  const report: Report = { counts: {}, byMutation: {}, failures: [], maxMs: 0, slowest: '' };
  const fail = (msg: string): void => void report.failures.push(msg);
  // Warm the caches (feature probes, kernel BTF, kconfig) so that what they keep open is not counted.
  for (const l of layouts) {
    try {
      const o = loadObject(l.bytes, { pinRoot: job.pinRoot });
      o.unpin();
      o.close();
    } catch {
      // Not every object loads everywhere; the mutants of those still must fail cleanly.
    }
  }
  const rnd = prng(job.seed);
  for (let i = 0; i < job.iterations; i++) {
    const l = layouts[Math.floor(rnd() * layouts.length)]!;
    const m = mutant(l, rnd);
    const what = `iteration ${i}: ${l.name}-el.o ${m.what}`;
    if (ONLY !== undefined && i !== ONLY) continue;
    post({ kind: 'begin', i, what });
    const kind = m.what.slice(0, m.what.indexOf(m.what.startsWith('truncate') ? ' ' : ':'));
    report.byMutation[kind] = (report.byMutation[kind] ?? 0) + 1;
    const fds = fdList();
    const made: Made = { prog: new Set(), map: new Set(), btf: new Set(), pins: [] };
    const started = performance.now();
    let result: string;
    try {
      // Every other load also pins each map and program (bpftool's pinmaps and loadall), so that a
      // failure after some pins must take them back.
      const o = loadObject(m.bytes, {
        ...(i % 2 === 1 ? { pinMaps: join(job.pinRoot, MAPS), pinDir: join(job.pinRoot, PROGS) } : {}),
        pinRoot: job.pinRoot,
        trace: recordIds(made),
      });
      o.unpin();
      o.close();
      result = 'loaded';
    } catch (e) {
      result = outcome(e);
      if (!(e instanceof EbpfError)) {
        fail(`${what}: threw ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      } else if (Object.keys(e.location).length === 0) {
        fail(`${what}: ${e.name} says nowhere: ${e.message}`);
      }
    }
    const ms = performance.now() - started;
    if (ms > report.maxMs) [report.maxMs, report.slowest] = [ms, what];
    report.counts[result] = (report.counts[result] ?? 0) + 1;

    const after = fdList();
    const leaked = after.filter((fd) => !fds.includes(fd));
    if (after.length !== fds.length)
      fail(`${what}: ${result}, ${fds.length} descriptors before, ${after.length} after`);
    if (leaked.length > 0) {
      const targets = leaked.map((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`);
        } catch {
          return '?';
        }
      });
      fail(`${what}: ${result}, leaked descriptors ${targets.join(', ')}`);
      for (const fd of leaked) closeSync(Number(fd)); // so later iterations count from a clean slate
    }
    for (const p of made.pins.filter((x) => !x.startsWith(`${job.pinRoot}/`))) {
      fail(`${what}: ${result}, pinned outside the pin root: ${p}`);
      rmSync(p, { force: true });
    }
    const pins = [MAPS, PROGS, '']
      .flatMap((d) => readdirSync(join(job.pinRoot, d)).map((e) => join(d, e)))
      .filter((p) => p !== MAPS && p !== PROGS);
    if (pins.length > 0) {
      fail(`${what}: ${result}, left pins ${pins.join(', ')}`);
      for (const p of pins) rmSync(join(job.pinRoot, p), { recursive: true, force: true });
    }
    const left = leftInKernel(made);
    if (left.length > 0) fail(`${what}: ${result}, left in the kernel: ${left.join(', ')}`);
  }
  return report;
}

if (!isMainThread && (workerData as { fuzzLoad?: Job } | undefined)?.fuzzLoad !== undefined) {
  const job = (workerData as { fuzzLoad: Job }).fuzzLoad;
  const post = (m: Message): void => parentPort!.postMessage(m);
  post({ kind: 'done', report: runJob(job, post) });
}

// ---- the test: a watchdog around the worker ---------------------------------------------------

/**
 * Runs the job in a worker thread: the load is synchronous, so only another thread can notice a
 * hang and stop it (Worker.terminate interrupts even a loop that never yields).
 */
function inWorker(job: Job): Promise<Report> {
  // The worker's entry is evaluated code that registers tsx before importing this file.
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
  const worker = new Worker(code, { eval: true, workerData: { fuzzLoad: job } });
  return new Promise((resolve, reject) => {
    let current = { what: 'starting', since: Date.now() };
    let report: Report | undefined;
    const watchdog = setInterval(() => {
      if (Date.now() - current.since <= HANG_MS) return;
      clearInterval(watchdog);
      void worker.terminate();
      reject(new Error(`${current.what}: no result after ${HANG_MS} ms (hang)`));
    }, 500);
    worker.on('message', (m: Message) => {
      if (m.kind === 'begin') current = { what: m.what, since: Date.now() };
      else report = m.report;
    });
    worker.on('error', (e) => {
      clearInterval(watchdog);
      reject(new Error(`${current.what}: the worker failed`, { cause: e }));
    });
    worker.on('exit', () => {
      clearInterval(watchdog);
      if (report !== undefined) resolve(report);
      else reject(new Error(`${current.what}: the worker exited without a report`));
    });
  });
}

/** A copy of a testdata object changed by `f`, which gets the object's layout and parsed BTF. */
function patched(
  name: string,
  f: (v: DataView, l: Layout, btf: Btf, at: (section: string) => number) => void,
): Uint8Array {
  const l = layout(name);
  const b = l.bytes.slice();
  const elf = parseElf(l.bytes, name);
  const btf = Btf.parse(elf.section('.BTF')!.data());
  f(new DataView(b.buffer), l, btf, (section) => elf.section(section)!.offset);
  return b;
}

const specOf = (b: Uint8Array): unknown => objectSpecFromElf(parseElf(b));

if (isMainThread) {
  test('what the fuzzing found, one mutant each: the error and where it points (no kernel)', () => {
    // func_info and line_info insn_off inside an instruction: refused where the record is, rather
    // than as a fraction of an instruction when the program is marshalled (no location at all).
    for (const [what, records] of [
      ['func_info', (l: Layout) => l.funcInfo],
      ['line_info', (l: Layout) => l.lineInfo],
    ] as const) {
      let rec = 0;
      let ext = 0;
      const b = patched('flow', (v, l, _btf, at) => {
        rec = records(l)[0]!;
        ext = at('.BTF.ext');
        v.setUint32(rec, v.getUint32(rec, true) + 4, true);
      });
      assert.throws(
        () => specOf(b),
        (e) =>
          e instanceof BtfError &&
          e.location.section === '.BTF.ext' &&
          e.location.offset === rec - ext &&
          new RegExp(`${what} .*insn_off \\d+ is not a multiple of 8`).test(e.message),
        what,
      );
    }
    // No symbol table (its section type changed): names the section it looked for.
    const noSymtab = patched('flow', (v, l) => {
      const symtab = parseElf(l.bytes).symtab!;
      v.setUint32(l.shoff + 64 * symtab.index + 4, 1, true); // SHT_PROGBITS
    });
    assert.throws(
      () => specOf(noSymtab),
      (e) =>
        e instanceof ObjectError && e.location.section === '.symtab' && /no symbol table/.test(e.message),
    );
    // Externs in an object whose .BTF is gone (its section name emptied).
    const noBtf = patched('externs', (v, l) => {
      v.setUint32(l.shoff + 64 * parseElf(l.bytes).section('.BTF')!.index, 0, true);
    });
    assert.throws(
      () => specOf(noBtf),
      (e) => e instanceof ObjectError && e.location.section === '.symtab' && /needs BTF/.test(e.message),
    );
  });

  test('what the fuzzing found, one mutant each: the error and where it points (loading)', (t) => {
    if (!needRoot(t)) return;
    // A CO-RE relocation through a member that is no bitfield but starts inside a byte: a
    // CoreError naming the program, not a RangeError from BigInt(0.25).
    const core = patched('tp_btf', (v, l, btf) => {
      const relo = l.coreRelo
        .map((off) => ({ type: v.getUint32(off + 4, true), access: btf.string(v.getUint32(off + 8, true)) }))
        .find((r) => r.access.split(':').length >= 2)!;
      const root = btf.resolve(relo.type);
      const member = Number(relo.access.split(':')[1]);
      const word = l.types[root.id - 1]!.off + 12 + 12 * member + 8;
      v.setUint32(word, v.getUint32(word, true) + 2, true);
    });
    assert.throws(
      () => loadObject(core).close(),
      (e) => e instanceof CoreError && e.location.program !== undefined && /not a bitfield/.test(e.message),
    );
    // A bitfield read by CO-RE whose integer type has size 0: once a CoreError at relocation
    // (not a RangeError from BigInt(NaN), a division by the size); now BTF parse refuses the INT
    // itself, naming the type, as the kernel refuses bits past an INT's size.
    const zero = patched('core', (v, l, btf) => {
      for (const off of l.coreRelo) {
        const access = btf
          .string(v.getUint32(off + 8, true))
          .split(':')
          .map(Number);
        let t = btf.resolve(v.getUint32(off + 4, true));
        for (const idx of access.slice(1)) {
          if (t.kind !== 'STRUCT' && t.kind !== 'UNION') break;
          const m = t.members[idx]!;
          if (m.bitfieldSize > 0) {
            const int = btf.resolve(m.type);
            v.setUint32(l.types[int.id - 1]!.off + 8, 0, true);
            return;
          }
          t = btf.resolve(m.type);
        }
      }
      assert.fail('core-el.o has no CO-RE bitfield read');
    });
    assert.throws(
      () => loadObject(zero).close(),
      (e) =>
        e instanceof BtfError &&
        e.location.typeId !== undefined &&
        /INT of 0 bytes with \d+ bits at bit 0: past its size/.test(e.message),
    );
    // struct_ops BTF the kernel refuses: the type its log ends at.
    let refused = 0;
    const structOps = patched('struct_ops', (v, l, btf) => {
      const st = btf.findOne('tcp_congestion_ops', 'STRUCT');
      refused = st.id;
      const last = l.types[st.id - 1]!;
      v.setUint32(last.off + 12 + 12 * (last.vlen - 1) + 8, 26, true); // bits_offset 26
    });
    assert.throws(
      () => loadObject(structOps).close(),
      (e) =>
        e instanceof LoadError &&
        e.step === 'btf' &&
        e.location.section === '.BTF' &&
        e.location.typeId === refused,
    );
    // A map pinned by name whose name (BTF variable and ELF symbol alike) climbs out of the pin
    // directory: refused, instead of pinned one directory up.
    const escape = patched('flow', (v, l) => {
      const elf = parseElf(l.bytes);
      const btfName = l.strings.find((x) => x.what === 'map')!;
      const name = new TextDecoder().decode(l.bytes.subarray(btfName.off, btfName.off + btfName.len));
      const sym = elf.symbols.find((x) => x.name === name)!;
      const strtab = elf.sections[elf.symtab!.link]!.offset;
      const symName = strtab + v.getUint32(l.symbols[sym.index - 1]!, true);
      for (const at of [btfName.off, symName])
        new Uint8Array(v.buffer).set(new TextEncoder().encode('../'), at);
    });
    const dir = join('/sys/fs/bpf', `ebpf_test_${process.pid}_fuzz_found`);
    const pinRoot = join(dir, 'pins');
    mkdirSync(pinRoot, { recursive: true });
    try {
      assert.throws(
        () => loadObject(escape, { pinRoot }).close(),
        (e) => e instanceof LoadError && e.step === 'pin' && e.location.map?.startsWith('../') === true,
      );
      assert.deepEqual(readdirSync(dir), ['pins']);
      assert.deepEqual(readdirSync(pinRoot), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('mutated objects load or fail with a typed error, leaving no descriptor, pin or kernel object', async (t) => {
    if (!needRoot(t)) return;
    const pinRoot = join('/sys/fs/bpf', `ebpf_test_${process.pid}_fuzz_load`);
    mkdirSync(pinRoot, { recursive: true });
    const started = Date.now();
    try {
      const r = await inWorker({ seed: SEED, iterations: ITERATIONS, pinRoot });
      t.diagnostic(`${ITERATIONS} mutants (seed 0x${SEED.toString(16)}) in ${Date.now() - started} ms`);
      t.diagnostic(`outcomes: ${JSON.stringify(r.counts)}`);
      t.diagnostic(`mutations: ${JSON.stringify(r.byMutation)}`);
      t.diagnostic(`slowest load ${r.maxMs.toFixed(0)} ms: ${r.slowest}`);
      assert.deepEqual(r.failures, []);
      if (ONLY !== undefined) return;
      // The mutants must reach past the ELF reader: some load, some fail in the kernel-facing steps.
      assert.ok((r.counts.loaded ?? 0) > 0, 'no mutant loaded');
      const deep = Object.keys(r.counts).filter((k) => k.startsWith('LoadError') || k.startsWith('Verifier'));
      assert.ok(deep.length > 0, `no mutant reached the load steps: ${JSON.stringify(r.counts)}`);
    } finally {
      rmSync(pinRoot, { recursive: true, force: true });
    }
  });
}
