// Ring buffer events from a tracepoint: testdata/exec_events-el.o runs on every exec
// (tracepoint sched/sched_process_exec) and sends { pid, ppid, uid, comm, filename } through a
// BPF ring buffer; records are decoded by their BTF type, struct event. With --children only,
// a .rodata constant set before load keeps just the execs of this process's children.
//
//   sudo node node_modules/ebpf/examples/exec-events.js [--seconds 5] [--children-only]
//
// It runs /bin/true three times itself, so there is something to see.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { RingBuffer, attachTracepoint, loadObject, loadObjectSpec } from 'ebpf';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    'children-only': { type: 'boolean', default: false },
  },
});

const spec = loadObjectSpec(new URL('../testdata/exec_events-el.o', import.meta.url).pathname);
if (values['children-only']) spec.rodata.only_ppid = process.pid;
const obj = loadObject(spec); // CO-RE: task->real_parent->tgid against the running kernel
const link = attachTracepoint(obj.program('on_exec'), 'sched', 'sched_process_exec');
const events = RingBuffer.open(obj.map('events')).decodeWith(obj.spec.btf, 'struct event');
const stop = events.onData((e) => {
  console.log(`exec pid ${e.pid} ppid ${e.ppid} uid ${e.uid} comm ${e.comm} filename ${e.filename}`);
});

for (let i = 0; i < 3; i++) {
  const child = spawn('/bin/true', { stdio: 'ignore' });
  console.log(`spawned pid ${child.pid}`);
  await new Promise((done) => child.on('exit', done));
}

setTimeout(
  () => {
    stop();
    events.close();
    link.close();
    console.log(`dropped ${obj.bss.dropped}`);
    obj.close();
  },
  Number(values.seconds) * 1000,
);
