// `ebpf prog list|show|run`: loaded programs as bpftool prints them (text or --json), and test runs.
import { existsSync } from 'node:fs';
import { progTypeShortName } from '../exports/constants.js';
import { memlockOf, Program, programIds, type ProgramInfo } from '../exports/program.js';
import { hex, parse, positionals, readFileArg, UsageError, type Args, type Command } from './common.js';
import { objectWords, openListed, openProgram } from './handles.js';

const usage = `usage: ebpf prog list [-j]
       ebpf prog show PROG [-j]
       ebpf prog run PROG [--data-in FILE|HEX] [--ctx-in FILE|HEX] [--data-size-out N]
                          [--ctx-size-out N] [--repeat N] [-j]
       ebpf prog pin PROG PATH [-j]

  PROG           id N | pinned PATH | name NAME | N | PATH
  --data-in      the packet: a file, or hex bytes (00112233..., spaces allowed)
  --ctx-in       the context (struct xdp_md, __sk_buff, ...): a file or hex bytes
  --data-size-out  room for the packet after the run (default: input + 256)
  --repeat       run N times; the duration printed is the average
  PATH           where to pin, in a bpffs (directories made; bpffs mounted at /sys/fs/bpf when
                 none is and you are root)
  -j, --json     JSON like bpftool -j`;

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** strftime("%FT%T%z") in local time, as bpftool prints loaded_at. */
function isoLocal(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  const date = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  const time = `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  return `${date}T${time}${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

interface Row {
  info: ProgramInfo;
  memlock: number;
}

function text(r: Row): string {
  const i = r.info;
  let first = `${i.id}: ${progTypeShortName(i.type)}  `;
  if (i.name !== '') first += `name ${i.name}  `;
  first += `tag ${i.tag}`;
  if (i.gplCompatible) first += '  gpl';
  if (i.runTimeNs !== 0n) first += `  run_time_ns ${i.runTimeNs} run_cnt ${i.runCount}`;
  if (i.recursionMisses !== 0n) first += `  recursion_misses ${i.recursionMisses}`;
  const lines = [first, `\tloaded_at ${isoLocal(i.loadedAt)}  uid ${i.createdByUid}`];
  let sizes = `\txlated ${i.xlatedSize}B`;
  sizes += i.jitedSize > 0 ? `  jited ${i.jitedSize}B` : '  not jited';
  if (r.memlock > 0) sizes += `  memlock ${r.memlock}B`;
  if (i.mapIds.length > 0) sizes += `  map_ids ${i.mapIds.join(',')}`;
  lines.push(sizes);
  if (i.btfId !== 0) lines.push(`\tbtf_id ${i.btfId}`);
  return lines.join('\n');
}

/** The fields of `bpftool -j prog show`, in its order. */
function json(r: Row): Record<string, unknown> {
  const i = r.info;
  const o: Record<string, unknown> = { id: i.id, type: progTypeShortName(i.type) };
  if (i.name !== '') o.name = i.name;
  o.tag = i.tag;
  o.gpl_compatible = i.gplCompatible;
  if (i.runTimeNs !== 0n) {
    o.run_time_ns = Number(i.runTimeNs);
    o.run_cnt = Number(i.runCount);
  }
  if (i.recursionMisses !== 0n) o.recursion_misses = Number(i.recursionMisses);
  o.loaded_at = Math.floor(i.loadedAt.getTime() / 1000);
  o.uid = i.createdByUid;
  o.bytes_xlated = i.xlatedSize;
  o.jited = i.jitedSize > 0;
  if (i.jitedSize > 0) o.bytes_jited = i.jitedSize;
  if (r.memlock > 0) o.bytes_memlock = r.memlock;
  if (i.mapIds.length > 0) o.map_ids = i.mapIds;
  if (i.btfId !== 0) o.btf_id = i.btfId;
  return o;
}

function rowOf(p: Program): Row {
  return { info: p.info(), memlock: memlockOf(p.fd.fd) };
}

/** Bytes from a file, or from hex digits when no such file exists. */
export function bytesArg(s: string, what: string): Uint8Array {
  if (existsSync(s)) return readFileArg(s);
  const digits = s.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) {
    throw new UsageError(`--${what}: '${s}' is neither a file nor hex bytes`);
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Hex dump, 16 bytes a line, like bpftool's data_out. */
function hexLines(b: Uint8Array): string[] {
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16)
    lines.push(`  ${i.toString(16).padStart(4, '0')}: ${hex(b.subarray(i, i + 16), ' ')}`);
  return lines;
}

function list(a: Args): number {
  positionals(a.positionals, 0, 0, '');
  const rows: Row[] = [];
  for (const id of programIds()) {
    using p = openListed(() => Program.fromId(id));
    if (p !== undefined) rows.push(rowOf(p));
  }
  if (a.json) process.stdout.write(JSON.stringify(rows.map(json)) + '\n');
  else for (const r of rows) process.stdout.write(text(r) + '\n');
  return 0;
}

function show(a: Args): number {
  if (a.positionals.length === 0) return list(a);
  const { program, rest } = openProgram(a.positionals);
  using p = program;
  positionals(rest, 0, 0, '');
  const r = rowOf(p);
  process.stdout.write((a.json ? JSON.stringify(json(r)) : text(r)) + '\n');
  return 0;
}

function pin(a: Args): number {
  const n = objectWords(a.positionals, ['id', 'pinned', 'name']);
  positionals(a.positionals, n + 1, n + 1, 'PATH, where to pin the program');
  const { program, rest } = openProgram(a.positionals);
  using p = program;
  const [path] = positionals(rest, 1, 1, 'PATH, where to pin the program');
  p.pin(path!);
  if (a.json) process.stdout.write(JSON.stringify({ id: p.info().id, pinnedAt: path }) + '\n');
  else process.stdout.write(`prog ${p.info().id} pinned at ${path}\n`);
  return 0;
}

function runProg(a: Args): number {
  // Every value is checked before the program is opened.
  const dataIn = a.string('data-in');
  const ctxIn = a.string('ctx-in');
  const data = dataIn !== undefined ? bytesArg(dataIn, 'data-in') : undefined;
  const ctx = ctxIn !== undefined ? bytesArg(ctxIn, 'ctx-in') : undefined;
  const dataSizeOut = a.int('data-size-out', 0, 0xffffffff);
  const ctxSizeOut = a.int('ctx-size-out', 0, 0xffffffff);
  const repeat = a.int('repeat', 0, 0xffffffff);
  const { program, rest } = openProgram(a.positionals);
  using p = program;
  positionals(rest, 0, 0, '');
  const r = p.testRun({
    ...(data !== undefined && { dataIn: data }),
    ...(ctx !== undefined && { ctxIn: ctx }),
    ...(dataSizeOut !== undefined && { dataSizeOut }),
    ...(ctxSizeOut !== undefined && { ctxSizeOut }),
    ...(repeat !== undefined && { repeat }),
  });
  if (a.json) {
    const o: Record<string, unknown> = { retval: r.retval, duration: r.duration };
    if (r.dataOut !== undefined) o.data_out = hex(r.dataOut);
    if (r.ctxOut !== undefined) o.ctx_out = hex(r.ctxOut);
    process.stdout.write(JSON.stringify(o) + '\n');
    return 0;
  }
  const lines = [`retval ${r.retval}  duration ${r.duration}ns`];
  if (r.dataOut !== undefined) lines.push(`data_out ${r.dataOut.length}B`, ...hexLines(r.dataOut));
  if (r.ctxOut !== undefined) lines.push(`ctx_out ${r.ctxOut.length}B`, ...hexLines(r.ctxOut));
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

const RUN_OPTIONS = {
  'data-in': { type: 'string' },
  'ctx-in': { type: 'string' },
  'data-size-out': { type: 'string' },
  'ctx-size-out': { type: 'string' },
  repeat: { type: 'string' },
} as const;

export const command: Command = {
  summary: 'list, show, test-run and pin loaded programs',
  usage,
  run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'list':
      case undefined:
        return Promise.resolve(list(parse(rest)));
      case 'show':
        return Promise.resolve(show(parse(rest)));
      case 'run':
        return Promise.resolve(runProg(parse(rest, RUN_OPTIONS)));
      case 'pin':
        return Promise.resolve(pin(parse(rest)));
      default:
        // `ebpf prog --json` lists, as bpftool's `prog` alone does.
        if (sub.startsWith('-')) return Promise.resolve(list(parse(args)));
        throw new UsageError(`unknown prog command '${sub}' (list, show, run or pin)`);
    }
  },
};
