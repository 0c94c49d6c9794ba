// `ebpf prog list|show|run`: loaded programs as bpftool prints them (text or --json), and test runs.
import { existsSync } from 'node:fs';
import { progTypeShortName } from '../constants.js';
import { EbpfError, NotFoundError } from '../errors.js';
import { memlockOf, type ProgramInfo } from '../program/info.js';
import { Program, programIds } from '../program/program.js';
import { parseArgs } from './args.js';
import { readInputFile } from '../internal/file.js';
import { openListed } from './listed.js';
import type { Command } from './main.js';

const usage = `usage: ebpf prog list [--json]
       ebpf prog show PROG [--json]
       ebpf prog run PROG [--data-in FILE|HEX] [--ctx-in FILE|HEX] [--data-size-out N] [--repeat N] [--json]

  PROG           id N | pinned PATH | name NAME | N | PATH
  --data-in      the packet: a file, or hex bytes (00112233..., spaces allowed)
  --ctx-in       the context (struct xdp_md, __sk_buff, ...): a file or hex bytes
  --data-size-out  room for the packet after the run (default: input + 256)
  --repeat       run N times; the duration printed is the average
  --json         JSON like bpftool -j`;

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

/** Opens the program a command line names: `id N`, `pinned PATH`, `name NAME`, a bare id or path. */
export function openProgram(words: string[]): Program {
  const [kind, value] = words;
  if (kind === undefined) throw new EbpfError('which program? give id N, pinned PATH or name NAME');
  if (kind === 'id' && value !== undefined) return Program.fromId(parseId(value));
  if (kind === 'pinned' && value !== undefined) return Program.fromPin(value);
  if (kind === 'name' && value !== undefined) {
    for (const id of programIds()) {
      const p = openListed(() => Program.fromId(id));
      if (p === undefined) continue;
      if (p.name === value) return p;
      p.close();
    }
    throw new NotFoundError(`no loaded program named '${value}'`);
  }
  if (/^\d+$/.test(kind)) return Program.fromId(parseId(kind));
  if (kind.startsWith('/')) return Program.fromPin(kind);
  throw new EbpfError(
    `cannot tell which program '${words.join(' ')}' means (id N, pinned PATH or name NAME)`,
  );
}

function parseId(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw new EbpfError(`'${s}' is not a program id`);
  return n;
}

function parseCount(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new EbpfError(`--${what} wants a count, not '${s}'`);
  return n;
}

/** Bytes from a file, or from hex digits when no such file exists. */
export function bytesArg(s: string, what: string): Uint8Array {
  if (existsSync(s)) return readInputFile(s);
  const digits = s.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) {
    throw new EbpfError(`--${what}: '${s}' is neither a file nor hex bytes`);
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Hex dump, 16 bytes a line, like bpftool's data_out. */
function hexLines(b: Uint8Array): string[] {
  const lines: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    const chunk = Array.from(b.subarray(i, i + 16), (x) => x.toString(16).padStart(2, '0'));
    lines.push(`  ${i.toString(16).padStart(4, '0')}: ${chunk.join(' ')}`);
  }
  return lines;
}

function list(asJson: boolean): number {
  const rows: Row[] = [];
  for (const id of programIds()) {
    using p = openListed(() => Program.fromId(id));
    if (p !== undefined) rows.push(rowOf(p));
  }
  if (asJson) process.stdout.write(JSON.stringify(rows.map(json)) + '\n');
  else for (const r of rows) process.stdout.write(text(r) + '\n');
  return 0;
}

function show(words: string[], asJson: boolean): number {
  using p = openProgram(words);
  const r = rowOf(p);
  process.stdout.write((asJson ? JSON.stringify(json(r)) : text(r)) + '\n');
  return 0;
}

function runProg(args: string[]): number {
  const a = parseArgs(args, ['data-in', 'ctx-in', 'data-size-out', 'ctx-size-out', 'repeat'], ['json']);
  using p = openProgram(a.positionals);
  const dataIn = a.options.get('data-in');
  const ctxIn = a.options.get('ctx-in');
  const dataSizeOut = parseCount(a.options.get('data-size-out'), 'data-size-out');
  const ctxSizeOut = parseCount(a.options.get('ctx-size-out'), 'ctx-size-out');
  const repeat = parseCount(a.options.get('repeat'), 'repeat');
  const r = p.testRun({
    ...(dataIn !== undefined && { dataIn: bytesArg(dataIn, 'data-in') }),
    ...(ctxIn !== undefined && { ctxIn: bytesArg(ctxIn, 'ctx-in') }),
    ...(dataSizeOut !== undefined && { dataSizeOut }),
    ...(ctxSizeOut !== undefined && { ctxSizeOut }),
    ...(repeat !== undefined && { repeat }),
  });
  if (a.flags.has('json')) {
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

export const command: Command = {
  summary: 'list, show and test-run loaded programs',
  usage,
  run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    const listing = (): ReturnType<typeof parseArgs> => parseArgs(rest, [], ['json']);
    switch (sub) {
      case 'list':
      case undefined:
        return Promise.resolve(list(listing().flags.has('json')));
      case 'show': {
        const a = listing();
        return Promise.resolve(
          a.positionals.length === 0 ? list(a.flags.has('json')) : show(a.positionals, a.flags.has('json')),
        );
      }
      case 'run':
        return Promise.resolve(runProg(rest));
      default:
        process.stderr.write(usage + '\n');
        return Promise.resolve(2);
    }
  },
};
