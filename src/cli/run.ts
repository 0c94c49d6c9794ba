// `ebpf run OBJ`: load every program, attach what the section names allow, show the maps and
// global variables live until Ctrl-C (or --seconds), then detach and close. binfmt_misc runs it.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { inspect } from 'node:util';
import { ProgType, mapTypeShortName } from '../constants.js';
import { EbpfError } from '../errors.js';
import { Link, type Attachment } from '../link/link.js';
import { attachRawTracepoint, attachTracepoint, PerfEventLink } from '../link/tracepoint.js';
import { attachXdp } from '../link/xdp.js';
import { DEFAULT_PIN_ROOT, loadObject, type LoadedObject, type LoadOptions } from '../loader/index.js';
import type { ProgramSpec } from '../object/spec.js';
import { makePinDirs } from '../sys/bpffs.js';
import { parseArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf run OBJ [--dev IFACE] [--pin | --pin-dir DIR] [--seconds N] [--interval S] [--entries N] [--json]

  Loads every program of OBJ and attaches those whose section says where: tracepoint/C/N,
  raw_tp/N, tp_btf/N (and fentry/fexit where the kernel allows), XDP on --dev. Others are loaded
  only. Then prints the maps and global variables every --interval seconds until Ctrl-C or
  --seconds, and detaches everything.

  --dev       the interface for XDP programs
  --pin       pin programs, maps and links under ${DEFAULT_PIN_ROOT}/<object name>/ and leave them:
              the programs stay attached after exit (remove the directory to detach)
  --pin-dir   the same under DIR
  --seconds   stop after N seconds (default: run until Ctrl-C or SIGTERM)
  --interval  seconds between summaries (default 1)
  --entries   entries shown per map (default 10)
  --json      no live summaries; at the end one JSON object {programs, maps, globals}

  A BPF ELF made executable runs this directly once 'ebpf binfmt install' registered it.`;

interface Attached {
  program: string;
  /** How, or why not. */
  how: string;
  attachment?: Attachment;
}

/** Attaches `p` the way its section name says, or says why it is only loaded. */
function attach(obj: LoadedObject, p: ProgramSpec, dev: string | undefined): Attached {
  const prog = obj.program(p.name);
  const kind = p.section?.def.autoAttach;
  const target = p.attachTo;
  try {
    if (p.section?.progType === ProgType.XDP) {
      if (dev === undefined) return { program: p.name, how: 'loaded (XDP: give --dev IFACE to attach)' };
      return { program: p.name, how: `xdp on ${dev}`, attachment: attachXdp(prog, dev) };
    }
    switch (kind) {
      case 'tracepoint': {
        const [category, name] = (target ?? '').split('/');
        if (category === undefined || name === undefined || name === '')
          return { program: p.name, how: 'loaded (tracepoint without CATEGORY/NAME)' };
        return {
          program: p.name,
          how: `tracepoint ${category}/${name}`,
          attachment: attachTracepoint(prog, category, name),
        };
      }
      case 'raw_tracepoint':
        if (target === undefined || target === '')
          return { program: p.name, how: 'loaded (raw_tp without a name)' };
        return { program: p.name, how: `raw_tp ${target}`, attachment: attachRawTracepoint(prog, target) };
      case 'trace':
        return {
          program: p.name,
          how: `${p.sectionName.split('/')[0] ?? 'trace'} ${target ?? ''}`.trim(),
          attachment: attachRawTracepoint(prog),
        };
      default:
        return { program: p.name, how: 'loaded (not attached: its section gives no target)' };
    }
  } catch (e) {
    // An interface the user named that cannot take the program is an error, not a note.
    const asked = dev !== undefined && p.section?.progType === ProgType.XDP;
    if (e instanceof EbpfError && !asked)
      return { program: p.name, how: `loaded (attach failed: ${e.message})` };
    throw e;
  }
}

function linkOf(a: Attachment | undefined): Link | undefined {
  return a instanceof Link ? a : a instanceof PerfEventLink ? a.link : undefined;
}

const show = (x: unknown): string =>
  inspect(x, { breakLength: Infinity, compact: true, depth: 6, maxArrayLength: 16, maxStringLength: 80 });

/** JSON with bigints as decimal strings and typed arrays as arrays. */
function toJson(x: unknown): unknown {
  if (typeof x === 'bigint') return x.toString();
  if (ArrayBuffer.isView(x)) return Array.from(x as unknown as ArrayLike<number | bigint>, toJson);
  if (Array.isArray(x)) return x.map(toJson);
  if (typeof x === 'object' && x !== null)
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, toJson(v)]));
  return x;
}

/** Data-section maps are shown as their variables, not as a map. */
const isDataMap = (source: string): boolean =>
  source === 'data' || source === 'rodata' || source === 'bss' || source === 'kconfig';

interface Snapshot {
  maps: Record<
    string,
    { type: string; entries: [unknown, unknown][]; more: boolean } | { type: string; note: string }
  >;
  globals: Record<string, Record<string, unknown>>;
}

function snapshot(obj: LoadedObject, limit: number): Snapshot {
  const maps: Snapshot['maps'] = {};
  for (const [name, r] of obj.maps) {
    if (isDataMap(r.spec.source)) continue;
    const type = mapTypeShortName(r.spec.type);
    try {
      const entries: [unknown, unknown][] = [];
      let more = false;
      for (const e of obj.map(name).entries()) {
        if (entries.length === limit) {
          more = true;
          break;
        }
        entries.push(e as [unknown, unknown]);
      }
      maps[name] = { type, entries, more };
    } catch (e) {
      // Ring buffers, queues and the like have no entries to walk.
      if (!(e instanceof EbpfError)) throw e;
      maps[name] = { type, note: 'not iterable' };
    }
  }
  const globals: Snapshot['globals'] = {};
  for (const r of obj.maps.values()) {
    if (r.spec.source !== 'data' && r.spec.source !== 'rodata' && r.spec.source !== 'bss') continue;
    const view = obj.globals(r.spec.sectionName) as Record<string, unknown>;
    const vars: Record<string, unknown> = {};
    for (const k of Object.keys(view)) vars[k] = view[k];
    if (Object.keys(vars).length > 0) globals[r.spec.sectionName] = vars;
  }
  return { maps, globals };
}

function printSnapshot(s: Snapshot, elapsed: number): void {
  const lines = [`--- ${elapsed.toFixed(1)}s`];
  for (const [name, m] of Object.entries(s.maps)) {
    if ('note' in m) {
      lines.push(`map ${name} (${m.type}): ${m.note}`);
      continue;
    }
    lines.push(`map ${name} (${m.type}): ${m.entries.length}${m.more ? '+' : ''} entries`);
    for (const [k, v] of m.entries) lines.push(`  ${show(k)} => ${show(v)}`);
  }
  for (const [section, vars] of Object.entries(s.globals)) {
    lines.push(`${section}:`);
    for (const [k, v] of Object.entries(vars)) lines.push(`  ${k} = ${show(v)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

function positiveNumber(s: string | undefined, what: string, dflt: number): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new EbpfError(`--${what} wants a positive number, not '${s}'`);
  return n;
}

export const command: Command = {
  summary: 'load an object, attach its programs by section name, show its maps live until Ctrl-C',
  usage,
  async run(argv) {
    const args = parseArgs(argv, ['dev', 'pin-dir', 'seconds', 'interval', 'entries'], ['json', 'pin']);
    const [file, ...extra] = args.positionals;
    if (file === undefined || extra.length > 0) {
      process.stderr.write(usage + '\n');
      return 2;
    }
    const seconds = args.options.has('seconds')
      ? positiveNumber(args.options.get('seconds'), 'seconds', 0)
      : undefined;
    const interval = positiveNumber(args.options.get('interval'), 'interval', 1);
    const limit = positiveNumber(args.options.get('entries'), 'entries', 10);
    const json = args.flags.has('json');
    const dev = args.options.get('dev');
    let pinDir = args.options.get('pin-dir');
    const opts: LoadOptions = {};
    if (pinDir === undefined && args.flags.has('pin')) {
      pinDir = join(DEFAULT_PIN_ROOT, basename(file).split('.')[0] ?? 'object');
    }
    if (pinDir !== undefined) {
      makePinDirs(join(pinDir, 'maps'));
      makePinDirs(join(pinDir, 'links'));
      opts.pinDir = pinDir;
      opts.pinMaps = join(pinDir, 'maps');
    }
    const obj = loadObject(file, opts);
    const attached: Attached[] = [];
    const started = Date.now();
    try {
      for (const p of obj.spec.programs) if (obj.programs.has(p.name)) attached.push(attach(obj, p, dev));
      for (const a of attached) {
        if (pinDir === undefined || a.attachment === undefined) continue;
        const link = linkOf(a.attachment);
        const at = join(pinDir, 'links', a.program);
        if (link !== undefined && !existsSync(at)) {
          link.pin(at);
          a.how += `, link pinned at ${at}`;
        }
      }
      if (!json) {
        for (const a of attached) process.stdout.write(`prog '${a.program}': ${a.how}\n`);
        if (pinDir !== undefined) process.stdout.write(`pinned under ${pinDir} (stays after exit)\n`);
        process.stdout.write(
          seconds !== undefined ? `running for ${seconds}s\n` : 'running; Ctrl-C to stop\n',
        );
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          clearInterval(tick);
          if (timer !== undefined) clearTimeout(timer);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        const tick = setInterval(() => {
          if (!json) printSnapshot(snapshot(obj, limit), (Date.now() - started) / 1000);
        }, interval * 1000);
        const timer = seconds !== undefined ? setTimeout(stop, seconds * 1000) : undefined;
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      const last = snapshot(obj, limit);
      if (json) {
        const out = {
          programs: attached.map((a) => ({
            name: a.program,
            attached: a.attachment !== undefined,
            how: a.how,
          })),
          maps: toJson(last.maps),
          globals: toJson(last.globals),
          pinDir: pinDir ?? null,
        };
        process.stdout.write(JSON.stringify(out) + '\n');
      } else printSnapshot(last, (Date.now() - started) / 1000);
    } finally {
      // Pinned links keep their programs attached; the rest detach as their descriptors close.
      for (const a of attached) a.attachment?.close();
      // Without --pin a run leaves nothing behind, maps the object pins by name included.
      if (pinDir === undefined) obj.unpin();
      obj.close();
    }
    if (!json)
      process.stdout.write(
        pinDir !== undefined ? `closed; pins stay under ${pinDir}\n` : 'detached and closed\n',
      );
    return 0;
  },
};
