// Global variables: testdata/globals-el.o's XDP program reads .rodata constants set before load
// (then frozen), and updates .data and .bss, which JavaScript reads and writes live (mmap).
// Runs the program with BPF_PROG_TEST_RUN, no device needed.
//
//   sudo node node_modules/ebpf/examples/globals.js
import { loadObject, loadObjectSpec } from 'ebpf';

const spec = loadObjectSpec(new URL('../testdata/globals-el.o', import.meta.url).pathname);
console.log(`before load: config_limit ${spec.rodata.config_limit}, config_pid ${spec.rodata.config_pid}`);
spec.rodata.config_limit = 100n; // drop once more than 100 bytes went through
spec.rodata.config_pid = process.pid; // the program copies it into data_array[2]

const obj = loadObject(spec);
try {
  const prog = obj.program('use_globals');
  for (let i = 0; i < 3; i++) {
    const { retval } = prog.testRun({ dataIn: new Uint8Array(64) });
    const verdict = retval === 2 ? 'XDP_PASS' : retval === 1 ? 'XDP_DROP' : String(retval);
    console.log(`run ${i}: ${verdict}, bss_total ${obj.bss.bss_total}, counter ${obj.data.counter}`);
  }
  console.log(`data_array ${obj.data.data_array.join(' ')}`);
  obj.bss.bss_total = 0n; // written live: the next run passes again
  const { retval } = prog.testRun({ dataIn: new Uint8Array(64) });
  console.log(`after reset: ${retval === 2 ? 'XDP_PASS' : retval}, bss_total ${obj.bss.bss_total}`);
} finally {
  obj.close();
}
