// Shared test helpers: paths, oracle tools, and gating of tests that need root or a kernel feature.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { programIds } from '../src/program/index.js';
import { btfGetNextId, linkGetNextId, mapGetNextId } from '../src/sys/bpf.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TESTDATA = join(ROOT, 'testdata');
export const XDP_TOOLS_DIR = '/usr/lib/x86_64-linux-gnu/bpf';
export const VMLINUX = '/sys/kernel/btf/vmlinux';
export const IN_CI = process.env.CI === 'true';

/**
 * Skip a test for a reason a user can act on; under CI=true the same condition fails the test,
 * so nothing that must run in CI is ever counted as passing by being skipped.
 */
export function need(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  requiredInCi(reason);
  t.skip(reason);
  return false;
}

/**
 * need() for a part of a test: without it the rest still runs and says what it left out (in the
 * test's diagnostics, or as a process warning when called without a test context).
 */
export function needPart(t: TestContext | undefined, ok: boolean, reason: string): boolean {
  if (ok) return true;
  requiredInCi(reason);
  if (t !== undefined) t.diagnostic(`left out: ${reason}`);
  else process.emitWarning(`left out: ${reason}`);
  return false;
}

/**
 * The kernel series (`5.10`, `6.1`, `6.12`) when running inside the kernel matrix's VMs
 * (scripts/test-kernels.ts sets it), undefined elsewhere.
 */
export const KERNEL_SERIES = process.env.EBPF_KERNEL_SERIES;

/**
 * Skips a test of the CLI itself in the kernel matrix: there each CLI start is a fresh Node under
 * emulation (a minute on a loaded host), and the API tests beside it cover the kernel's paths. The
 * host's run (npm test) runs it.
 */
export function skipCliInMatrix(t: TestContext): boolean {
  if (KERNEL_SERIES === undefined) return false;
  t.skip(`a test of the CLI: run on the host, not in the kernel matrix (${KERNEL_SERIES})`);
  return true;
}

/**
 * need() for a kernel feature that a host may lack for good (kprobes compiled out, BPF
 * trampolines refused): skipped with the reason on such a host, even under CI=true, which
 * requires it only in the kernel matrix (KERNEL_SERIES set), whose stock kernels all have it.
 */
export function needKernel(t: TestContext, ok: boolean, reason: string): boolean {
  if (ok) return true;
  if (IN_CI && KERNEL_SERIES !== undefined)
    throw new Error(`required in the kernel matrix (${KERNEL_SERIES}) but unavailable: ${reason}`);
  t.skip(reason);
  return false;
}

function requiredInCi(reason: string): void {
  if (IN_CI) throw new Error(`required under CI=true but unavailable: ${reason}`);
}

export function haveTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
export function needTool(t: TestContext, name: string): boolean {
  return need(t, haveTool(name), `${name} not installed`);
}
export function isRoot(): boolean {
  return process.getuid?.() === 0;
}
export function needRoot(t: TestContext): boolean {
  return need(t, isRoot(), 'needs root (CAP_BPF and CAP_SYS_ADMIN)');
}
export function needFile(t: TestContext, path: string): boolean {
  return need(t, existsSync(path), `${path} missing`);
}

/** The `.o` files in a folder, sorted paths; none when the folder is absent (xdp-tools not installed). */
export function objectsIn(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.o'))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * xdp-tools' installed objects. Without them a user's test goes on and says so (needPart); under
 * CI=true it fails, since they are part of what the format tests compare.
 */
export function xdpToolsObjects(t?: TestContext): string[] {
  const files = objectsIn(XDP_TOOLS_DIR);
  needPart(t, files.length > 0, `no xdp-tools objects in ${XDP_TOOLS_DIR} (xdp-tools not installed)`);
  return files;
}

/** Every object the format tests read: testdata's and xdp-tools' (see xdpToolsObjects). */
export function allObjects(t?: TestContext): string[] {
  return [...objectsIn(TESTDATA), ...xdpToolsObjects(t)].sort();
}

/**
 * Equal, or fail showing the first differing lines (with a little context) rather than two
 * multi-megabyte strings. `want` comes from the oracle (`oracle` names it), `got` from us.
 */
export function assertSameText(got: string, want: string, what: string, oracle = 'bpftool'): void {
  if (got === want) return;
  const g = got.split('\n');
  const w = want.split('\n');
  let i = 0;
  while (i < g.length && i < w.length && g[i] === w[i]) i++;
  const ctx = (lines: string[]): string => lines.slice(Math.max(0, i - 3), i + 6).join('\n');
  assert.fail(
    `${what}: first difference at line ${i + 1}\n--- ${oracle}\n${ctx(w)}\n--- ours\n${ctx(g)}\n` +
      `(${w.length} lines from ${oracle}, ${g.length} from us)`,
  );
}

/** Run a command, returning stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    input: opts.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Whether these tests run compiled to JavaScript (the kernel matrix runs them from build/vm-js). */
const COMPILED = !existsSync(join(ROOT, 'src', 'cli', 'main.ts'));

/** A source module (`src/loader/index`) as this run has it: the .ts file, or its compiled .js. */
export const srcModule = (path: string): string => join(ROOT, `${path}${COMPILED ? '.js' : '.ts'}`);

/**
 * Node's arguments before a script that imports srcModule()s: tsx for the TypeScript sources,
 * nothing compiled (tsx's start alone took tens of seconds in the kernel matrix's emulated VMs).
 */
export const NODE_TS: readonly string[] = COMPILED ? [] : ['--import', 'tsx'];

/** The CLI from source with tsx, or compiled. */
const CLI = [...NODE_TS, srcModule('src/cli/main')];

/** Run the ebpf CLI from source; returns { status, stdout, stderr }. */
export function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...CLI, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The descriptors of BPF objects (maps, programs, links, BTF) and perf events open in this
 * process, as "fd target", sorted. Leak checks compare these: Node's own descriptors (pipes,
 * sockets, the module loader thread's) open and close on their own schedule, and counting them
 * made leak checks fail when one of those closed between the two snapshots.
 */
export function bpfDescriptors(): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed since the listing (the listing's own descriptor among them)
    }
    if (/^anon_inode:(bpf|btf|\[perf_event\])/.test(target)) out.push(`${fd} ${target}`);
  }
  return out.sort();
}

/** The descriptor of a Node TCP server or socket (its libuv handle's fd), to put in a sockmap. */
export function socketFd(h: object): number {
  const fd = (h as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no descriptor (not open?)');
  return fd;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * main(argv) for each command line, in one child process that captures stdout and stderr (this
 * process's stdout belongs to the test runner): as fast as in process, and nothing shared.
 */
export function captureAll(argvs: string[][]): CliResult[] {
  const script = `
    import { main } from ${JSON.stringify(join(ROOT, 'src/cli/main.ts'))};
    const results = [];
    const write = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
    for (const argv of JSON.parse(process.env.ARGVS)) {
      const out = [], err = [];
      process.stdout.write = (s) => out.push(String(s)) > 0;
      process.stderr.write = (s) => err.push(String(s)) > 0;
      let code;
      try { code = await main(argv); } catch (e) { code = -1; err.push(String(e?.stack ?? e)); }
      process.stdout.write = write.out;
      process.stderr.write = write.err;
      results.push({ code, stdout: out.join(''), stderr: err.join('') });
    }
    write.out(JSON.stringify(results));
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ARGVS: JSON.stringify(argvs) },
    maxBuffer: 1 << 28,
    timeout: 300_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as CliResult[];
}

function* ids(next: (id: number) => number | undefined): Generator<number> {
  for (let id = next(0); id !== undefined; id = next(id)) yield id;
}

/** Every kernel object id now, by kind. */
export function kernelIds(): Map<string, Set<number>> {
  return new Map([
    ['prog', new Set(programIds())],
    ['map', new Set(ids(mapGetNextId))],
    ['link', new Set(ids(linkGetNextId))],
    ['btf', new Set(ids(btfGetNextId))],
  ]);
}

/** The ids (`prog 12`) of kernel objects another process holds a descriptor of (its fdinfo says). */
export function heldElsewhere(): Set<string> {
  const held = new Set<string>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (!readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('anon_inode:')) continue;
        const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        for (const m of info.matchAll(/^(prog|map|link|btf)_id:\s*(\d+)/gm)) held.add(`${m[1]} ${m[2]}`);
      } catch {
        // gone since the listing
      }
    }
  }
  return held;
}

/**
 * The kernel objects made since `before` that are still there and that no other process holds
 * (other tests run beside this one): what this process (or a child that ended) left behind. Tried
 * for a few seconds, as RCU frees objects shortly after their last descriptor goes.
 */
export async function kernelObjectsLeft(before: Map<string, Set<number>>): Promise<string[]> {
  let left: string[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    const now = kernelIds();
    const held = heldElsewhere();
    left = [...now].flatMap(([kind, set]) =>
      [...set]
        .filter((id) => !before.get(kind)!.has(id) && !held.has(`${kind} ${id}`))
        .map((id) => `${kind} ${id}`),
    );
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 150));
  }
  return left;
}
