// The soak's short version (npm run soak runs 10,000 cycles): 200 cycles of load, attach, traffic
// or trigger, read, detach and close over the five kinds in scripts/soak.ts, with descriptors,
// kernel objects, pins and the RSS trend checked every 20 cycles.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KINDS, runSoak } from '../scripts/soak.js';
import { needRoot, needTool } from './helpers.js';

const CYCLES = 200;

test(`soak: ${CYCLES} cycles leave descriptors, kernel objects, pins and RSS flat`, async (t) => {
  if (!needRoot(t) || !needTool(t, 'ip')) return;
  const report = await runSoak({ cycles: CYCLES, window: 20, warmup: 60, log: (l) => t.diagnostic(l) });
  assert.deepEqual(report.problems, []);
  assert.equal(report.cycles, CYCLES);
  for (const k of KINDS) assert.equal(report.perKind[k], CYCLES / KINDS.length, k);
  assert.equal(report.windows.length, CYCLES / 20);
  // The same number in every window, and no more than at the start (Node 24 closes 3 of its own
  // early on).
  const first = report.windows[0]!.fds;
  assert.ok(
    first <= report.fdsAtStart,
    `${first} descriptors after the first window, ${report.fdsAtStart} at the start`,
  );
  for (const w of report.windows) assert.equal(w.fds, first, `descriptors after cycle ${w.cycle}`);
  // Every cycle made its program and maps, and every one is gone.
  assert.ok(
    report.objectsMade.prog >= CYCLES && report.objectsMade.map >= CYCLES,
    JSON.stringify(report.objectsMade),
  );
  t.diagnostic(
    `${report.seconds} s; RSS trend ${report.rssSlopeMiBPer1000} MiB per 1000 cycles, growth ${report.rssGrowthMiB} MiB`,
  );
});
