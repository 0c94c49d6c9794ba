// `ebpf demo` end to end: the flows it shows match the traffic it sent (bytes per packet are the
// frame sizes), and afterwards no namespace, link, program or pin is left, also after Ctrl-C/SIGTERM.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { cli, needRoot, needTool, ROOT } from './helpers.js';

// Ethernet (14) + IPv4 (20) + UDP (8) around the demo's payloads of 64, 512 and 1200 bytes.
const FRAME: Record<string, number> = {
  '10.201.0.1 10.201.0.2': 106,
  '10.201.0.1 10.201.0.4': 554,
  '10.201.0.3 10.201.0.5': 1242,
};

interface Flow {
  source: string;
  destination: string;
  packets: number;
  bytes: number;
}

function finalTable(stdout: string): Flow[] {
  const at = stdout.lastIndexOf('-- final');
  assert.ok(at >= 0, `no final table in:\n${stdout}`);
  const lines = stdout.slice(at).split('\n').slice(2);
  const flows: Flow[] = [];
  for (const l of lines) {
    const m = /^(\d+\.\d+\.\d+\.\d+)\s+(\d+\.\d+\.\d+\.\d+)\s+(\d+)\s+(\d+)$/.exec(l.trim());
    if (m === null) break;
    flows.push({ source: m[1]!, destination: m[2]!, packets: Number(m[3]), bytes: Number(m[4]) });
  }
  return flows;
}

function checkFlows(flows: Flow[]): void {
  assert.deepEqual(flows.map((f) => `${f.source} ${f.destination}`).sort(), Object.keys(FRAME).sort());
  for (const f of flows) {
    assert.ok(f.packets > 0, `${f.source} -> ${f.destination} saw packets`);
    assert.equal(f.bytes, f.packets * FRAME[`${f.source} ${f.destination}`]!, 'bytes are whole frames');
  }
}

function ids(stdout: string): { progId: number; linkId: number; pinDir: string; namespace: string } {
  const p = /program count_flows \(id (\d+)\), map flow_map pinned at (\S+)\/flow_map/.exec(stdout);
  const l = /link id (\d+)\) to \S+ in network namespace (\S+)/.exec(stdout);
  assert.ok(p !== null && l !== null, `no ids in:\n${stdout}`);
  return { progId: Number(p[1]), pinDir: p[2]!, linkId: Number(l[1]), namespace: l[2]! };
}

/** Nothing of the run is left: namespace, link, program, pins. */
function checkNothingLeft({ progId, linkId, pinDir, namespace }: ReturnType<typeof ids>): void {
  // Only this run's namespace: another demo may be running at the same time.
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0]);
  assert.ok(namespace.startsWith('ebpf-demo-'));
  assert.ok(!ns.includes(namespace), `${namespace} still there`);
  const links = JSON.parse(spawnSync('bpftool', ['-j', 'link', 'list'], { encoding: 'utf8' }).stdout) as {
    id: number;
  }[];
  assert.ok(!links.some((l) => l.id === linkId), `link ${linkId} still there`);
  const prog = spawnSync('bpftool', ['prog', 'show', 'id', String(progId)], { encoding: 'utf8' });
  assert.notEqual(prog.status, 0, `program ${progId} still loaded`);
  assert.equal(existsSync(pinDir), false, `${pinDir} left in the host's bpffs`);
}

function tools(t: TestContext): boolean {
  return needRoot(t) && needTool(t, 'ip') && needTool(t, 'bpftool');
}

test('ebpf demo --seconds 2: flows with packets for the veth addresses, then nothing left', (t) => {
  if (!tools(t)) return;
  const r = cli(['demo', '--seconds', '2']);
  assert.equal(r.status, 0, r.stderr);
  checkFlows(finalTable(r.stdout));
  assert.match(r.stdout, /detached; link, program, map and pins released/);
  checkNothingLeft(ids(r.stdout));
});

test('ebpf demo --json: the final flows as JSON', (t) => {
  if (!tools(t)) return;
  const r = cli(['demo', '--seconds', '1', '--json', '--mode', 'generic']);
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as {
    progId: number;
    linkId: number;
    pinRoot: string;
    namespace: string;
    flows: Flow[];
  };
  checkFlows(o.flows);
  checkNothingLeft({ progId: o.progId, linkId: o.linkId, pinDir: o.pinRoot, namespace: o.namespace });
});

/** Starts the demo in its own process group, signals it once the table shows, waits for exit. */
async function interrupted(
  signal: NodeJS.Signals,
  wholeGroup: boolean,
): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'demo', '--seconds', '30'],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let signalled = false;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    stdout += d;
    if (!signalled && stdout.includes('-- ')) {
      signalled = true;
      process.kill(wholeGroup ? -child.pid! : child.pid!, signal);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { code, stdout };
}

test('Ctrl-C (SIGINT to the process group) stops the demo and cleans up', async (t) => {
  if (!tools(t)) return;
  const { code, stdout } = await interrupted('SIGINT', true);
  assert.equal(code, 0, stdout);
  assert.match(stdout, /-- final \(interrupted\)/);
  checkNothingLeft(ids(stdout));
});

test('SIGTERM to the demo alone is passed on, and it cleans up', async (t) => {
  if (!tools(t)) return;
  const { code, stdout } = await interrupted('SIGTERM', false);
  assert.equal(code, 0, stdout);
  assert.match(stdout, /-- final \(interrupted\)/);
  checkNothingLeft(ids(stdout));
});

test('on a terminal the table is redrawn in place with ANSI cursor movement', (t) => {
  if (!tools(t) || !needTool(t, 'script')) return;
  // script(1) runs the demo on a pseudo-terminal, so stdout.isTTY is true there.
  const cmd = `${process.execPath} --import tsx ${join(ROOT, 'src/cli/main.ts')} demo --seconds 1.5`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout.replace(/\r/g, '');
  const ESC = String.fromCharCode(27);
  assert.ok(
    out.split(ESC).some((part) => /^\[\d+A$/.test(part)),
    'cursor up to redraw',
  );
  assert.ok(out.includes(`${ESC}[J`), 'clear to the end of the screen');
  assert.match(out, /s left \(Ctrl-C to stop\)/);
  assert.doesNotMatch(out, /^-- \d{4}-/m, 'no plain snapshots on a terminal');
  checkFlows(finalTable(out));
  checkNothingLeft(ids(out));
});

test('ebpf demo refuses bad options', () => {
  const r = cli(['demo', '--seconds', 'abc']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--seconds/);
  const m = cli(['demo', '--mode', 'offload']);
  assert.equal(m.status, 2);
});
