// The loader's entry to CO-RE: a function it calls once per program before encoding it, which
// relocates against the kernel BTF the loader uses (plus module BTF) or a target the caller chose.
import type { Btf } from '../btf/btf.js';
import { loadKernelBtf } from '../btf/kernel.js';
import {
  applyCoreRelocations,
  coreSearchIds,
  type AppliedCoreRelocation,
  type CoreProgram,
} from './apply.js';
import type { CandidateCache } from './resolve.js';
import { kernelTarget, type CoreTarget } from './target.js';

/** What the loader hands over for one program (its CoreContext has this shape). */
export interface CoreRelocationContext {
  program: Pick<CoreProgram, 'name' | 'coreRelos'>;
  /** The linked instructions to patch in place. */
  instructions: CoreProgram['instructions'];
  /** The object's BTF. */
  btf: Btf;
  /** The kernel BTF the loader uses. */
  kernelBtf: () => Btf;
  /**
   * Every program of the object (the loader gives them): their relocations' candidates are searched
   * for with the first program's, in one pass over the target.
   */
  programs?: readonly Pick<CoreProgram, 'coreRelos'>[];
  /** Called with what was applied to this program (the loader traces it and explains poison with it). */
  onApplied?: (applied: AppliedCoreRelocation[]) => void;
}

export interface CoreRelocatorOptions {
  /** Relocate against this instead of the loader's kernel BTF (libbpf's btf_custom_path). */
  target?: CoreTarget;
  /** Called with each program's applied relocations (for `--trace`, or to rewrite a verifier log). */
  onApplied?: (program: string, applied: AppliedCoreRelocation[]) => void;
}

/**
 * A CO-RE relocator for the loader (`loadObject(spec, { core: coreRelocator() })`): applies every
 * relocation of a program in place and returns how many. A relocation that cannot be applied at
 * all throws CoreError; one whose target is missing poisons its instruction.
 */
export function coreRelocator(opts: CoreRelocatorOptions = {}): (ctx: CoreRelocationContext) => number {
  // One cache per object BTF: programs of one object share candidate searches.
  const caches = new WeakMap<Btf, CandidateCache>();
  return (ctx) => {
    let target = opts.target;
    if (!target) {
      const kernel = ctx.kernelBtf();
      // Module BTF is split on the running kernel's vmlinux; only then can it be searched too.
      let running: Btf | undefined;
      try {
        running = loadKernelBtf();
      } catch {
        running = undefined;
      }
      target =
        kernel === running ? kernelTarget() : { main: { name: kernel.file ?? 'kernel BTF', btf: kernel } };
    }
    let cache = caches.get(ctx.btf);
    // The object's first program searches for every program's candidates (the later ones find
    // them done).
    let alsoSearch: number[] | undefined;
    if (!cache) {
      caches.set(ctx.btf, (cache = new Map()));
      if (ctx.programs !== undefined) alsoSearch = coreSearchIds(ctx.programs);
    }
    const program: CoreProgram = {
      name: ctx.program.name,
      instructions: ctx.instructions,
      coreRelos: ctx.program.coreRelos,
    };
    const applied = applyCoreRelocations(program, ctx.btf, {
      target,
      cache,
      ...(alsoSearch !== undefined ? { alsoSearch } : {}),
    });
    opts.onApplied?.(ctx.program.name, applied);
    ctx.onApplied?.(applied);
    return applied.length;
  };
}
