// `ebpf demo`: the talk's flow counter, live. Loads testdata/flow-el.o, attaches it by XDP to a veth
// pair in a network namespace made for the run, sends UDP across, and shows flow_map through BTF.
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EbpfError } from '../index.js';
import { attachXdp, type XdpMode } from '../exports/link.js';
import { loadObject } from '../exports/loader.js';
import { parse, positionals, UsageError, type Command } from './common.js';
import { deleteNamespace, makeVethNamespace, type VethNamespace } from './netns-veth.js';

const usage = `usage: ebpf demo [--seconds N] [--mode auto|generic|driver] [--object FILE] [-j]

Loads the talk's flow program (testdata/flow-el.o), attaches it by XDP to a veth pair in a private
network namespace made for the run (ebpf-demo-<pid>, addresses 10.201.0.x inside it only), sends
UDP across the pair and shows flow_map (source, destination, packets, bytes) decoded through the
object's BTF, refreshed in place on a terminal. Then detaches and removes the namespace, the link
and the pins, also on Ctrl-C. Needs root.

  --seconds   how long to run (default 5)
  --mode      XDP mode (default auto: driver where veth has it)
  --object    another object with an XDP program 'count_flows' and a map 'flow_map'
  -j, --json  at the end, one JSON object {progId, linkId, pinRoot, namespace, flows} instead of the table`;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT_OBJECT = join(ROOT, 'testdata', 'flow-el.o');
const NET = 201;

interface FlowKey {
  saddr: number;
  daddr: number;
}
interface FlowStats {
  packets: bigint;
  bytes: bigint;
}
export interface FlowRow {
  source: string;
  destination: string;
  packets: number;
  bytes: number;
}

/** An IPv4 address as the program stored it: the header's bytes, read as a host-order u32. */
function dotted(n: number): string {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  const hostLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!hostLE) b.reverse();
  return Array.from(b).join('.');
}

function formatTable(rows: FlowRow[]): string[] {
  const head = ['SOURCE', 'DESTINATION', 'PACKETS', 'BYTES'];
  const cells = rows.map((r) => [r.source, r.destination, String(r.packets), String(r.bytes)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string =>
    c.map((x, i) => (i < 2 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  return [line(head), ...cells.map(line)];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** UDP flows of different rates and sizes from the sender's addresses to the neighbours. */
function startTraffic(ns: { sourceAddrs: string[]; destAddrs: string[] }): () => void {
  const [s1, s2] = ns.sourceAddrs;
  const [d1, d2, d3] = ns.destAddrs;
  if (s1 === undefined || s2 === undefined || d1 === undefined || d2 === undefined || d3 === undefined) {
    throw new EbpfError('the demo namespace needs two source and three destination addresses');
  }
  const flows: { src: string; dst: string; everyMs: number; size: number }[] = [
    { src: s1, dst: d1, everyMs: 20, size: 64 },
    { src: s1, dst: d2, everyMs: 100, size: 512 },
    { src: s2, dst: d3, everyMs: 50, size: 1200 },
  ];
  const sockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  for (const f of flows) {
    const s = createSocket('udp4');
    s.on('error', () => undefined); // a send racing the shutdown is not worth a crash
    sockets.push(s);
    s.bind({ address: f.src, port: 0 }, () => {
      const payload = Buffer.alloc(f.size, 0x61);
      timers.push(setInterval(() => s.send(payload, 9, f.dst), f.everyMs));
    });
  }
  return () => {
    for (const t of timers) clearInterval(t);
    for (const s of sockets) s.close();
  };
}

/** Inside the namespace: load, attach, drive traffic, show the map, clean up. */
async function inside(
  ns: VethNamespace,
  opts: { seconds: number; mode: XdpMode; object: string; json: boolean },
): Promise<number> {
  // `ip netns exec` gives this process its own sysfs and no bpffs: a bpffs mounted here exists
  // only in this process's mount namespace, so even a SIGKILL leaves no pin behind.
  const m = spawnSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf'], { encoding: 'utf8' });
  if (m.status !== 0) throw new EbpfError(`cannot mount a private bpffs: ${m.stderr.trim()}`);
  // The loader makes the directory when it pins flow_map (by name) there.
  const pinRoot = `/sys/fs/bpf/ebpf-demo-${process.ppid}`;

  let stopping = false;
  const stop = (): void => {
    stopping = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const out = process.stdout;
  const tty = out.isTTY === true && !opts.json;
  const obj = loadObject(opts.object, { pinRoot });
  let stopTraffic: (() => void) | undefined;
  let link: ReturnType<typeof attachXdp> | undefined;
  try {
    const prog = obj.program('count_flows');
    const flows = obj.map<FlowKey, FlowStats>('flow_map');
    link = attachXdp(prog, ns.receiver, { mode: opts.mode });
    const li = link.info();
    const progId = prog.info().id;
    const header = [
      `loaded ${opts.object}: program count_flows (id ${progId}), map flow_map pinned at ${pinRoot}/flow_map`,
      `attached by XDP (${opts.mode} mode, link id ${li.id}) to ${ns.receiver} in network namespace ${ns.name}`,
      `sending UDP ${ns.sourceAddrs.join(', ')} -> ${ns.destAddrs.join(', ')} over ${ns.sender} for ${opts.seconds}s`,
    ];
    if (!opts.json) out.write(header.join('\n') + '\n\n');

    const snapshot = (): FlowRow[] =>
      [...flows.entries()]
        .map(([k, v]) => ({
          source: dotted(k.saddr),
          destination: dotted(k.daddr),
          packets: Number(v.packets),
          bytes: Number(v.bytes),
        }))
        .sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));

    stopTraffic = startTraffic(ns);
    const end = Date.now() + opts.seconds * 1000;
    let shown = 0;
    let lastPlain = 0;
    while (!stopping && Date.now() < end) {
      await sleep(tty ? 250 : 100);
      if (tty) {
        const lines = formatTable(snapshot());
        lines.push('', `${Math.max(0, (end - Date.now()) / 1000).toFixed(1)}s left (Ctrl-C to stop)`);
        out.write((shown > 0 ? `\x1b[${shown}A\x1b[J` : '') + lines.join('\n') + '\n');
        shown = lines.length;
      } else if (!opts.json && Date.now() - lastPlain >= 1000) {
        lastPlain = Date.now();
        out.write(`-- ${new Date().toISOString()}\n${formatTable(snapshot()).join('\n')}\n`);
      }
    }
    stopTraffic();
    stopTraffic = undefined;
    await sleep(100); // the last packets in flight
    const final = snapshot();
    if (opts.json)
      out.write(JSON.stringify({ progId, linkId: li.id, pinRoot, namespace: ns.name, flows: final }) + '\n');
    else {
      if (tty && shown > 0) out.write(`\x1b[${shown}A\x1b[J`);
      out.write(`-- final${stopping ? ' (interrupted)' : ''}\n${formatTable(final).join('\n')}\n`);
    }
  } finally {
    stopTraffic?.();
    link?.close();
    obj.unpin();
    obj.close();
    spawnSync('rmdir', [pinRoot]);
  }
  if (!opts.json) out.write(`detached; link, program, map and pins released\n`);
  return 0;
}

/** Outside: make the namespace, run this command again inside it, remove the namespace. */
async function outside(args: string[]): Promise<number> {
  if (process.getuid?.() !== 0)
    throw new EbpfError('the demo needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)');
  const name = `ebpf-demo-${process.pid}`;
  const ns = makeVethNamespace(name, NET, 'demo');
  let child: ReturnType<typeof spawn> | undefined;
  // Ctrl-C reaches the whole foreground group, the child too; a SIGTERM sent to us alone is passed
  // on. Either way the child cleans up and exits, and then the namespace goes.
  const forward = (sig: NodeJS.Signals): void => {
    if (child?.exitCode === null) child.kill(sig);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  try {
    const script = process.argv[1];
    if (script === undefined) throw new EbpfError('cannot tell how this command was started');
    child = spawn(
      'ip',
      [
        'netns',
        'exec',
        name,
        process.execPath,
        ...process.execArgv,
        script,
        'demo',
        '--inside',
        JSON.stringify(ns),
        ...args,
      ],
      { stdio: 'inherit' },
    );
    const c = child;
    const code = await new Promise<number>((resolve) => {
      c.on('exit', (status, signal) => resolve(status ?? (signal !== null ? 130 : 1)));
      c.on('error', () => resolve(1));
    });
    return code;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    deleteNamespace(name);
  }
}

function parseNs(s: string): VethNamespace {
  const v = JSON.parse(s) as VethNamespace;
  if (typeof v.name !== 'string' || typeof v.receiver !== 'string' || !Array.isArray(v.sourceAddrs)) {
    throw new EbpfError('bad --inside description');
  }
  return v;
}

export const command: Command = {
  summary: "the talk's flow counter, live on a veth pair in a private network namespace",
  usage,
  async run(args: string[]): Promise<number> {
    const a = parse(args, {
      seconds: { type: 'string' },
      mode: { type: 'string' },
      object: { type: 'string' },
      inside: { type: 'string' },
    });
    positionals(a.positionals, 0, 0, '');
    const seconds = a.positive('seconds') ?? 5;
    if (seconds > 3600) throw new UsageError(`--seconds wants at most 3600, not ${seconds}`);
    const mode: XdpMode = a.choice('mode', ['auto', 'generic', 'driver'] as const) ?? 'auto';
    const object = a.path('object') ?? DEFAULT_OBJECT;
    if (!existsSync(object)) throw new EbpfError(`no such object`, { file: object });
    const inner = a.string('inside');
    if (inner !== undefined) return inside(parseNs(inner), { seconds, mode, object, json: a.json });
    return outside(args);
  },
};
