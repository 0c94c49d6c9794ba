// The library checks the option values it is given as the command line does: a typo'd mode, an
// out-of-range number or an unknown program name is an OptionError naming the option, the value and
// what it takes, thrown before anything is attached or loaded. And every pin goes through the
// bpffs check: its directory made when missing, refused with a hint when not on a bpffs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EbpfError, OptionError } from '../src/errors.js';
import {
  attachCgroup,
  attachKprobe,
  attachTc,
  attachTcx,
  attachUprobe,
  attachXdp,
  autoAttachLoaded,
  Link,
} from '../src/link/index.js';
import { loadObject, type LoadOptions } from '../src/loader/index.js';
import { BpfMap, UpdateFlags } from '../src/exports/map.js';
import { PerfBuffer } from '../src/events/index.js';
import { asm, encode } from '../src/asm/index.js';
import { MapType, ProgType } from '../src/constants.js';
import { mapCreate, progLoad } from '../src/sys/bpf.js';
import { Program } from '../src/program/index.js';
import { TESTDATA, bpfDescriptors, needRoot } from './helpers.js';

const FLOW = join(TESTDATA, 'flow-el.o');

/** Asserts `f` throws an OptionError for `option` whose message names the value and what it takes. */
function throwsOption(f: () => unknown, option: string, message: RegExp): void {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof OptionError, `${String(e)} is not an OptionError`);
    assert.equal(e.option, option);
    assert.match(e.message, message);
    return true;
  });
}

test('loadObject: logLevel, logSize, pin paths, programs and flags are checked before anything loads', () => {
  const before = bpfDescriptors();
  const cases: [LoadOptions, string, RegExp][] = [
    [{ logLevel: 9 }, 'logLevel', /option logLevel: 9 is not an integer from 0 to 7/],
    [{ logLevel: 1.5 }, 'logLevel', /1\.5/],
    [{ logLevel: '2' as unknown as number }, 'logLevel', /'2' is not an integer/],
    [{ logSize: 64 }, 'logSize', /from 128 to/],
    [{ legacyMaps: 'yes' as unknown as boolean }, 'legacyMaps', /true or false/],
    [{ pinDir: '' }, 'pinDir', /a directory path/],
    [{ pinMaps: 7 as unknown as string }, 'pinMaps', /a directory path/],
    [{ programs: 'count_flows' as unknown as string[] }, 'programs', /an array of program names/],
    [{ programs: ['count_flow'] }, 'programs', /'count_flow' is not one of 'count_flows'/],
  ];
  for (const [opts, option, message] of cases) throwsOption(() => loadObject(FLOW, opts), option, message);
  assert.deepEqual(bpfDescriptors(), before, 'nothing was created');
});

test('attach options: modes, directions, numbers and flags are OptionErrors naming the allowed values', (t) => {
  if (!needRoot(t)) return;
  const before = bpfDescriptors();
  const obj = loadObject(FLOW);
  try {
    const xdp = obj.program('count_flows');
    throwsOption(
      () => attachXdp(xdp, 'lo', { mode: 'genric' as 'generic' }),
      'mode',
      /option mode: 'genric' is not one of 'auto', 'generic', 'driver', 'offload'/,
    );
    // Nothing was attached to lo by the refused call.
    const ip = spawnSync('ip', ['-j', 'link', 'show', 'lo'], { encoding: 'utf8' });
    assert.doesNotMatch(ip.stdout, /"xdp"/);
    // The checks come before the program's type is looked at: the same messages for any program.
    throwsOption(
      () => attachTc(xdp, 'lo', 'ingress', { mode: 'fast' as 'tcx' }),
      'mode',
      /'auto', 'tcx', 'legacy'/,
    );
    throwsOption(
      () => attachTc(xdp, 'lo', 'ingres' as 'ingress'),
      'direction',
      /'ingres' is not one of 'ingress', 'egress'/,
    );
    throwsOption(() => attachTcx(xdp, 'lo', 'ingress', { flags: 1 }), 'flags', /0x1 is not one/);
    throwsOption(
      () => attachTc(xdp, 'lo', 'ingress', { mode: 'legacy', priority: 0 }),
      'priority',
      /from 1 to 65535/,
    );
    throwsOption(
      () => attachCgroup(xdp, '/sys/fs/cgroup', 'egress', { mode: 'lnk' as 'link' }),
      'mode',
      /'auto', 'link', 'legacy'/,
    );
    throwsOption(
      () => attachCgroup(xdp, '/sys/fs/cgroup', 'egress', { flags: 0x100 }),
      'flags',
      /0x100 is not one/,
    );
    throwsOption(
      () => attachKprobe(xdp, 'do_sys_open', { offset: -1 }),
      'offset',
      /-1 is not a whole number/,
    );
    throwsOption(
      () => attachKprobe(xdp, 'do_sys_open', { cookie: 1 as unknown as bigint }),
      'cookie',
      /bigint/,
    );
    throwsOption(
      () => attachKprobe(xdp, 'do_sys_open', { retprobe: 1 as unknown as boolean }),
      'retprobe',
      /true or false/,
    );
    throwsOption(() => attachUprobe(xdp, process.execPath, { pid: -2 }), 'pid', /from -1/);
    throwsOption(
      () => autoAttachLoaded(obj, 'count_flows', { device: 'lo', xdpMode: 'drv' as 'driver' }),
      'mode',
      /'drv'/,
    );
  } finally {
    obj.close();
  }
  assert.deepEqual(bpfDescriptors(), before);
});

test('autoAttach attaches XDP to the device option, and says a device is needed without one', (t) => {
  if (!needRoot(t)) return;
  const obj = loadObject(FLOW);
  try {
    assert.throws(
      () => autoAttachLoaded(obj, 'count_flows'),
      /'xdp' attaches to a network device: give the device option/,
    );
    const a = autoAttachLoaded(obj, 'count_flows', { device: 'lo', xdpMode: 'generic' });
    try {
      const ip = spawnSync('ip', ['-j', 'link', 'show', 'lo'], { encoding: 'utf8' });
      assert.match(ip.stdout, /"xdp"/);
    } finally {
      a.close();
    }
  } finally {
    obj.close();
  }
});

test('map update flags, test-run options and perf buffer options are checked', (t) => {
  if (!needRoot(t)) return;
  const before = bpfDescriptors();
  {
    using map = BpfMap.fromFd(
      mapCreate({ map_type: MapType.HASH, key_size: 4, value_size: 4, max_entries: 4 }),
    );
    throwsOption(
      () => map.update(new Uint8Array(4), new Uint8Array(4), 3),
      'flags',
      /UpdateFlags\.ANY, NOEXIST or EXIST/,
    );
    throwsOption(() => map.update(new Uint8Array(4), new Uint8Array(4), -1), 'flags', /-1/);
    map.update(new Uint8Array(4), new Uint8Array(4), UpdateFlags.NOEXIST);
    assert.equal(map.lookupBytes(new Uint8Array(4))?.length, 4, 'a valid flag still updates');
    const insns = encode([asm.mov64Imm(0, 2), asm.exit()], true);
    using prog = Program.fromFd(progLoad({ prog_type: ProgType.XDP }, { insns, license: 'GPL' }).fd);
    const dataIn = new Uint8Array(64);
    throwsOption(
      () => prog.testRun({ dataIn, repeat: -1 }),
      'repeat',
      /-1 is not an integer from 0 to 4294967295/,
    );
    throwsOption(() => prog.testRun({ dataIn, flags: 8 }), 'flags', /0x8 is not one/);
    assert.equal(prog.testRun({ dataIn, repeat: 2 }).retval, 2);
    using events = BpfMap.fromFd(
      mapCreate({ map_type: MapType.PERF_EVENT_ARRAY, key_size: 4, value_size: 4, max_entries: 2 }),
    );
    throwsOption(() => PerfBuffer.open(events, { pagesPerCpu: 3 }), 'pagesPerCpu', /a power of two/);
    throwsOption(() => PerfBuffer.open(events, { wakeupEvents: 0 }), 'wakeupEvents', /from 1/);
    throwsOption(() => PerfBuffer.open(events, { cpus: [5] }), 'cpus', /0 to 1/);
  }
  assert.deepEqual(bpfDescriptors(), before);
});

test('pins: directories are made on a bpffs, refused with a hint elsewhere, and a failed pin leaves nothing', (t) => {
  if (!needRoot(t)) return;
  const root = `/sys/fs/bpf/ebpf-options-${process.pid}`;
  const tmp = mkdtempSync(join(tmpdir(), 'ebpf-options-'));
  const before = bpfDescriptors();
  try {
    {
      using map = BpfMap.fromFd(
        mapCreate({ map_type: MapType.ARRAY, key_size: 4, value_size: 4, max_entries: 1 }),
      );
      map.pin(`${root}/a/b/map`);
      assert.ok(existsSync(`${root}/a/b/map`), 'map pinned in directories made for it');
      // Outside any bpffs: an error naming the directory, saying how to mount one, nothing made.
      assert.throws(
        () => map.pin(join(tmp, 'x', 'map')),
        (e: unknown) => {
          assert.ok(e instanceof EbpfError);
          assert.match(e.message, /is not on a bpffs \(mount one as root: mount -t bpf bpf \/sys\/fs\/bpf\)/);
          return true;
        },
      );
      assert.equal(existsSync(join(tmp, 'x')), false);
      // A pin the kernel refuses ('.' in the name) takes back the directories it made.
      assert.throws(() => map.pin(`${root}/c/d/bad.name`), /bpffs refuses '\.' in names/);
      assert.equal(existsSync(`${root}/c`), false);
    }
    {
      const insns = encode([asm.mov64Imm(0, 2), asm.exit()], true);
      using prog = Program.fromFd(progLoad({ prog_type: ProgType.XDP }, { insns, license: 'GPL' }).fd);
      prog.pin(`${root}/p/prog`);
      using link = attachXdp(prog, 'lo', { mode: 'generic' });
      (link as Link).pin(`${root}/l/link`);
      assert.ok(existsSync(`${root}/p/prog`) && existsSync(`${root}/l/link`));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
  assert.deepEqual(bpfDescriptors(), before);
});
