// The kernel matrix: boots Debian's cloud kernels (5.10, 6.1, 6.12) in qemu with this machine's
// root shared read-only over virtiofs and a tmpfs overlay for writes, and runs the kernel-facing
// tests inside each with CI=true. Kernels are fetched with apt-get download + dpkg -x into a cache
// outside the repo (never installed on the host).
//
// The checkout must not change while a VM runs: overlayfs does not allow its lower layer (the
// shared root) to change underneath, and guests then fail to find files that are there.
//
// Usage: node --import tsx scripts/test-kernels.ts [--tests a.test.ts,b.test.ts] [--name REGEX]
//        [5.10 6.1 6.12] (--name: only the tests whose names match, node's --test-name-pattern)
// Environment: EBPF_KERNEL_CACHE (default /var/cache/ebpf-kernels), EBPF_VM_ACCEL (kvm|tcg,
// default: kvm when a probe boot works), EBPF_VM_TIMEOUT (seconds per VM, default 2400),
// EBPF_VM_FILE_TIMEOUT (seconds per test file inside, default 900), EBPF_VM_JOBS (VMs booted at
// once, default 1; with more, each console line is prefixed with its kernel).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  copyFileSync,
  chmodSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = process.env.EBPF_KERNEL_CACHE ?? '/var/cache/ebpf-kernels';
const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';
const TIMEOUT_S = Number(process.env.EBPF_VM_TIMEOUT ?? 2400);
/** Each test file's limit inside the VM (killed past it, counted as failed). */
const FILE_TIMEOUT_S = Number(process.env.EBPF_VM_FILE_TIMEOUT ?? 900);
/**
 * VMs run at once. A guest's tests are mostly one Node thread, so under TCG one VM keeps about one
 * host core busy: on a 2-core host two at a time nearly halve the matrix's time.
 */
const JOBS = Math.max(1, Math.floor(Number(process.env.EBPF_VM_JOBS ?? 1)) || 1);
/** The guest prints one per test file: `EBPF-VM-FILE test/x.test.ts exit=0 seconds=12`. */
const FILE_MARK = 'EBPF-VM-FILE';
const EXIT_MARK = 'EBPF-VM-EXIT=';
const PROBE_MARK = 'EBPF-VM-PROBE-OK';
/** guest.sh prints it with the guest's uptime once the mounts are up and the job starts. */
const READY_MARK = 'EBPF-VM-READY';
/** Console lines shown when a VM ends without an exit mark. */
const TAIL_LINES = 40;

/** qemu processes running now, killed if the runner itself is interrupted. */
const running = new Set<import('node:child_process').ChildProcess>();
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => {
    for (const p of running) p.kill('SIGKILL');
    process.exit(130);
  });

/** Default in-VM test set: the kernel-only tests and the oracles that compare with libbpf. */
const DEFAULT_TESTS = [
  'test/kernel/*.test.ts',
  'test/features.test.ts',
  // Arenas: this host refuses them (EPERM); 6.12 runs them, 5.10 and 6.1 name Linux 6.9.
  'test/arena.test.ts',
  'test/load-oracle.test.ts',
  'test/core-oracle.test.ts',
  // Hooks whose success paths need a VM kernel: multi-uprobe fallbacks (5.10, 6.1), struct_ops
  // through a trampoline, netkit (Debian's 6.12 has CONFIG_NETKIT); older kernels: the refusals.
  'test/link-uprobe-multi.test.ts',
  'test/struct-ops.test.ts',
  'test/link-net.test.ts',
  // Iterators newer than the kernel (cgroup, 6.1) are refused naming the version on 5.10.
  'test/link-iter.test.ts',
  // The fallbacks, each test saying which way it went: XDP links and tc by tcx (6.6) or clsact +
  // cls_bpf, tracepoints and probes by perf_event links (5.15) or PERF_EVENT_IOC_SET_BPF, cgroup
  // links and BPF_PROG_ATTACH; tp_btf and raw_tp; ring buffer and perf buffer readers.
  'test/link.test.ts',
  'test/link-probes.test.ts',
  'test/link-cgroup.test.ts',
  'test/events.test.ts',
  // A helper the kernel lacks (bpf_ktime_get_tai_ns before 6.1) is named in the verifier error.
  'test/helper-errors.test.ts',
];

interface KernelSeries {
  series: string;
  /** Debian suites the package comes from; null: the host's own apt configuration. */
  suites: string[] | null;
  /** Package names of this series match this. */
  pattern: RegExp;
  /** Extra kernel command line. */
  cmdline: string;
}

const SERIES: KernelSeries[] = [
  {
    series: '5.10',
    suites: ['bullseye', 'bullseye-security'],
    pattern: /^linux-image-5\.10\.0-\d+-cloud-amd64-unsigned$/,
    // lsm programs need bpf on the LSM list (5.10 does not put it there by default).
    cmdline: 'lsm=lockdown,capability,yama,apparmor,bpf',
  },
  { series: '6.1', suites: null, pattern: /^linux-image-6\.1\.0-\d+-cloud-amd64-unsigned$/, cmdline: '' },
  {
    series: '6.12',
    suites: null,
    pattern: /^linux-image-6\.12\.\d+\+deb12-cloud-amd64-unsigned$/,
    cmdline: '',
  },
];

// ---- fetching ---------------------------------------------------------------------------------

function run(cmd: string, args: string[], opts: { cwd?: string; timeout?: number } = {}): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: (opts.timeout ?? 600) * 1000,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
}

/** apt-get options for a private sources list and state directory (Debian 11 on a Debian 12 host). */
function aptOptions(k: KernelSeries): string[] {
  if (!k.suites) return [];
  const dir = join(CACHE, `apt-${k.series}`);
  const lists = join(dir, 'lists');
  mkdirSync(join(lists, 'partial'), { recursive: true });
  mkdirSync(join(dir, 'archives', 'partial'), { recursive: true });
  const sources = join(dir, 'sources.list');
  const keyring = '/usr/share/keyrings/debian-archive-keyring.gpg';
  const lines = k.suites.map((s) => {
    const url = s.endsWith('-security')
      ? 'http://deb.debian.org/debian-security'
      : 'http://deb.debian.org/debian';
    return `deb [signed-by=${keyring}] ${url} ${s} main\n`;
  });
  writeFileSync(sources, lines.join(''));
  return [
    '-o',
    `Dir::Etc::sourcelist=${sources}`,
    '-o',
    'Dir::Etc::sourceparts=-',
    '-o',
    `Dir::State=${dir}`,
    '-o',
    `Dir::State::Lists=${lists}`,
    '-o',
    `Dir::State::status=${join(dir, 'status')}`,
    '-o',
    `Dir::Cache=${dir}`,
    '-o',
    `Dir::Cache::archives=${join(dir, 'archives')}`,
    '-o',
    'APT::Get::List-Cleanup=0',
  ];
}

/** Newest first, by the numbers in the name. */
function byVersionDesc(a: string, b: string): number {
  const na = a.match(/\d+/g)!.map(Number);
  const nb = b.match(/\d+/g)!.map(Number);
  for (let i = 0; i < Math.max(na.length, nb.length); i++) {
    const d = (nb[i] ?? 0) - (na[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

interface Kernel {
  series: string;
  release: string;
  /** Extracted package root. */
  root: string;
  vmlinuz: string;
  cmdline: string;
}

function fetchKernel(k: KernelSeries): Kernel {
  const dir = join(CACHE, k.series);
  const done = join(dir, 'release');
  if (!existsSync(done)) {
    const opts = aptOptions(k);
    if (k.suites) {
      writeFileSync(join(CACHE, `apt-${k.series}`, 'status'), '', { flag: 'a' });
      console.error(`[${k.series}] apt-get update (private lists for ${k.suites.join(', ')})`);
      run('apt-get', [...opts, '-q', 'update'], { timeout: 900 });
    }
    const names = run('apt-cache', [
      ...opts,
      'search',
      '--names-only',
      k.pattern.source.replace(/\\d\+/g, '[0-9]+'),
    ])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => k.pattern.test(n))
      .sort(byVersionDesc);
    if (names.length === 0) throw new Error(`[${k.series}] no package matches ${k.pattern}`);
    const dl = join(CACHE, 'download');
    rmSync(dl, { recursive: true, force: true });
    mkdirSync(dl, { recursive: true });
    let deb: string | undefined;
    // The newest name in an index can be missing from the pool: try the next one.
    for (const name of names) {
      console.error(`[${k.series}] apt-get download ${name}`);
      const r = spawnSync('apt-get', [...opts, '-q', 'download', name], {
        cwd: dl,
        encoding: 'utf8',
        timeout: 900_000,
      });
      const got = readdirSync(dl).find((f) => f.endsWith('.deb'));
      if (r.status === 0 && got) {
        deb = join(dl, got);
        break;
      }
      console.error(
        `[${k.series}] ${name}: not downloadable (${(r.stderr || '').trim().split('\n').pop()}); trying the next`,
      );
    }
    if (!deb) throw new Error(`[${k.series}] none of ${names.join(', ')} could be downloaded`);
    rmSync(dir, { recursive: true, force: true });
    const root = join(dir, 'root');
    mkdirSync(root, { recursive: true });
    run('dpkg', ['-x', deb, root], { timeout: 600 });
    rmSync(dl, { recursive: true, force: true });
    const rel = readdirSync(join(root, 'lib', 'modules'))[0];
    if (!rel) throw new Error(`[${k.series}] ${deb}: no lib/modules`);
    // busybox modprobe reads plain .ko files: decompress, then build modules.dep.
    const mods = join(root, 'lib', 'modules', rel);
    for (const f of walk(mods)) if (f.endsWith('.ko.xz')) run('xz', ['-d', f]);
    run('busybox', ['depmod', '-b', root, rel]);
    writeFileSync(done, rel + '\n');
  }
  const rel = readFileSync(done, 'utf8').trim();
  const root = join(dir, 'root');
  return {
    series: k.series,
    release: rel,
    root,
    vmlinuz: join(root, 'boot', `vmlinuz-${rel}`),
    cmdline: k.cmdline,
  };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

// ---- initramfs --------------------------------------------------------------------------------

/**
 * Modules the initramfs loads (those built in are skipped): the shared root, and virtio-rng so
 * that getrandom(2), which Node calls at start, does not wait for entropy on kernels before 5.18.
 */
const BOOT_MODULES = ['virtio_pci', 'virtiofs', 'overlay', 'virtio_rng'];

function moduleDeps(kernel: Kernel): Map<string, string[]> {
  const base = join(kernel.root, 'lib', 'modules', kernel.release);
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(base, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (!mod) continue;
    deps.set(mod.trim(), (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  return deps;
}

function buildInitramfs(kernel: Kernel): string {
  const out = join(CACHE, kernel.series, 'initramfs.cpio');
  const init = join(ROOT, 'scripts', 'vm', 'init');
  if (existsSync(out) && statSync(out).mtimeMs > statSync(init).mtimeMs) return out;
  const base = join(kernel.root, 'lib', 'modules', kernel.release);
  const builtin = readFileSync(join(base, 'modules.builtin'), 'utf8');
  const deps = moduleDeps(kernel);
  const byName = new Map<string, string>();
  for (const m of deps.keys()) byName.set(m.replace(/^.*\//, '').replace(/\.ko$/, '').replace(/-/g, '_'), m);
  // Load order: dependencies first.
  const order: string[] = [];
  const visit = (m: string): void => {
    if (order.includes(m)) return;
    for (const d of deps.get(m) ?? []) visit(d);
    order.push(m);
  };
  for (const name of BOOT_MODULES) {
    const m = byName.get(name);
    if (m) visit(m);
    else if (
      !builtin
        .split('\n')
        .some((l) => l.replace(/^.*\//, '').replace(/\.ko$/, '').replace(/-/g, '_') === name)
    )
      throw new Error(`[${kernel.series}] module ${name} is neither a module nor built in`);
  }
  const tree = mkdtempSync(join(tmpdir(), 'ebpf-initramfs-'));
  try {
    for (const d of ['bin', 'dev', 'proc', 'sys', 'mnt/lower', 'mnt/rw', 'mnt/root', 'modules'])
      mkdirSync(join(tree, d), { recursive: true });
    copyFileSync('/bin/busybox', join(tree, 'bin', 'busybox'));
    chmodSync(join(tree, 'bin', 'busybox'), 0o755);
    symlinkSync('busybox', join(tree, 'bin', 'sh'));
    copyFileSync(init, join(tree, 'init'));
    chmodSync(join(tree, 'init'), 0o755);
    const list: string[] = [];
    order.forEach((m, i) => {
      const name = `${String(i).padStart(2, '0')}-${m.replace(/^.*\//, '')}`;
      copyFileSync(join(base, m), join(tree, 'modules', name));
      list.push(name);
    });
    writeFileSync(join(tree, 'modules', 'order'), list.join('\n') + '\n');
    // Directories before what is in them: the kernel's unpacker does not create parents.
    const dirs = ['bin', 'dev', 'proc', 'sys', 'mnt', 'mnt/lower', 'mnt/rw', 'mnt/root', 'modules'];
    const files = [...dirs, ...walk(tree).map((f) => relative(tree, f))];
    const cpio = spawnSync('busybox', ['cpio', '-o', '-H', 'newc'], {
      cwd: tree,
      input: files.join('\n') + '\n',
      maxBuffer: 64 << 20,
      timeout: 60_000,
    });
    if (cpio.status !== 0) throw new Error(`cpio: ${cpio.stderr.toString()}`);
    writeFileSync(out, cpio.stdout);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
  return out;
}

// ---- booting ----------------------------------------------------------------------------------

interface VmResult {
  status: number | null;
  output: string;
  /** Wall time from starting qemu to its exit. */
  seconds: number;
  /** Wall time until the job started (qemu start, firmware, kernel, initramfs, mounts); null if never. */
  bootSeconds: number | null;
  timedOut: boolean;
}

function kvmUsable(): boolean {
  try {
    statSync('/dev/kvm');
    return true;
  } catch {
    return false;
  }
}

/** Boots one VM that runs `job` (a script on the shared root) and powers off. */
async function boot(
  kernel: Kernel,
  accel: 'kvm' | 'tcg',
  job: string,
  timeoutS: number,
  /** Copy the console to stdout: as it comes (''), or each line after this prefix; null: not. */
  echo: string | null,
): Promise<VmResult> {
  const t0 = Date.now();
  const work = mkdtempSync(join(tmpdir(), `ebpf-vm-${kernel.series}-`));
  const sock = join(work, 'virtiofs.sock');
  const virtiofsd = spawn(
    VIRTIOFSD,
    [`--socket-path=${sock}`, '-o', 'source=/', '-o', 'sandbox=chroot', '-o', 'cache=auto', '-o', 'xattr'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let vfsErr = '';
  virtiofsd.stderr.on('data', (b: Buffer) => (vfsErr += b.toString()));
  try {
    for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(sock)) throw new Error(`virtiofsd did not start: ${vfsErr}`);
    const mem = '2G';
    // no_timer_check: under a loaded host's TCG the kernel's IO-APIC timer check can time out and
    // panic ("IO-APIC + timer doesn't work!"), as 5.10 did here.
    const append = [
      'console=ttyS0',
      'panic=-1',
      'quiet',
      'loglevel=4',
      'no_timer_check',
      `ebpfvm.job=${job}`,
      kernel.cmdline,
    ]
      .filter(Boolean)
      .join(' ');
    const args = [
      '-nodefaults',
      '-no-user-config',
      '-nographic',
      '-no-reboot',
      '-machine',
      accel === 'kvm' ? 'q35,accel=kvm' : 'q35,accel=tcg',
      '-cpu',
      accel === 'kvm' ? 'host' : 'max',
      '-smp',
      '2',
      '-m',
      mem,
      '-object',
      `memory-backend-memfd,id=mem,size=${mem},share=on`,
      '-numa',
      'node,memdev=mem',
      '-chardev',
      `socket,id=vfs,path=${sock}`,
      '-device',
      'vhost-user-fs-pci,queue-size=1024,chardev=vfs,tag=root',
      '-device',
      'virtio-rng-pci',
      '-serial',
      'stdio',
      '-kernel',
      kernel.vmlinuz,
      '-initrd',
      buildInitramfs(kernel),
      '-append',
      append,
    ];
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(qemu);
    let output = '';
    let timedOut = false;
    let bootSeconds: number | null = null;
    // Decoders keep a UTF-8 character split across two reads whole (the test reporter's marks).
    let partial = '';
    const onData = (d: StringDecoder) => (b: Buffer) => {
      const s = d
        .write(b)
        .replace(/\r/g, '')
        // The firmware's terminal escapes (clear screen, reset) only clutter a log.
        // eslint-disable-next-line no-control-regex
        .replace(/\x1b(\[[0-9;?]*[a-zA-Z]|c)/g, '');
      output += s;
      // (The mark can arrive split over two reads: look in what has come so far.)
      if (bootSeconds === null && output.includes(READY_MARK)) bootSeconds = (Date.now() - t0) / 1000;
      if (echo === '') process.stdout.write(s);
      else if (echo !== null) {
        const lines = (partial + s).split('\n');
        partial = lines.pop()!;
        for (const l of lines) process.stdout.write(`${echo}${l}\n`);
      }
    };
    qemu.stdout.on('data', onData(new StringDecoder('utf8')));
    qemu.stderr.on('data', onData(new StringDecoder('utf8')));
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill('SIGKILL');
    }, timeoutS * 1000);
    const spawnError = await new Promise<Error | undefined>((r) => {
      qemu.on('error', (e) => r(e));
      qemu.on('close', () => r(undefined));
    });
    clearTimeout(timer);
    running.delete(qemu);
    if (spawnError)
      throw new Error(`qemu-system-x86_64: ${spawnError.message} (apt-get install qemu-system-x86)`);
    const m = output.match(new RegExp(`${EXIT_MARK}(\\d+)`));
    return {
      status: m ? Number(m[1]) : null,
      output,
      seconds: (Date.now() - t0) / 1000,
      bootSeconds,
      timedOut,
    };
  } finally {
    virtiofsd.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}

async function chooseAccel(kernel: Kernel): Promise<'kvm' | 'tcg'> {
  const forced = process.env.EBPF_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (!kvmUsable()) return 'tcg';
  // /dev/kvm can exist and still not run a stock kernel (a nested hypervisor): boot once to see.
  const r = await boot(kernel, 'kvm', 'probe', 20, null);
  const ok = r.output.includes(PROBE_MARK);
  console.error(
    `KVM ${ok ? 'works' : 'does not run this kernel; using TCG'} (${r.seconds.toFixed(1)} s probe)`,
  );
  return ok ? 'kvm' : 'tcg';
}

function expandTests(patterns: string[]): string[] {
  const out: string[] = [];
  for (const p of patterns) {
    const m = p.match(/^(.*)\/\*(\.test\.ts)$/);
    if (m) {
      const dir = join(ROOT, m[1]!);
      if (existsSync(dir))
        out.push(
          ...readdirSync(dir)
            .filter((f) => f.endsWith(m[2]!))
            .sort()
            .map((f) => `${m[1]}/${f}`),
        );
    } else out.push(p);
  }
  return out;
}

/** Preloaded by each guest test file: names each test as it starts, and lets results print as they come. */
const PROGRESS = join(ROOT, 'scripts', 'vm', 'progress.mjs');

/** Where compileForVm puts the JavaScript the guests run: the checkout's layout under build/. */
const VM_JS = join(ROOT, 'build', 'vm-js');

/**
 * Compiles src/ and test/ to JavaScript with tsc (scripts/vm/tsconfig.json, incremental) into
 * build/vm-js, laid out as the checkout is, with links to what the tests read beside their code
 * (testdata, test/c, build for the addon and the C harnesses): each guest Node then loads plain
 * JavaScript. Under TCG, tsx's loader (even from a warm cache) doubled each test file's start.
 */
function compileForVm(): void {
  const t0 = Date.now();
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'scripts', 'vm', 'tsconfig.json')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (r.status !== 0) throw new Error(`tsc for the VMs failed:\n${r.stdout}${r.stderr}`);
  const links: [string, string][] = [
    ['testdata', join(ROOT, 'testdata')],
    ['build', join(ROOT, 'build')],
    ['node_modules', join(ROOT, 'node_modules')],
    ['package.json', join(ROOT, 'package.json')],
    [join('test', 'c'), join(ROOT, 'test', 'c')],
  ];
  for (const [name, target] of links) {
    const at = join(VM_JS, name);
    rmSync(at, { recursive: true, force: true });
    symlinkSync(target, at);
  }
  console.error(`tests compiled for the VMs in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

/** What a guest runs for a test file: its compiled form under build/vm-js (a .js file as it is). */
const compiled = (file: string): string =>
  file.endsWith('.ts') ? join(VM_JS, relative(ROOT, join(ROOT, file)).replace(/\.ts$/, '.js')) : file;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let tests = DEFAULT_TESTS;
  /** Only the tests whose names match (node --test-name-pattern), in every file. */
  let namePattern: string | undefined;
  const wanted: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--tests') tests = (args[++i] ?? '').split(',').filter(Boolean);
    else if (a === '--name') namePattern = args[++i];
    else wanted.push(a);
  }
  const series = wanted.length ? wanted : SERIES.map((s) => s.series);
  for (const s of series)
    if (!SERIES.some((k) => k.series === s))
      throw new Error(`unknown kernel '${s}' (known: ${SERIES.map((k) => k.series).join(', ')})`);
  if (!existsSync(join(ROOT, 'build', 'Release')))
    throw new Error('build/Release is missing: run npm ci first (the VM uses the built addon)');
  const files = expandTests(tests);
  if (files.length === 0) throw new Error(`no test files match ${tests.join(' ')}`);
  mkdirSync(CACHE, { recursive: true });
  compileForVm();
  const kernels = series.map((s) => fetchKernel(SERIES.find((k) => k.series === s)!));
  const accel = await chooseAccel(kernels[0]!);
  // One job per kernel: a script on the shared root the guest's PID 1 runs (bash), in the
  // checkout with CI=true.
  const jobDir = mkdtempSync(join(tmpdir(), 'ebpf-vm-job-'));
  const jobFor = (k: Kernel): string => {
    const job = join(jobDir, `job-${k.series}.sh`);
    const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
    writeFileSync(
      job,
      [
        `export EBPF_KERNEL_CACHE=${q(CACHE)} EBPF_KERNEL_SERIES=${q(k.series)}`,
        `. ${q(join(ROOT, 'scripts', 'vm', 'guest.sh'))}`,
        `cd ${q(ROOT)}`,
        // One file at a time in its own Node (the test runner's results stream as they come),
        // each under a time limit, each with its time (guest uptime) for the summary.
        'rc=0',
        ...files.flatMap((f) => [
          't0=$(cut -d" " -f1 /proc/uptime)',
          `CI=true timeout -s KILL ${FILE_TIMEOUT_S} node --import ${q(PROGRESS)} --test-reporter=spec${namePattern !== undefined ? ` --test-name-pattern=${q(namePattern)}` : ''} ${q(compiled(f))}; r=$?`,
          '[ "$r" = 0 ] || rc=1',
          `echo "${FILE_MARK} ${f} exit=$r seconds=$(awk -v a="$t0" -v b="$(cut -d" " -f1 /proc/uptime)" 'BEGIN { printf "%d", b - a }')"`,
        ]),
        'vm_exit $rc',
        '',
      ].join('\n'),
    );
    return job;
  };
  const results: { series: string; release: string; r: VmResult }[] = [];
  const runOne = async (k: Kernel): Promise<void> => {
    const tag = JOBS > 1 ? `[${k.series}] ` : '';
    console.log(`\n==== ${k.series}: ${k.release} (${accel}) — ${files.join(' ')}`);
    const r = await boot(k, accel, jobFor(k), TIMEOUT_S, tag);
    results.push({ series: k.series, release: k.release, r });
    console.log(
      `==== ${k.series}: ${r.timedOut ? `timed out after ${TIMEOUT_S} s` : `exit ${r.status ?? 'unknown (no exit mark)'}`} in ${r.seconds.toFixed(0)} s`,
    );
    if (r.status === null) {
      // Died without saying how (a panic, a hang until the timeout, init failing before the
      // job): the end of the console is where the reason is.
      const tail = r.output.trimEnd().split('\n').slice(-TAIL_LINES);
      console.log(`---- ${k.series}: no ${EXIT_MARK} mark; last ${tail.length} console lines:`);
      for (const l of tail) console.log(`  | ${l}`);
    }
  };
  try {
    // JOBS workers take the kernels in order.
    const queue = [...kernels];
    const worker = async (): Promise<void> => {
      for (let k = queue.shift(); k !== undefined; k = queue.shift()) await runOne(k);
    };
    await Promise.all(Array.from({ length: Math.min(JOBS, kernels.length) }, worker));
    results.sort((a, b) => series.indexOf(a.series) - series.indexOf(b.series));
  } finally {
    rmSync(jobDir, { recursive: true, force: true });
  }
  console.log(`\nkernel matrix (${accel}):`);
  for (const { series, release, r } of results) {
    const verdict =
      r.status === 0
        ? 'pass'
        : r.timedOut
          ? 'TIMEOUT'
          : r.status === null
            ? 'FAIL (no exit mark)'
            : `FAIL (exit ${r.status})`;
    const boot =
      r.bootSeconds === null
        ? 'never booted'
        : `boot ${r.bootSeconds.toFixed(0)} s + tests ${(r.seconds - r.bootSeconds).toFixed(0)} s`;
    console.log(
      `  ${series.padEnd(5)} ${release.padEnd(28)} ${verdict.padEnd(20)} ${r.seconds.toFixed(0)} s (${boot})`,
    );
    for (const m of r.output.matchAll(new RegExp(`^${FILE_MARK} (\\S+) exit=(\\d+) seconds=(\\d+)`, 'gm')))
      console.log(
        `        ${m[1]!.padEnd(34)} ${(m[2] === '0' ? 'pass' : `FAIL (exit ${m[2]})`).padEnd(20)} ${m[3]} s`,
      );
  }
  process.exitCode = results.every(({ r }) => r.status === 0) ? 0 : 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 2;
});
