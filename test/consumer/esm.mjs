// Plain-JavaScript ESM consumer of the installed package (run by scripts/consumer-test.sh in a
// fresh app, as root, inside a network namespace of its own so `lo` is private): the flow
// program on loopback with exact counts, and exec events through a ring buffer.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  EbpfError,
  NotFoundError,
  RingBuffer,
  attachTracepoint,
  attachXdp,
  haveFeature,
  loadObject,
  loadObjectSpec,
  mapTypeFeature,
  MapType,
} from 'ebpf';

const pkg = dirname(createRequire(import.meta.url).resolve('ebpf/package.json'));
const testdata = (name) => join(pkg, 'testdata', name);

// The flow program on lo (XDP generic): N datagrams of P bytes between two addresses of our own.
const N = 7;
const P = 100;
const pinRoot = mkdtempSync('/sys/fs/bpf/ebpf-consumer-esm-');
const flows = loadObject(testdata('flow-el.o'), { pinRoot });
try {
  const link = attachXdp(flows.program('count_flows'), 'lo', { mode: 'generic' });
  try {
    const sock = createSocket('udp4');
    await new Promise((done) => sock.bind(0, '127.9.8.1', done));
    for (let i = 0; i < N; i++) {
      await new Promise((done, fail) =>
        sock.send(Buffer.alloc(P), 9, '127.9.8.2', (e) => (e ? fail(e) : done())),
      );
    }
    sock.close();
    const key = {
      saddr: Buffer.from([127, 9, 8, 1]).readUInt32LE(),
      daddr: Buffer.from([127, 9, 8, 2]).readUInt32LE(),
    };
    const stats = flows.map('flow_map').lookup(key);
    // Each frame XDP sees on lo: 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + payload.
    assert.deepEqual(stats, { packets: BigInt(N), bytes: BigInt(N * (14 + 20 + 8 + P)) });
    console.log(`esm: flow 127.9.8.1 -> 127.9.8.2: ${stats.packets} packets, ${stats.bytes} bytes`);
  } finally {
    link.close();
  }
} finally {
  flows.close();
  rmSync(pinRoot, { recursive: true, force: true });
}

// Ring buffer events from a tracepoint: only the execs of our own children (.rodata filter).
assert.ok(haveFeature(mapTypeFeature(MapType.RINGBUF)), 'ring buffers (Linux 5.8)');
const spec = loadObjectSpec(testdata('exec_events-el.o'));
spec.rodata.only_ppid = process.pid;
const obj = loadObject(spec);
try {
  const link = attachTracepoint(obj.program('on_exec'), 'sched', 'sched_process_exec');
  const events = RingBuffer.open(obj.map('events')).decodeWith(obj.spec.btf, 'struct event');
  try {
    const pids = [];
    for (let i = 0; i < 3; i++) {
      const child = spawn('/bin/true', { stdio: 'ignore' });
      pids.push(child.pid);
      await new Promise((done) => child.on('exit', done));
    }
    const got = [];
    while (got.length < 3) {
      const batch = await events.poll(5000);
      assert.ok(batch.length > 0, `timed out with ${got.length} of 3 events`);
      got.push(...batch);
    }
    assert.deepEqual(
      got.map((e) => [e.pid, e.ppid, e.comm]),
      pids.map((pid) => [pid, process.pid, 'true']),
    );
    assert.equal(events.readAvailable().length, 0);
    console.log(`esm: ${got.length} exec events, pids ${pids.join(' ')}`);
  } finally {
    events.close();
    link.close();
  }
} finally {
  obj.close();
}

// Errors are typed and say where.
assert.throws(() => loadObjectSpec(testdata('no-such.o')), EbpfError);
assert.throws(() => obj.program('nope'), NotFoundError);
console.log('esm: ok');
