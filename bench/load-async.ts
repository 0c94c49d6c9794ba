// load-event-loop-delay: the longest the event loop stood still while the largest xdp-tools
// object loaded, with loadObjectAsync (ours) and with loadObject (in `extra`), measured by
// perf_hooks' event-loop delay histogram; there is no C counterpart (libbpf has no event loop).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadObject, loadObjectAsync } from '../src/loader/index.js';
import { median, type Measurement, type TimeOptions } from './measure.js';

const XDP_TOOLS = '/usr/lib/x86_64-linux-gnu/bpf';

function largestObject(): string {
  const files = readdirSync(XDP_TOOLS)
    .filter((f) => f.endsWith('.o'))
    .map((f) => join(XDP_TOOLS, f));
  if (files.length === 0) throw new Error(`no objects in ${XDP_TOOLS} (apt-get install xdp-tools)`);
  return files.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
}

/** Max event-loop delay (ms) and load time while `load` runs. */
async function delayDuring(load: () => Promise<unknown>): Promise<{ delay: number; ms: number }> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await sleep(5);
  const t0 = performance.now();
  await load();
  const ms = performance.now() - t0;
  await sleep(5);
  h.disable();
  return { delay: h.max / 1e6, ms };
}

export async function benchLoadDelay(opts: TimeOptions = {}): Promise<Measurement> {
  const file = largestObject();
  const iterations = Math.min(opts.iterations ?? 10, 10);
  loadObject(file).close(); // warm caches: feature probes, kernel BTF
  const asyncDelay: number[] = [];
  const syncDelay: number[] = [];
  const asyncMs: number[] = [];
  const syncMs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const a = await delayDuring(async () => (await loadObjectAsync(file)).close());
    const s = await delayDuring(() => Promise.resolve(loadObject(file).close()));
    asyncDelay.push(a.delay);
    asyncMs.push(a.ms);
    syncDelay.push(s.delay);
    syncMs.push(s.ms);
  }
  for (const l of [asyncDelay, syncDelay, asyncMs, syncMs]) l.sort((x, y) => x - y);
  return {
    value: median(asyncDelay),
    iterations,
    extra: {
      object: file,
      sync_max_delay_ms: median(syncDelay),
      async_load_ms: median(asyncMs),
      sync_load_ms: median(syncMs),
    },
  };
}
