// Run by test/pin-crash.test.ts (bundled, so that 200 of them start quickly): one pinning load of
// the test's object, which SIGKILLs itself just before step argv[4] (1-based; 0: never), with the kernel features in argv[5] (JSON) of the pin
// protocol (src/loader/pin-set.ts). Prints the steps it passed as one JSON line when it finishes.
import { loadObject, type LoaderFeatures } from '../src/loader/index.js';
import { setPinStepHook } from '../src/loader/pin-set.js';
import { crashSpec, crashOptions } from './pin-crash-object.js';

const [object, root, at, features] = process.argv.slice(2);
const killAt = Number(at ?? 0);
const steps: string[] = [];
setPinStepHook((s) => {
  steps.push(s);
  if (steps.length === killAt) process.kill(process.pid, 'SIGKILL');
});
// The parent probed the kernel's features once: probing again in each of 200 children would be
// most of their time.
loadObject(crashSpec(object!), {
  ...crashOptions(root!),
  features: JSON.parse(features!) as LoaderFeatures,
}).close();
process.stdout.write(JSON.stringify({ steps }) + '\n');
