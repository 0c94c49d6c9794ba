// `ebpf load` against libbpf: for every object libbpf loads (testdata manifest, xdp-tools), the
// same programs are loaded and `bpftool prog dump xlated` of each is the same, map ids mapped
// to map names. The kernel's own rewrite of the instructions is the oracle.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LIBBPF_PIN_BY_NAME, loadObjectSpec } from '../src/object/index.js';
import { cli, needRoot, needTool, run, TESTDATA, XDP_TOOLS_DIR, need } from './helpers.js';

const BPFFS = '/sys/fs/bpf';

interface ManifestEntry {
  name: string;
  loads: boolean;
}
const manifest = JSON.parse(readFileSync(join(TESTDATA, 'manifest.json'), 'utf8')) as {
  objects: ManifestEntry[];
};

const objects: { label: string; path: string }[] = [
  ...manifest.objects
    .filter((o) => o.loads)
    .map((o) => ({ label: o.name, path: join(TESTDATA, `${o.name}-el.o`) })),
  ...[
    'xdp-dispatcher',
    'xdpdump_xdp',
    ...['alw', 'dny'].flatMap((a) => ['all', 'eth', 'ip', 'tcp', 'udp'].map((k) => `xdpfilt_${a}_${k}`)),
    'xsk_def_xdp_prog',
  ].map((n) => ({ label: n, path: join(XDP_TOOLS_DIR, `${n}.o`) })),
];

/** Map id → name of every map in the system. */
function mapNames(): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of JSON.parse(run('bpftool', ['-j', 'map', 'show'])) as { id: number; name?: string }[]) {
    out.set(m.id, m.name ?? '');
  }
  return out;
}

/** `bpftool prog dump xlated` of each program pinned in `dir`, by file name, map ids replaced by names. */
function dumps(dir: string): Map<string, string> {
  const names = mapNames();
  const out = new Map<string, string>();
  for (const f of readdirSync(dir).sort()) {
    const text = run('bpftool', ['prog', 'dump', 'xlated', 'pinned', join(dir, f)]);
    out.set(
      f,
      text.replace(/map\[id:(\d+)\]/g, (_, id: string) => `map[${names.get(Number(id)) ?? `?${id}`}]`),
    );
  }
  return out;
}

/** Entries directly in /sys/fs/bpf, to remove the maps a load pinned by name. */
function bpffsRoot(): Set<string> {
  return new Set(readdirSync(BPFFS));
}

function cleanup(path: string, before: Set<string>, dirs: string[]): void {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  // Only what this object pins by name: other tests may be using bpffs at the same time.
  for (const e of pinnedByName(path)) if (!before.has(e)) rmSync(join(BPFFS, e), { force: true });
}

/** Names of the maps an object pins by name (LIBBPF_PIN_BY_NAME), which libbpf puts in /sys/fs/bpf. */
function pinnedByName(path: string): string[] {
  try {
    return loadObjectSpec(path)
      .maps.filter((m) => m.pinning === LIBBPF_PIN_BY_NAME)
      .map((m) => m.name);
  } catch {
    return []; // an object the object step refuses pins nothing
  }
}

const safe = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');

for (const o of objects) {
  test(`ebpf load ${o.label}: same programs and xlated instructions as libbpf`, (t) => {
    if (!needRoot(t) || !needTool(t, 'bpftool')) return;
    if (!need(t, existsSync(o.path), `${o.path} missing`)) return;
    const tag = `ebpf_test_${process.pid}_${safe(o.label)}`;
    const libbpfDir = join(BPFFS, `${tag}_libbpf`);
    const oursDir = join(BPFFS, `${tag}_ours`);
    const oursMaps = join(BPFFS, `${tag}_maps`);
    const before = bpffsRoot();
    try {
      run('bpftool', ['prog', 'loadall', o.path, libbpfDir]);
      const expected = dumps(libbpfDir);
      // Remove libbpf's maps pinned by name first, so ours are created rather than reused.
      cleanup(o.path, before, [libbpfDir]);
      const r = cli(['load', o.path, '--pin-dir', oursDir, '--pin-maps', oursMaps]);
      assert.equal(r.status, 0, r.stderr);
      const actual = dumps(oursDir);
      assert.deepEqual([...actual.keys()], [...expected.keys()], 'the same programs are loaded');
      assert.ok(expected.size > 0);
      for (const [name, text] of expected) assert.equal(actual.get(name), text, `prog '${name}'`);
    } finally {
      cleanup(o.path, before, [libbpfDir, oursDir, oursMaps]);
    }
  });
}
