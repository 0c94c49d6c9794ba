// A host without bpffs or tracefs mounted, as a fresh machine is: each case runs in a private
// mount namespace (unshare -m) where they are unmounted, so neighbours keep theirs. Pin
// directories are checked before any is made (Node's recursive mkdir loops forever on sysfs's
// empty /sys/fs/bpf), bpffs is mounted when the caller may, and otherwise one line says how.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, TESTDATA, cli, haveTool, need, needRoot } from './helpers.js';

const FLOW = join(TESTDATA, 'flow-el.o');
const PIN = `/sys/fs/bpf/ebpf-cli-host-${process.pid}`;
const EBPF = `'${process.execPath}' --import tsx '${join(ROOT, 'src/cli/main.ts')}'`;
/** Runs a command as nobody (no CAP_SYS_ADMIN, so no mount). */
const NOBODY = 'setpriv --reuid 65534 --regid 65534 --clear-groups';

/** Runs `script` in a private mount namespace with bpffs and tracefs unmounted first. */
function inBareNamespace(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    'unshare',
    ['-m', 'sh', '-c', `umount /sys/fs/bpf 2>/dev/null; umount /sys/kernel/tracing 2>/dev/null; ${script}`],
    { encoding: 'utf8', timeout: 60_000, cwd: ROOT },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function canUnshare(t: import('node:test').TestContext): boolean {
  return (
    needRoot(t) &&
    need(t, haveTool('unshare') && haveTool('setpriv'), 'needs unshare and setpriv (util-linux)')
  );
}

test('ebpf load --pin-dir under /sys/fs/bpf with no bpffs: root gets one mounted, as bpftool does', (t) => {
  if (!canUnshare(t)) return;
  const r = inBareNamespace(
    `${EBPF} load ${FLOW} --pin-dir ${PIN}/progs && mountpoint /sys/fs/bpf && ls ${PIN}/progs`,
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`prog 'count_flows' pinned at ${PIN}/progs/count_flows`));
  assert.match(r.stdout, /\/sys\/fs\/bpf is a mountpoint/);
  assert.match(r.stdout, /^count_flows$/m);
});

for (const cmd of [
  ['load', `load ${FLOW} --pin-dir ${PIN}`],
  ['run', `run ${FLOW} --pin-dir ${PIN} --seconds 1`],
] as const) {
  test(`ebpf ${cmd[0]} --pin-dir with no bpffs and no right to mount: one error line, exit 1, nothing made`, (t) => {
    if (!canUnshare(t)) return;
    const r = inBareNamespace(
      `${NOBODY} ${EBPF} ${cmd[1]}; echo "rc=$?"; mountpoint -q /sys/fs/bpf || echo unmounted`,
    );
    assert.notEqual(r.status, null, 'timed out: the pin directory was not checked before mkdir');
    assert.match(r.stdout, /rc=1\b/);
    assert.match(r.stdout, /unmounted/);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0]!,
      /^ebpf: .*pin directory: no bpffs is mounted at \/sys\/fs\/bpf \(mount one as root: mount -t bpf bpf \/sys\/fs\/bpf\)$/,
    );
  });
}

test('a pin directory outside any bpffs is refused before anything is made', (t) => {
  if (!canUnshare(t)) return;
  const dir = `/tmp/ebpf-cli-host-${process.pid}`;
  const r = inBareNamespace(
    `${EBPF} load ${FLOW} --pin-dir ${dir}/a/b; echo "rc=$?"; test -e ${dir} && echo made`,
  );
  assert.match(r.stdout, /rc=1\b/);
  assert.doesNotMatch(r.stdout, /made/);
  assert.match(r.stderr, /^ebpf: \/tmp\/ebpf-cli-host-\d+\/a\/b: pin directory: \/tmp is not on a bpffs/);
});

test('scripts/prepare-test-host.sh mounts bpffs and tracefs as root, and as nobody says in one line what to do', (t) => {
  if (!canUnshare(t)) return;
  const root = inBareNamespace(
    'bash scripts/prepare-test-host.sh; echo "rc=$?"; mountpoint /sys/fs/bpf; mountpoint /sys/kernel/tracing',
  );
  assert.match(root.stdout, /rc=0/);
  assert.match(root.stdout, /\/sys\/fs\/bpf is a mountpoint/);
  assert.match(root.stdout, /\/sys\/kernel\/tracing is a mountpoint/);
  const user = inBareNamespace(`${NOBODY} bash scripts/prepare-test-host.sh; echo "rc=$?"`);
  assert.match(user.stdout, /rc=0/);
  assert.equal(user.stderr.trim().split('\n').length, 1, user.stderr);
  assert.match(
    user.stderr,
    /mount -t bpf bpf \/sys\/fs\/bpf; mount -t tracefs tracefs \/sys\/kernel\/tracing/,
  );
});

test('ebpf prog pin and map pin make the directories on a bpffs and refuse a path outside one, making nothing', (t) => {
  if (!needRoot(t)) return;
  const base = `/sys/fs/bpf/ebpf-cli-host-pin-${process.pid}`;
  const tmp = `/tmp/ebpf-cli-host-pin-${process.pid}`;
  try {
    const load = cli(['load', FLOW, '--pin-dir', `${base}/progs`, '--pin-maps', `${base}/maps`]);
    assert.equal(load.status, 0, load.stderr);
    const prog = cli(['prog', 'pin', 'pinned', `${base}/progs/count_flows`, `${base}/a/b/prog`, '-j']);
    assert.equal(prog.status, 0, prog.stderr);
    assert.equal((JSON.parse(prog.stdout) as { pinnedAt: string }).pinnedAt, `${base}/a/b/prog`);
    assert.ok(existsSync(`${base}/a/b/prog`));
    const map = cli(['map', 'pin', 'pinned', `${base}/maps/flow_map`, `${base}/c/map`]);
    assert.equal(map.status, 0, map.stderr);
    assert.match(map.stdout, /^map \d+ pinned at /);
    assert.ok(existsSync(`${base}/c/map`));
    for (const args of [
      ['prog', 'pin', 'pinned', `${base}/progs/count_flows`, `${tmp}/x/prog`],
      ['map', 'pin', 'pinned', `${base}/maps/flow_map`, `${tmp}/x/map`],
    ]) {
      const r = cli(args);
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        /^ebpf: .*: pin directory: \/tmp is not on a bpffs \(mount one as root: mount -t bpf bpf \/sys\/fs\/bpf\)\n$/,
      );
      assert.equal(existsSync(tmp), false, 'nothing made');
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});
