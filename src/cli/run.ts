// `ebpf run OBJ`: load every program, attach what the section names allow, show the maps and
// global variables live until Ctrl-C (or --seconds), then detach and close. binfmt_misc runs it.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { inspect } from 'node:util';
import { mapTypeShortName } from '../exports/constants.js';
import { EbpfError, NotSupportedError } from '../index.js';
import {
  autoAttachLoaded,
  autoAttachNeeds,
  Link,
  PerfEventLink,
  XDP_MODES,
  type Attachment,
  type AutoAttachOptions,
} from '../exports/link.js';
import { DEFAULT_PIN_ROOT, loadObject, type LoadedObject, type LoadOptions } from '../exports/loader.js';
import type { ProgramSpec } from '../exports/object.js';
import { parse, positionals, toJson, type Command } from './common.js';
import { parseRecordOptions, startEventStreams, type EventStreams } from './run-events.js';

const usage = `usage: ebpf run OBJ [--dev IFACE] [--xdp-mode MODE] [--cgroup DIR] [--pid N] [--pin | --pin-dir DIR]
               [--seconds N] [--interval S] [--entries N] [--record MAP=TYPE]... [-j]

  Loads every program of OBJ and attaches those whose section says where, as the library's
  autoAttach does (libbpf's bpf_program__attach): kprobe/F, uprobe/BIN:F, tracepoint/C/N,
  raw_tp/N, kprobe.multi/GLOB, tp_btf/N (and fentry/fexit where the kernel allows); XDP and
  tc/tcx ingress/egress on --dev; cgroup hooks on --cgroup. Others are loaded only. Then prints
  the maps and global variables every --interval seconds until Ctrl-C or --seconds, and
  detaches everything. Meanwhile every ring buffer and perf buffer map is streamed, one line per
  record, decoded through BTF: as the type --record names, else as the one named struct of the
  size the object's programs pass to bpf_ringbuf_reserve/bpf_ringbuf_output/
  bpf_perf_event_output with that map, else as hex.

  --dev       the interface for XDP and tc programs
  --xdp-mode  ${XDP_MODES.join(', ')} (default auto)
  --cgroup    the cgroup v2 directory for cgroup programs
  --pid       uprobes: only this process
  --pin       pin programs, maps and links under ${DEFAULT_PIN_ROOT}/<object name>/ and leave them:
              the programs stay attached after exit (remove the directory to detach)
  --pin-dir   the same under DIR
  --seconds   stop after N seconds (default: run until Ctrl-C or SIGTERM)
  --interval  seconds between summaries (default 1)
  --entries   entries shown per map (default 10)
  --record    MAP=TYPE: decode MAP's records as the C type TYPE ('struct event'); repeatable
  -j, --json  no live summaries: one JSON object per record ({map, record} or {map, hex}, with
              cpu for perf samples; {map, cpu, lost} for lost ones), and at the end one JSON
              object {programs, maps, globals, streams, pinDir}

  A BPF ELF made executable runs this directly once 'ebpf binfmt install' registered it.`;

interface Attached {
  program: string;
  /** How, or why not. */
  how: string;
  attachment?: Attachment;
}

/**
 * Attaches `p` the way its section name says (the library's autoAttach), or says why it is only
 * loaded. A device or cgroup the user named that cannot take the program is an error.
 */
function attach(obj: LoadedObject, p: ProgramSpec, opts: AutoAttachOptions): Attached {
  const needs = autoAttachNeeds(p);
  if (needs === 'device' && opts.device === undefined)
    return { program: p.name, how: 'loaded (give --dev IFACE to attach it)' };
  if (needs === 'cgroup' && opts.cgroup === undefined)
    return { program: p.name, how: 'loaded (give --cgroup DIR to attach it)' };
  try {
    const attachment = autoAttachLoaded(obj, p.name, opts);
    return { program: p.name, how: describeAttachment(p, opts), attachment };
  } catch (e) {
    if (needs !== undefined) throw e;
    if (e instanceof NotSupportedError)
      return { program: p.name, how: `loaded (not attached: ${e.message})` };
    if (e instanceof EbpfError) return { program: p.name, how: `loaded (attach failed: ${e.message})` };
    throw e;
  }
}

/** Where a program went, for the summary: its section's kind and target. */
function describeAttachment(p: ProgramSpec, opts: AutoAttachOptions): string {
  const kind = p.sectionName.split('/')[0] ?? p.sectionName;
  const needs = autoAttachNeeds(p);
  if (needs === 'device') return `${kind} on ${String(opts.device)}`;
  if (needs === 'cgroup') return `${p.sectionName} on ${opts.cgroup ?? ''}`;
  return `${kind} ${p.attachTo ?? ''}`.trim();
}

function linkOf(a: Attachment | undefined): Link | undefined {
  return a instanceof Link ? a : a instanceof PerfEventLink ? a.link : undefined;
}

const show = (x: unknown): string =>
  inspect(x, { breakLength: Infinity, compact: true, depth: 6, maxArrayLength: 16, maxStringLength: 80 });

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

function snapshot(obj: LoadedObject, limit: number, streamed: ReadonlySet<string>): Snapshot {
  const maps: Snapshot['maps'] = {};
  for (const [name, r] of obj.maps) {
    if (isDataMap(r.spec.source)) continue;
    const type = mapTypeShortName(r.spec.type);
    if (streamed.has(name)) {
      maps[name] = { type, note: 'records streamed' };
      continue;
    }
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

export const command: Command = {
  summary: 'load an object, attach its programs by section name, show its maps live until Ctrl-C',
  usage,
  async run(argv) {
    const args = parse(argv, {
      dev: { type: 'string' },
      'xdp-mode': { type: 'string' },
      cgroup: { type: 'string' },
      pid: { type: 'string' },
      'pin-dir': { type: 'string' },
      pin: { type: 'boolean' },
      seconds: { type: 'string' },
      interval: { type: 'string' },
      entries: { type: 'string' },
      record: { type: 'string', multiple: true },
    });
    const [file] = positionals(args.positionals, 1, 1, 'OBJ, the object to run') as [string];
    const seconds = args.positive('seconds');
    const interval = args.positive('interval') ?? 1;
    const limit = args.int('entries', 1) ?? 10;
    const json = args.json;
    const records = parseRecordOptions(args.list('record'));
    const attachOpts: AutoAttachOptions = {};
    const dev = args.string('dev');
    if (dev !== undefined) attachOpts.device = /^\d+$/.test(dev) ? Number(dev) : dev;
    const xdpMode = args.choice('xdp-mode', XDP_MODES);
    if (xdpMode !== undefined) attachOpts.xdpMode = xdpMode;
    const cgroup = args.path('cgroup');
    if (cgroup !== undefined) attachOpts.cgroup = cgroup;
    const pid = args.int('pid', 1, 0x7fffffff);
    if (pid !== undefined) attachOpts.pid = pid;
    let pinDir = args.path('pin-dir');
    const opts: LoadOptions = {};
    if (pinDir === undefined && args.flag('pin')) {
      pinDir = join(DEFAULT_PIN_ROOT, basename(file).split('.')[0] ?? 'object');
    }
    if (pinDir !== undefined) {
      // The loader checks the directory is on a bpffs before loading, and makes it and maps/.
      opts.pinDir = pinDir;
      opts.pinMaps = join(pinDir, 'maps');
    }
    const obj = loadObject(file, opts);
    const attached: Attached[] = [];
    const started = Date.now();
    let events: EventStreams | undefined;
    try {
      // Readers first: records sent from the moment programs attach are in them.
      events = startEventStreams(obj, records, json, (line) => process.stdout.write(line + '\n'));
      const streamed = new Set(events.streams.map((s) => s.map));
      for (const f of events.failed) process.stderr.write(`map '${f.map}': not streamed: ${f.reason}\n`);
      for (const p of obj.spec.programs)
        if (obj.programs.has(p.name)) attached.push(attach(obj, p, attachOpts));
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
        for (const st of events.streams)
          process.stdout.write(
            `map '${st.map}' (${st.kind}): streaming records as ${st.type ?? 'hex'}${st.type !== undefined ? ` (${st.how})` : ` (${st.how.replace(/^hex: /, '')})`}\n`,
          );
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
          if (!json) printSnapshot(snapshot(obj, limit, streamed), (Date.now() - started) / 1000);
        }, interval * 1000);
        const timer = seconds !== undefined ? setTimeout(stop, seconds * 1000) : undefined;
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      // The records sent until the programs detach, then the last summary.
      for (const a of attached) a.attachment?.close();
      events.close();
      const last = snapshot(obj, limit, streamed);
      if (json) {
        const out = {
          programs: attached.map((a) => ({
            name: a.program,
            attached: a.attachment !== undefined,
            how: a.how,
          })),
          maps: toJson(last.maps),
          globals: toJson(last.globals),
          streams: events.streams,
          pinDir: pinDir ?? null,
        };
        process.stdout.write(JSON.stringify(out) + '\n');
      } else printSnapshot(last, (Date.now() - started) / 1000);
    } finally {
      // Pinned links keep their programs attached; the rest detach as their descriptors close.
      for (const a of attached) a.attachment?.close();
      events?.close();
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
