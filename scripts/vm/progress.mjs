// Preloaded (--import) by every test file the kernel matrix runs in a guest. The test runner's
// reporter writes from the event loop, and a file of synchronous tests (spawnSync, loads) never
// turns it: all its results came at the end, and a file killed at its time limit showed nothing
// at all, not even which test it was in. Here each test's name is written (synchronously, to the
// console) as it starts, and each test yields one turn so the results before it are printed.
import { beforeEach } from 'node:test';
import { setImmediate } from 'node:timers';

beforeEach(async (t) => {
  await new Promise((r) => setImmediate(r));
  process.stderr.write(`EBPF-VM-TEST ${t.name}\n`);
});
