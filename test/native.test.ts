// The native addon on its own: errno returns, mmap/munmap detaching, uv_poll readiness,
// perf_event_open + ioctl, rlimits, checked against /proc and the kernel.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BPF_F_MMAPABLE, MapType } from '../src/constants.js';
import { BpfCmd, MAP_CREATE_ATTR, MAP_ELEM_ATTR } from '../src/sys/bpf-attr.generated.js';
import { E } from '../src/sys/errno.js';
import { SLAB_BYTES } from '../src/sys/mmap.js';
import { native } from '../src/sys/native.js';
import { needRoot, bpfDescriptors } from './helpers.js';

function openFds(): string[] {
  return bpfDescriptors();
}

/** An ARRAY map straight through the addon, to test the addon without src/sys/bpf.ts. */
function createArray(flags = 0, entries = 4): number {
  const attr = new Uint8Array(MAP_CREATE_ATTR.size);
  const v = new DataView(attr.buffer);
  const f = MAP_CREATE_ATTR.fields;
  v.setUint32(f.map_type.offset, MapType.ARRAY, true);
  v.setUint32(f.key_size.offset, 4, true);
  v.setUint32(f.value_size.offset, 8, true);
  v.setUint32(f.max_entries.offset, entries, true);
  v.setUint32(f.map_flags.offset, flags, true);
  const fd = native().bpf(BpfCmd.MAP_CREATE, attr);
  assert.ok(fd >= 0, `BPF_MAP_CREATE returned ${fd}`);
  return fd;
}

test('bpf returns -errno instead of throwing', (t) => {
  if (!needRoot(t)) return;
  const attr = new Uint8Array(MAP_CREATE_ATTR.size);
  new DataView(attr.buffer).setUint32(0, 0xffff, true); // no such map type
  assert.equal(native().bpf(BpfCmd.MAP_CREATE, attr), -E.EINVAL);
  assert.equal(native().bpf(0x7fff, attr), -E.EINVAL); // no such command
  assert.equal(native().close(-1), -E.EBADF);
  assert.throws(() => native().bpf(BpfCmd.MAP_CREATE, 'nope' as unknown as Uint8Array), TypeError);
});

test('bpf pointer pairs: lookup and update through one call each', (t) => {
  if (!needRoot(t)) return;
  const before = openFds();
  const fd = createArray();
  const attr = new Uint8Array(MAP_ELEM_ATTR.size);
  new DataView(attr.buffer).setUint32(0, fd, true);
  const key = new Uint32Array([1]);
  const value = new BigUint64Array([0x1122334455667788n]);
  const K = MAP_ELEM_ATTR.fields.key.offset;
  const V = MAP_ELEM_ATTR.fields.value.offset;
  assert.equal(native().bpf(BpfCmd.MAP_UPDATE_ELEM, attr, K, key, V, value), 0);
  // The addon wrote the buffers' addresses into the attr.
  const view = new DataView(attr.buffer);
  assert.equal(view.getBigUint64(K, true), native().addressOf(key));
  assert.equal(view.getBigUint64(V, true), native().addressOf(value));
  const out = new BigUint64Array(1);
  assert.equal(native().bpf(BpfCmd.MAP_LOOKUP_ELEM, attr, K, key, V, out), 0);
  assert.equal(out[0], 0x1122334455667788n);
  // A subarray's address is its own first byte.
  const big = new Uint8Array(64);
  assert.equal(native().addressOf(big.subarray(16)) - native().addressOf(big), 16n);
  assert.equal(native().addressOf(big.buffer), native().addressOf(big));
  assert.throws(() => native().bpf(BpfCmd.MAP_LOOKUP_ELEM, attr, MAP_ELEM_ATTR.size - 4, key), TypeError);
  assert.equal(native().close(fd), 0);
  assert.deepEqual(openFds(), before);
});

test('mmap of a BPF_F_MMAPABLE array sees updates; munmap detaches the buffer', (t) => {
  if (!needRoot(t)) return;
  const n = native();
  const fd = createArray(BPF_F_MMAPABLE, 8);
  const ab = n.mmap(fd, n.PAGE_SIZE, n.PROT_READ | n.PROT_WRITE, n.MAP_SHARED, 0);
  assert.ok(ab instanceof ArrayBuffer);
  assert.equal(ab.byteLength, n.PAGE_SIZE);
  const attr = new Uint8Array(MAP_ELEM_ATTR.size);
  new DataView(attr.buffer).setUint32(0, fd, true);
  assert.equal(
    n.bpf(BpfCmd.MAP_UPDATE_ELEM, attr, 8, new Uint32Array([5]), 16, new BigUint64Array([777n])),
    0,
  );
  const view = new BigUint64Array(ab);
  assert.equal(view[5], 777n);
  // And the other way: a store through the mapping is what the kernel's lookup returns.
  view[6] = 4242n;
  const out = new BigUint64Array(1);
  assert.equal(n.bpf(BpfCmd.MAP_LOOKUP_ELEM, attr, 8, new Uint32Array([6]), 16, out), 0);
  assert.equal(out[0], 4242n);

  assert.equal(n.munmap(ab), 0);
  assert.equal(ab.byteLength, 0);
  assert.equal(view.length, 0);
  assert.equal(view[5], undefined);
  assert.equal(n.munmap(ab), -E.EBADF, 'second munmap');
  assert.equal(n.munmap(new ArrayBuffer(16)), -E.EINVAL, 'not a mapping');
  assert.equal(n.mmap(fd, 0, n.PROT_READ, n.MAP_SHARED, 0), -E.EINVAL);
  // A plain (not mmapable) array cannot be mapped.
  const plain = createArray();
  assert.equal(n.mmap(plain, n.PAGE_SIZE, n.PROT_READ, n.MAP_SHARED, 0), -E.EINVAL);
  n.close(plain);
  n.close(fd);
});

test('uv_poll reports readiness on the Node event loop and stops after close', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-poll-'));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  try {
    const n = native();
    let calls = 0;
    const ready = new Promise<[number, number]>((resolve) => {
      const h = n.pollStart(fd, n.UV_READABLE, (status, events) => {
        calls++;
        assert.equal(n.pollClose(h as never), 0);
        assert.equal(n.pollClose(h as never), 0, 'close is idempotent');
        resolve([status, events]);
      });
      assert.notEqual(typeof h, 'number');
    });
    // Nothing is readable yet: no callback before the write.
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 0);
    writeSync(fd, 'x');
    const [status, events] = await ready;
    assert.equal(status, 0);
    assert.equal(events & n.UV_READABLE, n.UV_READABLE);
    // Still readable, but the poller is closed: no second call.
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(calls, 1);
    assert.equal(
      n.pollStart(-1, n.UV_READABLE, () => {}),
      -E.EBADF,
    );
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true });
  }
});

function procMemlock(): [string, string] {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max locked memory'));
  assert.ok(line);
  const [soft, hard] = line.slice('Max locked memory'.length).trim().split(/\s+/);
  return [soft!, hard!];
}

test('getrlimit/setrlimit agree with /proc/self/limits', () => {
  const n = native();
  const r = n.getrlimit(n.RLIMIT_MEMLOCK);
  assert.ok(Array.isArray(r));
  const [soft, hard] = r;
  const show = (v: bigint): string => (v === 0xffffffffffffffffn ? 'unlimited' : String(v));
  assert.deepEqual(procMemlock(), [show(soft), show(hard)]);
  // Lowering the soft limit needs no privilege, and is seen by the kernel.
  const lower = hard === 0xffffffffffffffffn ? 1n << 20n : hard / 2n;
  assert.equal(n.setrlimit(n.RLIMIT_MEMLOCK, lower, hard), 0);
  assert.deepEqual(procMemlock(), [show(lower), show(hard)]);
  assert.equal(n.setrlimit(n.RLIMIT_MEMLOCK, soft, hard), 0);
  assert.deepEqual(procMemlock(), [show(soft), show(hard)]);
  assert.equal(n.setrlimit(n.RLIMIT_MEMLOCK, hard, lower), -E.EINVAL, 'soft above hard');
});

test('perf_event_open a software counter, enable it and read its id with ioctl', (t) => {
  if (!needRoot(t)) return;
  const n = native();
  const before = openFds();
  // struct perf_event_attr: type PERF_TYPE_SOFTWARE (1), size, config PERF_COUNT_SW_CPU_CLOCK (0),
  // flags with `disabled` (bit 0) set.
  const attr = new Uint8Array(128);
  const v = new DataView(attr.buffer);
  v.setUint32(0, 1, true);
  v.setUint32(4, attr.length, true);
  v.setBigUint64(40, 1n, true);
  const fd = n.perfEventOpen(attr, 0, -1, -1, 1 << 3 /* PERF_FLAG_FD_CLOEXEC */);
  assert.ok(fd >= 0, `perf_event_open returned ${fd}`);
  const PERF_EVENT_IOC_ENABLE = 0x2400;
  const PERF_EVENT_IOC_DISABLE = 0x2401;
  const PERF_EVENT_IOC_ID = 0x80082407; // _IOR('$', 7, __u64 *)
  assert.equal(n.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0), 0);
  const id = new BigUint64Array(1);
  assert.equal(n.ioctl(fd, PERF_EVENT_IOC_ID, id), 0);
  assert.ok(id[0]! > 0n, 'the kernel wrote the event id through the buffer');
  assert.equal(n.ioctl(fd, PERF_EVENT_IOC_DISABLE, 0), 0);
  assert.equal(n.ioctl(fd, 0x12345678, 0), -E.ENOTTY);
  assert.equal(n.close(fd), 0);
  assert.deepEqual(openFds(), before);
});

/** Collects garbage and lets the finalizers N-API defers to the event loop run. */
async function collect(): Promise<void> {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

test('slab(): a collected slab’s memory is handed out again, a live one never', async () => {
  const n = native();
  const first = n.slab();
  assert.ok(first instanceof ArrayBuffer);
  assert.equal(first.byteLength, n.SLAB_BYTES);
  assert.equal(n.SLAB_BYTES, SLAB_BYTES, 'src/sys/mmap.ts and native/ebpf.c agree');
  const live = n.slab() as ArrayBuffer;
  new Uint8Array(live).fill(0xa5);
  const liveAt = n.addressOf(new Uint8Array(live));
  const dropped = new Set<bigint>();
  for (let i = 0; i < 8; i++) dropped.add(n.addressOf(new Uint8Array(n.slab() as ArrayBuffer)));
  dropped.add(n.addressOf(new Uint8Array(first)));
  await collect();
  // The pool is a stack of collected slabs: the next ones come from it, never the live one.
  const again = Array.from({ length: 4 }, () => n.slab() as ArrayBuffer);
  for (const b of again) {
    const at = n.addressOf(new Uint8Array(b));
    assert.notEqual(at, liveAt);
    assert.ok(dropped.has(at), `slab at ${at.toString(16)} is not one of the collected ones`);
    new Uint8Array(b).fill(0x5a);
  }
  assert.ok(
    new Uint8Array(live).every((x) => x === 0xa5),
    'the live slab kept its bytes',
  );
});
