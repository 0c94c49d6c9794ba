// A uprobe on a user program's function: testdata/uprobe-el.o's `on_enter` counts the calls
// of a function and sums its first argument (in .bss). By default it probes Node itself:
// `uv_os_getppid` in this very binary, called each time the script reads `process.ppid`; give
// another binary and function to watch any program (--pid to follow one process only).
//
//   sudo node node_modules/ebpf/examples/uprobe.js                       # probes itself
//   sudo node node_modules/ebpf/examples/uprobe.js --binary /bin/bash --symbol readline --seconds 10
import { parseArgs } from 'node:util';
import { attachUprobe, loadObject } from 'ebpf';

const { values } = parseArgs({
  options: {
    binary: { type: 'string' },
    symbol: { type: 'string', default: 'uv_os_getppid' },
    pid: { type: 'string' },
    seconds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '7' },
  },
});
const self = values.binary === undefined;
const binary = values.binary ?? process.execPath;
const pid = self ? process.pid : values.pid !== undefined ? Number(values.pid) : -1;

const obj = loadObject(new URL('../testdata/uprobe-el.o', import.meta.url).pathname);
try {
  const link = attachUprobe(obj.program('on_enter'), binary, { symbol: values.symbol, pid });
  try {
    console.log(`probing ${binary}:${values.symbol}${pid === -1 ? '' : ` in pid ${pid}`}`);
    if (self) {
      // Each read of process.ppid calls uv_os_getppid once.
      for (let i = 0; i < Number(values.calls); i++) void process.ppid;
    } else {
      await new Promise((done) => setTimeout(done, Number(values.seconds) * 1000));
    }
    console.log(`calls ${obj.bss.calls}`);
  } finally {
    link.close();
  }
} finally {
  obj.close();
}
