// A test's child script bundled into one ES module under build/test-bundle/, so that a test
// starting hundreds of children pays Node's start-up only, not tsx's per-module transform.
import { buildSync } from 'esbuild';
import { join } from 'node:path';
import { ROOT } from './helpers.js';

/**
 * Bundles `entry` (relative to the repository root) and returns the bundle's path. The bundle
 * lives two levels below the root, as src/sys/native.ts expects of its own file to find build/.
 */
export function bundleScript(entry: string): string {
  const out = join(ROOT, 'build', 'test-bundle', entry.replace(/^.*\//, '').replace(/\.ts$/, '.mjs'));
  buildSync({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: out,
    logLevel: 'error',
    // node-gyp-build is CommonJS and is required at run time.
    banner: {
      js: "import { createRequire as __ebpfRequire } from 'node:module'; const require = __ebpfRequire(import.meta.url);",
    },
  });
  return out;
}
