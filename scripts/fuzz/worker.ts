// The fuzzing thread's entry: starts V8 coverage before any of the library is compiled (so that
// module top levels and functions never called are counted too), then runs the engine on the
// target the parent named, posting progress.
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { Coverage } from './coverage.js';

const { options, heartbeat } = workerData as { options: EngineOptions; heartbeat: SharedArrayBuffer };
const coverage = options.guided ? new Coverage([join(import.meta.dirname, '..', '..', 'src')]) : undefined;
const { fuzz } = await import('./engine.js');
const { targetNamed } = await import('./targets.js');
type EngineOptions = import('./engine.js').EngineOptions;
const report = await fuzz(targetNamed(options.target), options, heartbeat, coverage, (r) =>
  parentPort!.postMessage({ kind: 'progress', report: r }),
);
parentPort!.postMessage({ kind: 'done', report });
