// Program handle and `ebpf prog`: info against bpftool, test runs against what the program does.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import { asm, BPF_ADD, BPF_B, BPF_JGT, BPF_W, encode } from '../src/asm/index.js';
import { MapType, ProgType } from '../src/constants.js';
import { openListed } from '../src/cli/handles.js';
import { EbpfError, NotSupportedError } from '../src/errors.js';
import { haveFeature, SYSCALL_PROGRAMS } from '../src/features/index.js';
import { versionAtLeast } from '../src/features/feature.js';
import { Link } from '../src/link/link.js';
import { loadObject } from '../src/loader/index.js';
import { enableStats, Program, programIds } from '../src/program/program.js';
import { mapCreate, mapGetFdById, mapGetInfo, progLoad } from '../src/sys/bpf.js';
import { SyscallError } from '../src/sys/error.js';
import { Fd } from '../src/sys/fd.js';
import { cli, needRoot, needTool, run, TESTDATA } from './helpers.js';

const XDP_PASS = 2;
const XDP_DROP = 1;

/** An XDP program that sets the packet's first byte to 0xaa (when there is one) and returns `ret`. */
function loadMarker(name: string, ret: number): Program {
  const insns = encode(
    [
      asm.ldx(BPF_W, 2, 1, 0), // r2 = ctx->data
      asm.ldx(BPF_W, 3, 1, 4), // r3 = ctx->data_end
      asm.mov64Reg(4, 2),
      asm.alu64Imm(BPF_ADD, 4, 1),
      asm.jmpReg(BPF_JGT, 4, 3, 1),
      asm.st(BPF_B, 2, 0, 0xaa),
      asm.mov64Imm(0, ret),
      asm.exit(),
    ],
    true,
  );
  const { fd } = progLoad(
    { prog_type: ProgType.XDP, prog_name: new TextEncoder().encode(name) },
    { insns, license: 'GPL' },
  );
  return Program.fromFd(fd);
}

function bpftoolJson(args: string[]): Record<string, unknown> {
  return JSON.parse(run('bpftool', ['-j', ...args])) as Record<string, unknown>;
}

function setup(t: TestContext): boolean {
  return needRoot(t) && needTool(t, 'bpftool');
}

test('fromFd reads name and type from the kernel; info() agrees with bpftool prog show', (t) => {
  if (!setup(t)) return;
  using p = loadMarker('tst_marker', XDP_PASS);
  assert.equal(p.name, 'tst_marker');
  assert.equal(p.type, ProgType.XDP);
  const info = p.info({ xlated: true });
  const b = bpftoolJson(['prog', 'show', 'id', String(info.id)]);
  assert.equal(info.name, b.name);
  assert.equal(b.type, 'xdp');
  assert.equal(info.tag, b.tag);
  assert.equal(info.xlatedSize, b.bytes_xlated);
  assert.equal(info.jitedSize, b.bytes_jited);
  assert.equal(info.createdByUid, b.uid);
  assert.equal(info.gplCompatible, b.gpl_compatible);
  assert.ok(
    Math.abs(info.loadedAt.getTime() / 1000 - (b.loaded_at as number)) <= 1,
    'loaded_at within a second',
  );
  // The xlated instructions are the ones bpftool dumps: compare the raw opcodes.
  interface Op {
    code: string;
    src_reg: string;
    dst_reg: string;
    off: string[];
    imm: string[];
  }
  const dump = JSON.parse(
    run('bpftool', ['-j', 'prog', 'dump', 'xlated', 'id', String(info.id), 'opcodes']),
  ) as {
    opcodes: Op;
  }[];
  const h = (s: string): string => Number.parseInt(s, 16).toString(16).padStart(2, '0');
  const theirs = dump
    .map(({ opcodes: o }) => {
      const regs = (Number.parseInt(o.src_reg, 16) << 4) | Number.parseInt(o.dst_reg, 16);
      return h(o.code) + h(regs.toString(16)) + [...o.off, ...o.imm].map(h).join('');
    })
    .join('');
  const ours = Array.from(info.xlatedInsns ?? [], (x) => x.toString(16).padStart(2, '0')).join('');
  assert.equal(ours, theirs);
  assert.equal(info.xlatedInsns?.length, info.xlatedSize);
  assert.ok([...programIds()].includes(info.id));
});

test('testRun: return value, packet out, repeat and the ENOSPC retry', (t) => {
  if (!setup(t)) return;
  using pass = loadMarker('tst_pass', XDP_PASS);
  using drop = loadMarker('tst_drop', XDP_DROP);
  const pkt = new Uint8Array(64).map((_, i) => i);
  const r = pass.testRun({ dataIn: pkt, repeat: 100 });
  assert.equal(r.retval, XDP_PASS);
  assert.equal(r.dataOut?.length, 64);
  assert.equal(r.dataOut?.[0], 0xaa, 'the program wrote the first byte');
  assert.deepEqual(r.dataOut?.subarray(1), pkt.subarray(1));
  assert.equal(pkt[0], 0, 'input untouched');
  assert.equal(drop.testRun({ dataIn: pkt }).retval, XDP_DROP);
  // A fixed output buffer too small for the packet is the caller's choice: ENOSPC comes back.
  assert.throws(
    () => pass.testRun({ dataIn: pkt, dataSizeOut: 8 }),
    (e: unknown) => e instanceof SyscallError && e.code === 'ENOSPC' && e.location.program === 'tst_pass',
  );
  // Too short for an Ethernet header: the kernel refuses (EINVAL). 5.10 (the kernel matrix's)
  // has no such check for XDP and runs the program on the 4 bytes.
  let short: ReturnType<Program['testRun']> | undefined;
  try {
    short = pass.testRun({ dataIn: new Uint8Array(4) });
  } catch (e) {
    assert.ok(e instanceof SyscallError && e.code === 'EINVAL', String(e));
  }
  if (short !== undefined) {
    assert.ok(!versionAtLeast(release(), '6.0'), `${release()} ran XDP on a 4-byte packet`);
    assert.equal(short.retval, XDP_PASS);
    assert.deepEqual(short.dataOut, new Uint8Array([0xaa, 0, 0, 0]));
  }
});

test('a test run of many repetitions runs to its end while the process gets signals (SIGCHLD, SIGWINCH, SIGTERM)', async (t) => {
  if (!setup(t)) return;
  using pass = loadMarker('tst_signals', XDP_PASS);
  const pkt = new Uint8Array(64);
  // Enough repetitions for ~400 ms, from the kernel's own time per run.
  const perRun = pass.testRun({ dataIn: pkt, repeat: 100_000 }).duration;
  const repeat = Math.min(Math.max(Math.ceil(400e6 / Math.max(perRun, 1)), 100_000), 200_000_000);
  // Another thread signals the process while this one is in the kernel: once it has answered
  // (so it runs), 20 ms later and then every 20 ms, 10 times, noting when each signal went.
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.on('message', (sig) => {
       parentPort.postMessage('ready');
       const pause = new Int32Array(new SharedArrayBuffer(4));
       const at = [];
       for (let i = 0; i < 10; i++) {
         Atomics.wait(pause, 0, 0, 20);
         process.kill(process.pid, sig);
         at.push(performance.timeOrigin + performance.now());
       }
       parentPort.postMessage(at);
     });`,
    { eval: true },
  );
  const noop = (): void => {};
  const now = (): number => performance.timeOrigin + performance.now();
  try {
    for (const sig of ['SIGCHLD', 'SIGWINCH', 'SIGTERM'] as const) {
      // A handler of our own, so the signal is delivered rather than ignored (or fatal). The kernel
      // stops a test run between repetitions when the thread has a signal pending (EINTR, after
      // some ran): the addon runs one of many repetitions on a thread that blocks them all.
      process.on(sig, noop);
      try {
        const ready = new Promise((resolve) => worker.once('message', resolve));
        worker.postMessage(sig);
        await ready;
        const sent = new Promise<number[]>((resolve) => worker.once('message', resolve));
        const start = now();
        let outcome: string;
        try {
          const r = pass.testRun({ dataIn: pkt, repeat });
          outcome = `ran: ${r.retval}`;
        } catch (e) {
          outcome = e instanceof SyscallError ? e.code : String(e);
        }
        const end = now();
        const at = await sent;
        // Every signal sent reaches a thread well before the handler goes (without one, a late
        // SIGTERM would end the process).
        await new Promise((resolve) => setTimeout(resolve, 50));
        const during = at.filter((x) => x >= start && x <= end).length;
        assert.ok(during >= 1, `${sig}: none of the signals came during the run (${end - start} ms)`);
        assert.equal(outcome, `ran: ${XDP_PASS}`, `${sig}: ${during} signals during ${repeat} runs`);
      } finally {
        process.off(sig, noop);
      }
    }
  } finally {
    await worker.terminate();
  }
});

test('run statistics count test runs while enabled, as bpftool sees them', (t) => {
  if (!setup(t)) return;
  using p = loadMarker('tst_stats', XDP_PASS);
  {
    using _stats = enableStats();
    p.testRun({ dataIn: new Uint8Array(64), repeat: 7 });
    const info = p.info();
    assert.equal(info.runCount, 7n);
    assert.ok(info.runTimeNs > 0n);
    const b = bpftoolJson(['prog', 'show', 'id', String(info.id)]);
    assert.equal(b.run_cnt, 7);
  }
});

test('pin, fromPin, fromId, unpin and close', (t) => {
  if (!setup(t)) return;
  const path = `/sys/fs/bpf/ebpf-test-${process.pid}-prog`;
  const p = loadMarker('tst_pin', XDP_PASS);
  try {
    const id = p.info().id;
    p.pin(path);
    assert.equal(bpftoolJson(['prog', 'show', 'pinned', path]).id, id);
    {
      using q = Program.fromPin(path);
      assert.equal(q.info().id, id);
      assert.equal(q.name, 'tst_pin');
      assert.equal(q.pinnedAt, path);
    }
    {
      using r = Program.fromId(id);
      assert.equal(r.type, ProgType.XDP);
    }
    p.unpin();
    assert.equal(existsSync(path), false);
    p.unpin(); // nothing left to remove
    p.close();
    p.close();
    assert.equal(p.closed, true);
    assert.throws(() => p.info(), EbpfError);
  } finally {
    p.close();
    if (existsSync(path)) run('rm', ['-f', path]);
  }
  assert.throws(
    () => Program.fromPin(path),
    (e: unknown) => e instanceof SyscallError && e.code === 'ENOENT',
  );
});

test('ebpf prog show/list print what bpftool prints', (t) => {
  if (!setup(t)) return;
  using p = loadMarker('tst_cli', XDP_PASS);
  const id = String(p.info().id);
  const ours = cli(['prog', 'show', 'id', id]);
  assert.equal(ours.status, 0, ours.stderr);
  const theirs = run('bpftool', ['prog', 'show', 'id', id]);
  // loaded_at comes from two clocks read at different moments: it may differ by a second.
  const strip = (s: string): string => s.replace(/loaded_at \S+/, 'loaded_at X').trim();
  assert.equal(strip(ours.stdout), strip(theirs));
  const oj = JSON.parse(cli(['prog', 'show', 'id', id, '--json']).stdout) as Record<string, unknown>;
  const bj = bpftoolJson(['prog', 'show', 'id', id]);
  delete oj.loaded_at;
  delete bj.loaded_at;
  assert.deepEqual(oj, bj);
  const listed = JSON.parse(cli(['prog', 'list', '--json']).stdout) as { id: number }[];
  assert.ok(listed.some((x) => String(x.id) === id));
});

test('listings skip an object gone between listing and opening, and report every other failure', (t) => {
  if (!setup(t)) return;
  // An id with nothing behind it is what a program unloaded after BPF_PROG_GET_NEXT_ID looks like.
  assert.equal(
    openListed(() => Program.fromId(0x7ffffff0)),
    undefined,
  );
  assert.equal(
    openListed(() => Link.fromId(0x7ffffff0)),
    undefined,
  );
  using map = mapCreate({ map_type: MapType.ARRAY, key_size: 4, value_size: 4, max_entries: 1 });
  const mapId = mapGetInfo(map.fd).info.id;
  assert.throws(
    () => openListed(() => Program.fromFd(mapGetFdById(mapId))),
    (e: unknown) => e instanceof EbpfError && /is a map, not a program/.test(e.message),
  );
});

test('ebpf prog run: hex data in, return value and packet out', (t) => {
  if (!setup(t)) return;
  using p = loadMarker('tst_run', XDP_DROP);
  const id = String(p.info().id);
  const r = cli(['prog', 'run', 'id', id, '--data-in', '01'.repeat(20), '--repeat', '3', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { retval: number; data_out: string };
  assert.equal(o.retval, XDP_DROP);
  assert.equal(o.data_out, 'aa' + '01'.repeat(19));
  const bad = cli(['prog', 'run', 'id', id, '--data-in', 'zz']);
  assert.equal(bad.status, 2, 'a malformed value is a usage error');
  assert.match(bad.stderr, /neither a file nor hex/);
});

/** struct args of testdata/syscall.c: a, b, sum (u64), max_entries (u32), map_fd (s32). */
function syscallArgs(a: bigint, b: bigint, maxEntries: number): Uint8Array {
  const ctx = new Uint8Array(32);
  const v = new DataView(ctx.buffer);
  v.setBigUint64(0, a, true);
  v.setBigUint64(8, b, true);
  v.setUint32(24, maxEntries, true);
  v.setInt32(28, -1, true);
  return ctx;
}

test('a syscall program runs by test_run on its context: result and context back, and the map it made is ours', (t) => {
  if (!setup(t)) return;
  if (!haveFeature(SYSCALL_PROGRAMS)) {
    assert.throws(
      () => loadObject(join(TESTDATA, 'syscall-el.o')),
      (e: unknown) =>
        e instanceof NotSupportedError &&
        /prog 'make_map': BPF_PROG_TYPE_SYSCALL programs require Linux 5\.14 or later/.test(e.message),
    );
    return;
  }
  using obj = loadObject(join(TESTDATA, 'syscall-el.o'));
  const p = obj.program('make_map');
  assert.equal(p.type, ProgType.SYSCALL);
  const ctxIn = syscallArgs(40n, 2n, 7);
  const r = p.testRun({ ctxIn });
  assert.equal(r.retval, 0);
  assert.deepEqual(ctxIn, syscallArgs(40n, 2n, 7), 'the caller keeps its input');
  const out = new DataView(r.ctxOut!.buffer);
  assert.equal(r.ctxOut!.length, 32);
  assert.equal(out.getBigUint64(16, true), 42n);
  const mapFd = out.getInt32(28, true);
  assert.ok(mapFd > 2, `map fd ${mapFd}`);
  {
    // The descriptor bpf_sys_bpf returned is this process's, on the map it asked for.
    using fd = new Fd(mapFd);
    const { info } = mapGetInfo(fd.fd);
    const shown = bpftoolJson(['map', 'show', 'id', String(info.id)]);
    assert.equal(shown.type, 'array');
    assert.equal(shown.max_entries, 7);
    assert.equal(shown.bytes_value, 8);
  }
  // A map the kernel refuses: the program returns the error and puts it in the context.
  const bad = p.testRun({ ctxIn: syscallArgs(1n, 1n, 0) });
  assert.equal(bad.retval | 0, -22);
  assert.equal(new DataView(bad.ctxOut!.buffer).getInt32(28, true), -22);
  assert.equal((obj.bss as { runs: number }).runs, 2);
  // Options a syscall program cannot take are named before the kernel's bare EINVAL.
  assert.throws(
    () => p.testRun({ ctxIn, repeat: 5 }),
    /syscall program runs once on its context only: no repeat/,
  );
  assert.throws(() => p.testRun({ dataIn: new Uint8Array(14) }), /no dataIn/);
  // The CLI's prog run goes through the same path.
  const id = String(p.info().id);
  const c = cli([
    'prog',
    'run',
    'id',
    id,
    '--ctx-in',
    Buffer.from(syscallArgs(5n, 6n, 3)).toString('hex'),
    '-j',
  ]);
  assert.equal(c.status, 0, c.stderr);
  const o = JSON.parse(c.stdout) as { retval: number; ctx_out: string };
  assert.equal(o.retval, 0);
  assert.equal(Buffer.from(o.ctx_out, 'hex').readBigUInt64LE(16), 11n);
});
