// Soak (`npm run soak -- [--cycles N] [--window N] [--warmup N] [--json]`): cycles of load, attach,
// traffic or trigger, read, detach and close, rotating over five kinds of object, while checking
// that nothing accumulates: this process's descriptors (/proc/self/fd), the kernel objects it made
// (program, map, link and BTF ids, walked with BPF_*_GET_NEXT_ID), pins (and pin journals) under
// its pin directory, and its RSS, whose trend over the windows after warm-up must stay within a
// tolerance. Each cycle also checks what it read, exactly where the count is exact.
//
//   xdp         testdata/flow.c on the host end of a veth whose peer is in a namespace made here;
//               its map pinned by name; traffic: TCP SYNs to a closed port in the namespace, whose
//               RSTs cross the veth into the XDP program; read: the flow's packet count
//   tc          testdata/rehash.c at the same veth's ingress, by tcx and by a legacy tc filter in
//               turn; read: the program's run count (BPF_ENABLE_STATS)
//   tracepoint  testdata/exec_events.c on sched/sched_process_exec, filtered to this process's
//               children; trigger: two execs of `true`; read: exactly two ring buffer records
//   uprobe      testdata/uprobe.c's uretprobe on Node's own uv_os_getppid, for this process only;
//               trigger: process.ppid, five times; read: exactly five in the program's .bss
//   ringbuf     testdata/events.c's ring_output, run with BPF_PROG_TEST_RUN; read: exactly that
//               many records through an onData reader (the uv_poll path)
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { RingBuffer } from '../src/events/index.js';
import {
  Link,
  readBinary,
  symbolFileOffset,
  attachTc,
  attachTracepoint,
  attachUretprobe,
  attachXdp,
  type Attachment,
} from '../src/link/index.js';
import { loadObject, type LoadedObject, type LoaderFeatures, loaderFeatures } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { enableStats } from '../src/program/program.js';
import {
  btfGetInfo,
  btfGetNextId,
  linkGetNextId,
  mapGetInfo,
  mapGetNextId,
  progGetInfo,
  progGetNextId,
} from '../src/sys/bpf.js';
import { BPFFS_ROOT } from '../src/sys/bpffs.js';
import { runningKernelBtf } from '../src/sys/kernel-btf.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const TESTDATA = join(ROOT, 'testdata');

export const KINDS = ['xdp', 'tc', 'tracepoint', 'uprobe', 'ringbuf'] as const;
export type Kind = (typeof KINDS)[number];

export interface SoakOptions {
  cycles: number;
  /** Cycles between two measurements (default: cycles / 50, at least 10). */
  window?: number;
  /** Cycles before the RSS trend counts (default: a fifth of the cycles). */
  warmup?: number;
  /** RSS growth allowed over the measured part, in MiB (default 16). */
  rssToleranceMiB?: number;
  /** Called with a line of progress per window. */
  log?: (line: string) => void;
}

export interface SoakWindow {
  cycle: number;
  seconds: number;
  fds: number;
  rssMiB: number;
  heapMiB: number;
  /** Kernel objects this process made that still exist. */
  objectsLeft: number;
  pinsLeft: number;
}

export interface SoakReport {
  cycles: number;
  seconds: number;
  perKind: Record<Kind, number>;
  /** Milliseconds per cycle of each kind, on average. */
  msPerCycle: Record<Kind, number>;
  windows: SoakWindow[];
  fdsAtStart: number;
  /** Least-squares slope of RSS after warm-up, MiB per 1000 cycles. */
  rssSlopeMiBPer1000: number;
  /** RSS at the last window minus the first after warm-up, MiB. */
  rssGrowthMiB: number;
  /** Ids of every kind this process made (and closed) over the run. */
  objectsMade: { prog: number; map: number; link: number; btf: number };
  /** Everything that was wrong; empty when the soak passed. */
  problems: string[];
}

type IdKind = 'prog' | 'map' | 'link' | 'btf';
const NEXT_ID: Record<IdKind, (start: number) => number | undefined> = {
  prog: progGetNextId,
  map: mapGetNextId,
  link: linkGetNextId,
  btf: btfGetNextId,
};

function liveIds(kind: IdKind): Set<number> {
  const out = new Set<number>();
  for (let id = NEXT_ID[kind](0); id !== undefined; id = NEXT_ID[kind](id)) out.add(id);
  return out;
}

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim() || r.error?.message}`);
  return r.stdout;
}

/** A veth whose one end (`host`, 10.N.M.1) is here and whose peer (10.N.M.2) is in namespace `ns`. */
interface Veth {
  ns: string;
  host: string;
  peerAddr: string;
}

function makeVeth(): Veth {
  const id = process.pid;
  const ns = `ebpf_soak_${id}`;
  const host = `esk${id}a`.slice(0, 15);
  const peer = `esk${id}b`.slice(0, 15);
  const net = `10.${200 + ((id >> 8) % 50)}.${id & 255}`;
  sh('ip', ['netns', 'add', ns]);
  try {
    sh('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer, 'netns', ns]);
    sh('ip', ['addr', 'add', `${net}.1/24`, 'dev', host]);
    sh('ip', ['link', 'set', host, 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', `${net}.2/24`, 'dev', peer]);
    sh('ip', ['-n', ns, 'link', 'set', peer, 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    removeVeth({ ns, host, peerAddr: '' });
    throw e;
  }
  return { ns, host, peerAddr: `${net}.2` };
}

function removeVeth(v: Veth): void {
  spawnSync('ip', ['link', 'del', v.host], { stdio: 'ignore' });
  spawnSync('ip', ['netns', 'del', v.ns], { stdio: 'ignore' });
}

/** One TCP SYN to a closed port at `addr`: the namespace answers with a RST, which crosses the veth. */
function synRst(addr: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: addr, port: 9, timeout: 5000 });
    s.on('connect', () => {
      s.destroy();
      reject(new Error(`${addr}:9 accepted a connection`));
    });
    s.on('timeout', () => {
      s.destroy();
      reject(new Error(`${addr}:9: no answer in 5 s`));
    });
    s.on('error', (e: NodeJS.ErrnoException) =>
      e.code === 'ECONNREFUSED' ? resolve() : reject(new Error(`${addr}:9: ${e.message}`)),
    );
  });
}

function pinsUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  // Pin journals this process left at the mount root (src/loader/pin-set.ts).
  for (const e of readdirSync(BPFFS_ROOT)) if (e.startsWith(`ebpf_pending_${process.pid}_`)) out.push(e);
  return out;
}

function linkOf(a: Attachment): Link | undefined {
  return a instanceof Link ? a : (a as { link?: Link }).link;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs the soak; never throws for what it finds (see problems), only for a broken setup. */
export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const cycles = opts.cycles;
  const window = opts.window ?? Math.max(10, Math.floor(cycles / 50));
  const warmup = opts.warmup ?? Math.floor(cycles / 5);
  const tolerance = opts.rssToleranceMiB ?? 16;
  const log = opts.log ?? ((): void => {});
  // A collection before each measurement, so RSS and heap show what is kept rather than garbage.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const problems: string[] = [];
  const pinRoot = join(BPFFS_ROOT, `ebpf_soak_${process.pid}`);
  const perKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const msIn = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  const made: Record<IdKind, Set<number>> = {
    prog: new Set(),
    map: new Set(),
    link: new Set(),
    btf: new Set(),
  };
  const features: LoaderFeatures = loaderFeatures();
  const specs = {
    flow: loadObjectSpec(join(TESTDATA, 'flow-el.o')),
    rehash: loadObjectSpec(join(TESTDATA, 'rehash-el.o')),
    exec: loadObjectSpec(join(TESTDATA, 'exec_events-el.o')),
    uprobe: loadObjectSpec(join(TESTDATA, 'uprobe-el.o')),
    events: loadObjectSpec(join(TESTDATA, 'events-el.o')),
  };
  specs.exec.rodata.only_ppid = process.pid;
  // Looked up once: attaching by symbol reads and parses the whole Node binary (~100 MB) each time.
  const getppidOffset = symbolFileOffset(readBinary(process.execPath), 'uv_os_getppid');
  const kernelBtf = runningKernelBtf();

  const track = (obj: LoadedObject, links: Attachment[]): void => {
    for (const m of obj.maps.values()) made.map.add(mapGetInfo(m.fd.fd).info.id);
    for (const p of obj.programRecords.values()) made.prog.add(progGetInfo(p.fd.fd).info.id);
    if (obj.btfFd !== undefined) made.btf.add(btfGetInfo(obj.btfFd.fd).info.id);
    for (const a of links) {
      const l = linkOf(a);
      if (l !== undefined) made.link.add(l.info().id);
    }
  };
  /** Kernel objects this process made that are still there (freeing is asynchronous: waits up to 2 s). */
  const objectsLeft = async (): Promise<string[]> => {
    let left: string[] = [];
    for (let attempt = 0; attempt < 20; attempt++) {
      left = [];
      for (const k of ['link', 'prog', 'map', 'btf'] as const) {
        const live = liveIds(k);
        for (const id of made[k]) if (live.has(id)) left.push(`${k} ${id}`);
      }
      if (left.length === 0) return left;
      await sleep(100);
    }
    return left;
  };

  const veth = makeVeth();
  const stats = enableStats();
  const start = performance.now();
  const windows: SoakWindow[] = [];
  let fdsAtStart = 0;
  const measure = async (cycle: number): Promise<SoakWindow> => {
    gc();
    const mem = process.memoryUsage();
    const left = await objectsLeft();
    const pins = pinsUnder(pinRoot);
    const w: SoakWindow = {
      cycle,
      seconds: Math.round((performance.now() - start) / 100) / 10,
      fds: readdirSync('/proc/self/fd').length,
      rssMiB: Math.round((mem.rss / 2 ** 20) * 10) / 10,
      heapMiB: Math.round((mem.heapUsed / 2 ** 20) * 10) / 10,
      objectsLeft: left.length,
      pinsLeft: pins.length,
    };
    if (left.length > 0)
      problems.push(`after cycle ${cycle}: kernel objects left: ${left.slice(0, 10).join(', ')}`);
    if (pins.length > 0) problems.push(`after cycle ${cycle}: pins left: ${pins.slice(0, 10).join(', ')}`);
    // Never more than at the start, and the same in every window: Node itself may close some of
    // its own early (Node 24: 3 fewer by the first window), which is no leak; a leak grows.
    const first = windows[0]?.fds ?? w.fds;
    if (w.fds > fdsAtStart || w.fds !== first)
      problems.push(
        `after cycle ${cycle}: ${w.fds} descriptors open, ${fdsAtStart} at the start, ${first} after the first window`,
      );
    return w;
  };

  const cycleOf = {
    async xdp(i: number): Promise<void> {
      const obj = loadObject(specs.flow, { pinRoot, features });
      try {
        const link = attachXdp(obj.program('count_flows'), veth.host);
        try {
          track(obj, [link]);
          await synRst(veth.peerAddr);
          let packets = 0n;
          for (const [, v] of obj.map<unknown, { packets: bigint }>('flow_map').entries())
            packets += v.packets;
          if (packets < 1n) throw new Error(`xdp cycle ${i}: the RST was not counted`);
        } finally {
          link.close();
        }
      } finally {
        obj.unpin();
        obj.close();
      }
    },
    async tc(i: number): Promise<void> {
      const obj = loadObject(specs.rehash, { features });
      try {
        const prog = obj.program('rehash');
        const link = attachTc(prog, veth.host, 'ingress', { mode: i % 2 === 0 ? 'tcx' : 'legacy' });
        try {
          track(obj, [link]);
          await synRst(veth.peerAddr);
          if (prog.info().runCount < 1) throw new Error(`tc cycle ${i}: the program never ran`);
        } finally {
          link.close();
        }
      } finally {
        obj.close();
      }
    },
    async tracepoint(i: number): Promise<void> {
      const obj = loadObject(specs.exec, { features, kernelBtf });
      try {
        const link = attachTracepoint(obj.program('on_exec'), 'sched', 'sched_process_exec');
        try {
          track(obj, [link]);
          using ring = RingBuffer.open(obj.map('events'));
          for (let k = 0; k < 2; k++) sh('true', []);
          const got: Uint8Array[] = [];
          const deadline = performance.now() + 5000;
          while (got.length < 2 && performance.now() < deadline) got.push(...(await ring.poll(500)));
          got.push(...ring.readAvailable());
          if (got.length !== 2)
            throw new Error(`tracepoint cycle ${i}: ${got.length} exec records, 2 expected`);
          for (const g of got) {
            const ppid = new DataView(g.buffer, g.byteOffset).getUint32(4, true);
            if (ppid !== process.pid) throw new Error(`tracepoint cycle ${i}: a record for parent ${ppid}`);
          }
        } finally {
          link.close();
        }
      } finally {
        obj.close();
      }
    },
    async uprobe(i: number): Promise<void> {
      const obj = loadObject(specs.uprobe, { features, programs: ['count_getppid'] });
      try {
        const link = attachUretprobe(obj.program('count_getppid'), process.execPath, {
          offset: getppidOffset,
          pid: process.pid,
        });
        try {
          track(obj, [link]);
          let ppid = 0;
          for (let k = 0; k < 5; k++) ppid += process.ppid > 0 ? 1 : 0;
          const calls = obj.bss.getppid_calls;
          if (calls !== 5n || ppid !== 5)
            throw new Error(`uprobe cycle ${i}: ${String(calls)} calls counted, 5 made`);
        } finally {
          link.close();
        }
      } finally {
        obj.close();
      }
    },
    async ringbuf(i: number): Promise<void> {
      const obj = loadObject(specs.events, { features, programs: ['ring_output'] });
      try {
        track(obj, []);
        const ring = RingBuffer.open(obj.map('ring'));
        try {
          const n = 16;
          let got = 0;
          const all = new Promise<void>((resolve) => {
            ring.onData(() => {
              if (++got === n) resolve();
            });
          });
          const packet = new Uint8Array(64);
          new DataView(packet.buffer).setUint32(0, process.pid, true);
          obj.program('ring_output').testRun({ dataIn: packet, repeat: n });
          await Promise.race([all, sleep(5000)]);
          if (got !== n) throw new Error(`ringbuf cycle ${i}: ${got} records read, ${n} written`);
        } finally {
          ring.close();
        }
      } finally {
        obj.close();
      }
    },
  } satisfies Record<Kind, (i: number) => Promise<void>>;

  // Interrupted (Ctrl-C, SIGTERM): stop after the cycle under way, clean up and report.
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    gc();
    fdsAtStart = readdirSync('/proc/self/fd').length;
    for (let i = 1; i <= cycles && !stopped; i++) {
      const kind = KINDS[(i - 1) % KINDS.length]!;
      const t0 = performance.now();
      try {
        await cycleOf[kind](i);
        perKind[kind]++;
        msIn[kind] += performance.now() - t0;
      } catch (e) {
        problems.push(`cycle ${i} (${kind}): ${e instanceof Error ? e.message : String(e)}`);
        if (problems.length > 20) break;
      }
      if (i % window === 0 || i === cycles) {
        const w = await measure(i);
        windows.push(w);
        log(
          `cycle ${w.cycle}: ${w.seconds} s, ${w.fds} fds, rss ${w.rssMiB} MiB, heap ${w.heapMiB} MiB, ` +
            `${w.objectsLeft} objects and ${w.pinsLeft} pins left`,
        );
        if (problems.length > 20) break;
      }
    }
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    if (stopped) problems.push('interrupted');
    stats.close();
    removeVeth(veth);
    rmSync(pinRoot, { recursive: true, force: true });
  }
  const after = windows.filter((w) => w.cycle > warmup);
  let slope = 0;
  let growth = 0;
  if (after.length >= 2) {
    const n = after.length;
    const mx = after.reduce((s, w) => s + w.cycle, 0) / n;
    const my = after.reduce((s, w) => s + w.rssMiB, 0) / n;
    const sxy = after.reduce((s, w) => s + (w.cycle - mx) * (w.rssMiB - my), 0);
    const sxx = after.reduce((s, w) => s + (w.cycle - mx) ** 2, 0);
    slope = sxx === 0 ? 0 : (sxy / sxx) * 1000;
    growth = after[n - 1]!.rssMiB - after[0]!.rssMiB;
    // Both the trend (over the measured span) and the end-to-end growth stay within the tolerance.
    const span = ((after[n - 1]!.cycle - after[0]!.cycle) * slope) / 1000;
    if (span > tolerance || growth > tolerance)
      problems.push(
        `RSS grew after warm-up: ${growth.toFixed(1)} MiB (trend ${slope.toFixed(2)} MiB per 1000 cycles), tolerance ${tolerance} MiB`,
      );
  }
  return {
    cycles: Object.values(perKind).reduce((a, b) => a + b, 0),
    seconds: Math.round((performance.now() - start) / 100) / 10,
    perKind,
    msPerCycle: Object.fromEntries(
      KINDS.map((k) => [k, Math.round(msIn[k] / Math.max(1, perKind[k]))]),
    ) as Record<Kind, number>,
    windows,
    fdsAtStart,
    rssSlopeMiBPer1000: Math.round(slope * 100) / 100,
    rssGrowthMiB: Math.round(growth * 10) / 10,
    objectsMade: { prog: made.prog.size, map: made.map.size, link: made.link.size, btf: made.btf.size },
    problems,
  };
}

async function main(argv: string[]): Promise<number> {
  const num = (flag: string): number | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${flag} takes a positive integer`);
    return v;
  };
  const json = argv.includes('--json');
  const window = num('--window');
  const warmup = num('--warmup');
  const report = await runSoak({
    cycles: num('--cycles') ?? 10_000,
    ...(window !== undefined ? { window } : {}),
    ...(warmup !== undefined ? { warmup } : {}),
    log: (l: string) => (json ? console.error(l) : console.log(l)),
  });
  if (json) console.log(JSON.stringify(report));
  else {
    console.log(
      `${report.cycles} cycles in ${report.seconds} s (${JSON.stringify(report.perKind)}; ms per cycle ` +
        `${JSON.stringify(report.msPerCycle)}); descriptors ` +
        `${report.fdsAtStart} at the start, ${report.windows.at(-1)?.fds} at the end; RSS trend after warm-up ` +
        `${report.rssSlopeMiBPer1000} MiB per 1000 cycles, growth ${report.rssGrowthMiB} MiB; kernel objects made and ` +
        `freed: ${JSON.stringify(report.objectsMade)}`,
    );
    for (const p of report.problems) console.log(`PROBLEM: ${p}`);
  }
  return report.problems.length === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(2);
    },
  );
}
