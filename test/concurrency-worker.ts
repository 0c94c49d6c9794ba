// Run as a worker_thread by test/concurrency.test.ts (bundled: see test/bundle.ts). Tasks:
//   load-maps  loads testdata/events.c again and again (loadObject and loadObjectAsync in turn),
//              reads exactly the records it makes through an onData ring buffer reader (the
//              addon's uv_poll on this worker's loop), and writes and reads back its own keys in
//              a hash map the test pinned, all while the other workers do the same
//   produce    runs events.c's ring_output (pinned by the test) in batches until told to stop,
//              counting what it ran
//   hold       opens a ring buffer reader with onData on the pinned ring and a program, then
//              waits to be terminated with them open
//   load-hold  loads testdata/events.c whole, reads its ring with onData, makes a map and a
//              duplicate descriptor, says which program and map ids it made, and waits to be
//              terminated with all of it open
import { parentPort, workerData } from 'node:worker_threads';
import { RingBuffer } from '../src/events/index.js';
import { loadObject, loadObjectAsync, type LoadedObject } from '../src/loader/index.js';
import { MapType } from '../src/constants.js';
import { BpfMap } from '../src/map/map.js';
import { Program } from '../src/program/program.js';
import { mapGetInfo } from '../src/sys/bpf.js';

interface Data {
  task: 'load-maps' | 'produce' | 'hold' | 'load-hold';
  object: string;
  index: number;
  iterations: number;
  sharedMap: string;
  program: string;
  ring: string;
  /** produce: [0] 1 to stop, 2 to pause between batches; [1] batches run; [2] 1 while paused. */
  control: SharedArrayBuffer;
}

const d = workerData as Data;
const BATCH = 16;

function packet(): Uint8Array {
  const b = new Uint8Array(64);
  new DataView(b.buffer).setUint32(0, d.index, true);
  return b;
}

async function readExactly(obj: LoadedObject, n: number): Promise<number> {
  const ring = RingBuffer.open(obj.map('ring'));
  try {
    let got = 0;
    const all = new Promise<void>((resolve) => {
      ring.onData(() => {
        if (++got === n) resolve();
      });
    });
    obj.program('ring_output').testRun({ dataIn: packet(), repeat: n });
    await Promise.race([all, new Promise((r) => setTimeout(r, 10_000))]);
    return got;
  } finally {
    ring.close();
  }
}

async function loadMaps(): Promise<object> {
  const shared = BpfMap.fromPin(d.sharedMap);
  let events = 0;
  let mapOps = 0;
  try {
    for (let i = 0; i < d.iterations; i++) {
      const opts = { programs: ['ring_output'] };
      const obj = i % 2 === 0 ? loadObject(d.object, opts) : await loadObjectAsync(d.object, opts);
      try {
        const got = await readExactly(obj, BATCH);
        if (got !== BATCH) throw new Error(`worker ${d.index}: ${got} of ${BATCH} records`);
        events += got;
      } finally {
        obj.close();
      }
      for (let k = 0; k < 50; k++) {
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, d.index * 100_000 + i * 50 + k, true);
        const value = new Uint8Array(8);
        new DataView(value.buffer).setBigUint64(0, BigInt(d.index * 1_000_000 + i * 50 + k), true);
        shared.update(key, value);
        const back = shared.lookupBytes(key);
        if (
          back === undefined ||
          new DataView(back.buffer, back.byteOffset).getBigUint64(0, true) !==
            BigInt(d.index * 1_000_000 + i * 50 + k)
        )
          throw new Error(`worker ${d.index}: key ${i * 50 + k} read back wrong`);
        mapOps += 2;
      }
    }
  } finally {
    shared.close();
  }
  return { events, mapOps };
}

function produce(): object {
  const control = new Int32Array(d.control);
  const prog = Program.fromPin(d.program);
  try {
    for (let state = Atomics.load(control, 0); state !== 1; state = Atomics.load(control, 0)) {
      if (state === 2) {
        // Paused between batches: say so, and wait to be resumed.
        Atomics.store(control, 2, 1);
        Atomics.wait(control, 0, 2, 50);
        continue;
      }
      Atomics.store(control, 2, 0);
      prog.testRun({ dataIn: packet(), repeat: BATCH });
      Atomics.add(control, 1, 1);
    }
  } finally {
    prog.close();
  }
  return { batches: Atomics.load(control, 1), batch: BATCH };
}

function hold(): object {
  const prog = Program.fromPin(d.program);
  const ring = RingBuffer.open(BpfMap.fromPin(d.ring));
  let got = 0;
  ring.onData(() => got++);
  prog.testRun({ dataIn: packet(), repeat: BATCH });
  // Never closed: the test terminates this worker with both open.
  return { holding: true, got };
}

function loadHold(): object {
  const obj = loadObject(d.object);
  const ring = RingBuffer.open(obj.map('ring'));
  let got = 0;
  ring.onData(() => got++);
  obj.program('ring_output').testRun({ dataIn: packet(), repeat: BATCH });
  const map = BpfMap.create({ type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
  const dup = obj.program('ring_output').fd.dup();
  // Never closed: the test terminates this worker with all of it open.
  return {
    programs: [...obj.programs.values()].map((p) => p.info().id),
    maps: [...[...obj.maps.values()].map((m) => m.fd.fd), map.fd.fd].map((fd) => mapGetInfo(fd).info.id),
    dup: dup.fd,
    got,
  };
}

const result =
  d.task === 'load-maps'
    ? await loadMaps()
    : d.task === 'produce'
      ? produce()
      : d.task === 'load-hold'
        ? loadHold()
        : hold();
parentPort!.postMessage(result);
