// Every fuzz target (npm run fuzz -- TARGET) for a few seconds, as CI runs them: from its seeds
// and committed corpus, generated and mutated inputs, coverage-guided, in a watched worker. Only
// the project's typed errors may come out; a failed property, a hang or memory without bound is a
// finding, saved under fuzz-out/ with its input. Long runs: see the README's fuzzing section.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runTarget, summary } from '../scripts/fuzz.js';
import { TARGETS } from '../scripts/fuzz/targets.js';
import { needRoot, ROOT } from './helpers.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 4);
const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);

for (const target of TARGETS) {
  test(
    `fuzz ${target.name}: ${SECONDS} s, typed errors only, properties hold`,
    { timeout: 600_000 },
    async (t) => {
      // The load target makes kernel objects (and checks none is left).
      if (target.name === 'load' && !needRoot(t)) return;
      const r = await runTarget(target.name, {
        seconds: SECONDS,
        runs: Number.MAX_SAFE_INTEGER,
        seed: SEED,
        guided: true,
        outDir: join(ROOT, 'fuzz-out', target.name),
        corpusDirs: [join(ROOT, 'test', 'fuzz-corpus', target.name)],
        maxFindings: 1,
        maxMb: 1024,
      });
      t.diagnostic(summary(r));
      assert.deepEqual(
        r.findings.map((f) => `${f.kind}: ${f.message.split('\n')[0]} (${f.file ?? 'not saved'})`),
        [],
      );
      // It ran, and reached the target's code.
      assert.ok(r.execs > 0, `no execution (${r.seeds} seeds)`);
      assert.ok(r.totals.lines[0] > 0, 'no line of the target covered');
    },
  );
}
