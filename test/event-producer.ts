// A producer thread for test/events-stress.test.ts: runs event_load.c's program on one CPU
// (BPF_PROG_TEST_RUN with BPF_F_TEST_RUN_ON_CPU) in bursts of 1..maxBurst records numbered in
// this producer's own sequence, pausing now and then so the reader catches up and sleeps.
import { parentPort, workerData } from 'node:worker_threads';
import { progTestRun } from '../src/sys/bpf.js';

export interface ProducerData {
  progFd: number;
  cpu: number;
  producer: number;
  rounds: number;
  maxBurst: number;
  /** Record size, or 0 to cycle 16/128/1024 by sequence number. */
  size: number;
  /** Pause 1 ms after every `pauseEvery` bursts. */
  pauseEvery: number;
}

const BPF_F_TEST_RUN_ON_CPU = 1;
const d = workerData as ProducerData;
const ctx = new BigUint64Array(4);
const ctxIn = new Uint8Array(ctx.buffer);
const pause = new Int32Array(new SharedArrayBuffer(4));
let seed = 0x9e3779b9 ^ (d.producer * 0x85ebca6b);
let seq = 0;
for (let r = 0; r < d.rounds; r++) {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  const count = 1 + ((seed >>> 0) % d.maxBurst);
  ctx[0] = BigInt(count);
  ctx[1] = BigInt(d.size);
  ctx[2] = BigInt(d.producer);
  ctx[3] = BigInt(seq);
  const res = progTestRun(d.progFd, { ctxIn, flags: BPF_F_TEST_RUN_ON_CPU, cpu: d.cpu });
  if (res.retval !== 0) throw new Error(`producer ${d.producer}: the program refused its arguments`);
  seq += count;
  if (r % d.pauseEvery === d.pauseEvery - 1) Atomics.wait(pause, 0, 0, 1);
}
parentPort!.postMessage({ producer: d.producer, sent: seq });
