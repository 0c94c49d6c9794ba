// The layering rule of DESIGN.md: elf, asm, btf (but its kernel-discovery file), core, object and gen
// never import the kernel-facing folders, directly or through another module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './helpers.js';

const PURE = ['elf', 'asm', 'btf', 'core', 'object', 'gen'];
const KERNEL_FACING = ['sys', 'map', 'program', 'link', 'loader', 'features', 'events'];
/** btf's kernel discovery reads /sys/kernel/btf and may use sys; it alone is exempt. */
const EXEMPT = /^src\/btf\/kernel[^/]*\.ts$/;
/**
 * Pure files that live beside kernel-facing code: the BTF codecs (object's global-variable views
 * use them). A pure file may import them; the walk goes on through their imports, so they stay pure.
 */
const PURE_FILES = new Set(['src/map/codec.ts']);

/** Module specifiers of static imports, re-exports, and dynamic import() calls. */
export function importSpecifiers(source: string): string[] {
  // Comments could mention an import in prose; strip them first (strings keep their content).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  const patterns = [
    /\bimport\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+\w+)?|\{[^}]*\})\s*from\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Resolve a relative specifier ('./x.js') to the .ts source it names, or undefined for packages. */
function resolveSpecifier(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const cand of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(cand) && statSync(cand).isFile()) return cand;
  }
  return base.replace(/\.js$/, '.ts');
}

function folderOf(file: string): string | undefined {
  const rel = relative(join(ROOT, 'src'), file).split('/');
  return rel.length > 1 ? rel[0] : undefined;
}

test('the import scanner finds every form of import', () => {
  const src = `
    import { a } from './a.js';
    import type { B } from "../b.js";
    import * as c from './c.js';
    import d, { e } from './d.js';
    import './side.js';
    export * from './re.js';
    export { f } from './f.js';
    export type { G } from './g.js';
    const h = await import('./h.js');
    // import { no } from './comment.js';
    /* import { no2 } from './block.js'; */
    import {
      multi,
      line,
    } from './multi.js';
  `;
  assert.deepEqual(importSpecifiers(src).sort(), [
    '../b.js',
    './a.js',
    './c.js',
    './d.js',
    './f.js',
    './g.js',
    './h.js',
    './multi.js',
    './re.js',
    './side.js',
  ]);
});

test('elf, asm, btf, core, object and gen never import sys, map, program, link, loader (directly or transitively)', () => {
  const roots = PURE.flatMap((f) => tsFiles(join(ROOT, 'src', f))).filter(
    (f) => !EXEMPT.test(relative(ROOT, f)),
  );
  assert.ok(roots.length > 0, 'no pure source files found');
  const violations: string[] = [];
  for (const root of roots) {
    // Walk the relative-import graph from this file; report the chain that reaches a kernel-facing folder.
    const seen = new Set<string>([root]);
    const queue: string[][] = [[root]];
    while (queue.length > 0) {
      const chain = queue.shift()!;
      const file = chain[chain.length - 1]!;
      if (!existsSync(file)) continue;
      for (const spec of importSpecifiers(readFileSync(file, 'utf8'))) {
        if (spec.endsWith('.node') || /native/.test(spec)) {
          violations.push(`${chain.map((c) => relative(ROOT, c)).join(' -> ')} -> ${spec} (native addon)`);
          continue;
        }
        const target = resolveSpecifier(file, spec);
        if (target === undefined || seen.has(target)) continue;
        seen.add(target);
        const folder = folderOf(target);
        if (
          folder !== undefined &&
          KERNEL_FACING.includes(folder) &&
          !PURE_FILES.has(relative(ROOT, target))
        ) {
          violations.push(`${[...chain, target].map((c) => relative(ROOT, c)).join(' -> ')}`);
          continue;
        }
        queue.push([...chain, target]);
      }
    }
  }
  assert.deepEqual(violations, []);
});
