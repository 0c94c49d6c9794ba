// `ebpf map` against `bpftool map` on the same pinned maps: dump (--json equals bpftool -j's
// `formatted`, text equals bpftool's text), get, update and delete checked through bpftool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { MapType } from '../src/constants.js';
import { btfLoad } from '../src/sys/bpf.js';
import { BpfMap } from '../src/map/map.js';
import { writeJson } from '../src/btf/format-value.js';
import { member, parseJsonTree } from './map-json.js';
import { cli, needRoot, needTool, run } from './helpers.js';
import { addCommAndProto, flowBtf, member as field } from './flow-btf.js';

/** The flow types (unused here) and a record with a char array, an enum and a signed 64-bit field. */
function btf(): { bytes: Uint8Array; u32: number; rec: number } {
  const { bytes, ids } = flowBtf((b, { u32 }) => {
    const s64 = b.add({ kind: 'INT', name: 'long long', size: 8, encoding: 1, bitsOffset: 0, bits: 64 });
    const { comm, proto } = addCommAndProto(b, u32, 8);
    const rec = b.add({
      kind: 'STRUCT',
      name: 'rec',
      size: 24,
      kindFlag: false,
      members: [field('comm', comm, 0), field('proto', proto, 64), field('delta', s64, 128)],
    });
    return { rec };
  });
  return { bytes, u32: ids.u32, rec: ids.rec };
}

/** bpftool -j map dump's `formatted` parts, as compact text keeping duplicate keys. */
function bpftoolFormatted(args: string[]): string {
  const tree = parseJsonTree(run('bpftool', ['-j', 'map', ...args]));
  // dump gives a list, lookup one entry.
  return Array.isArray(tree)
    ? writeJson(tree.map((e) => member(e, 'formatted')))
    : writeJson(member(tree, 'formatted'));
}

test('ebpf map dump/get/update/delete match bpftool on pinned maps', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const base = `/sys/fs/bpf/ebpf-test-cli-map-${process.pid}`;
  const { bytes, u32, rec } = btf();
  try {
    using btfFd = btfLoad(bytes).fd;
    using map = BpfMap.create({
      type: MapType.HASH,
      keySize: 4,
      valueSize: 24,
      maxEntries: 16,
      name: 'cli_recs',
      btfFd,
      btfKeyTypeId: u32,
      btfValueTypeId: rec,
    });
    map.update(1, { comm: 'curl', proto: 'TCP', delta: -5n });
    map.update(2, { comm: 'dns', proto: 17, delta: 1n << 40n });
    map.update(3, { comm: [1, 2, 3], proto: 99, delta: 0n }); // not a string; unknown enum value
    map.pin(`${base}-recs`);
    using pcpu = BpfMap.create({
      type: MapType.PERCPU_ARRAY,
      keySize: 4,
      valueSize: 24,
      maxEntries: 2,
      name: 'cli_pcpu',
      btfFd,
      btfKeyTypeId: u32,
      btfValueTypeId: rec,
    });
    pcpu.pin(`${base}-pcpu`);
    using raw = BpfMap.create({
      type: MapType.HASH,
      keySize: 4,
      valueSize: 8,
      maxEntries: 4,
      name: 'cli_raw',
    });
    raw.update(9, 77n);
    raw.pin(`${base}-raw`);

    // dump --json: exactly bpftool -j's formatted values, entry for entry.
    for (const path of [`${base}-recs`, `${base}-pcpu`]) {
      const ours = cli(['map', 'dump', 'pinned', path, '--json']);
      assert.equal(ours.status, 0, ours.stderr);
      assert.equal(writeJson(parseJsonTree(ours.stdout)), bpftoolFormatted(['dump', 'pinned', path]));
    }
    // By id, and the text form byte for byte.
    const text = cli(['map', 'dump', 'id', String(map.id)]);
    assert.equal(text.status, 0, text.stderr);
    assert.equal(text.stdout, run('bpftool', ['map', 'dump', 'id', String(map.id)]));
    // Without BTF: bpftool's hex lists.
    const rawDump = cli(['map', 'dump', 'pinned', `${base}-raw`, '--json']);
    assert.deepEqual(
      JSON.parse(rawDump.stdout),
      JSON.parse(run('bpftool', ['-j', 'map', 'dump', 'pinned', `${base}-raw`])),
    );

    // get, by bytes and by JSON key.
    const want = bpftoolFormatted(['lookup', 'pinned', `${base}-recs`, 'key', '1', '0', '0', '0']);
    for (const keyArgs of [
      ['key', '1', '0', '0', '0'],
      ['key', 'hex', '01000000'],
      ['--key-json', '1'],
    ]) {
      const got = cli(['map', 'get', 'pinned', `${base}-recs`, ...keyArgs, '--json']);
      assert.equal(got.status, 0, got.stderr);
      assert.equal(writeJson(parseJsonTree(got.stdout)), want);
    }

    // update through JSON; bpftool sees it.
    const upd = cli([
      'map',
      'update',
      'pinned',
      `${base}-recs`,
      '--key-json',
      '7',
      '--value-json',
      '{"comm":"ssh","proto":"UDP","delta":-1}',
    ]);
    assert.equal(upd.status, 0, upd.stderr);
    const seen = JSON.parse(
      run('bpftool', ['-j', 'map', 'lookup', 'pinned', `${base}-recs`, 'key', '7', '0', '0', '0']),
    ) as {
      formatted: unknown;
    };
    assert.deepEqual(seen.formatted, { key: 7, value: { comm: 'ssh', proto: 'UDP', delta: -1 } });
    // update by bytes with bpftool's noexist flag.
    const again = cli([
      'map',
      'update',
      'pinned',
      `${base}-raw`,
      'key',
      '9',
      '0',
      '0',
      '0',
      'value',
      'hex',
      '0100000000000000',
      'noexist',
    ]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /EEXIST/);
    // A value that does not fit names the field.
    const bad = cli([
      'map',
      'update',
      'pinned',
      `${base}-recs`,
      '--key-json',
      '8',
      '--value-json',
      '{"comm":"much too long","proto":"TCP","delta":0}',
    ]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /value\.comm: string of 13 bytes is too long for char\[8\]/);

    // delete, then the key is gone for both.
    assert.equal(cli(['map', 'delete', 'pinned', `${base}-recs`, 'key', '7', '0', '0', '0']).status, 0);
    const gone = cli(['map', 'get', 'pinned', `${base}-recs`, '--key-json', '7']);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /key not found/);
    assert.equal(map.lookup(7), undefined);

    // Usage errors exit 2.
    assert.equal(cli(['map', 'dump', 'nowhere']).status, 2);
    assert.equal(cli(['map', 'get', 'pinned', `${base}-raw`, 'key', '1', '2']).status, 2);
  } finally {
    for (const s of ['recs', 'pcpu', 'raw']) rmSync(`${base}-${s}`, { force: true });
  }
});
