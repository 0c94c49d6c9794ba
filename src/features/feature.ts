// A kernel feature probe: a named value with the kernel version that introduced the feature,
// whose probe asks the running kernel once; the answer is memoised for the process.
import { release } from 'node:os';
import { NotSupportedError } from '../errors.js';
import { checkArgument } from '../internal/options.js';
import { currentToken } from '../sys/bpf.js';
import { E } from '../sys/errno.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';

export interface Feature {
  /** What is probed: `BTF_KIND_FLOAT`, `BPF_MAP_TYPE_RINGBUF`. */
  readonly name: string;
  /** The upstream kernel release that introduced it: `5.13`. */
  readonly version: string;
  /** The kernel build option it also needs (`CONFIG_FPROBE`), when a new enough kernel can lack it. */
  readonly config?: string;
}

export interface ProbeResult extends Feature {
  supported: boolean;
  /** Set when the probe itself failed (missing privilege), rather than the kernel saying no. */
  error?: Error;
}

/**
 * A probe returns true when the kernel has the feature and false when it clearly lacks it; it
 * throws when it cannot tell (EPERM: no privilege), and then nothing is memoised.
 */
export type Probe = () => boolean;

const probes = new Map<Feature, Probe>();
const results = new Map<Feature, boolean>();
/**
 * Answers given through a BPF token (withToken), kept apart as libbpf keeps them: a token may
 * allow less than the process's own privileges, or more.
 */
const tokenResults = new WeakMap<Fd, Map<Feature, boolean>>();

function cache(): Map<Feature, boolean> {
  const token = currentToken();
  if (token === undefined) return results;
  let m = tokenResults.get(token);
  if (m === undefined) tokenResults.set(token, (m = new Map()));
  return m;
}

/** Declares a feature with the probe that answers for it. */
export function feature(name: string, version: string, probe: Probe, config?: string): Feature {
  const f: Feature = Object.freeze(config !== undefined ? { name, version, config } : { name, version });
  probes.set(f, probe);
  return f;
}

/** Whether the running kernel has `f`, asking it on first use only. */
export function haveFeature(f: Feature): boolean {
  checkArgument('haveFeature', 'feature', f, 'a Feature (from ebpf/features)', probes.has(f));
  const answers = cache();
  const known = answers.get(f);
  if (known !== undefined) return known;
  const probe = probes.get(f);
  if (probe === undefined) throw new NotSupportedError(`no probe for feature '${f.name}'`);
  let ok: boolean;
  try {
    ok = probe();
  } catch (e) {
    // What a token does not delegate (a program type a probe loads) is missing for loads through
    // it, as libbpf counts any probe that fails under a token.
    if (answers === results || !(e instanceof SyscallError) || e.errno !== E.EPERM) throw e;
    ok = false;
  }
  answers.set(f, ok);
  return ok;
}

/** Throws NotSupportedError naming the feature and the kernel it needs when it is missing. */
export function requireFeature(f: Feature): void {
  if (!haveFeature(f)) throw new NotSupportedError(notSupportedMessage(f));
}

/** `X requires Linux 5.18 or later`, or for a kernel new enough `... built with CONFIG_FPROBE`. */
export function notSupportedMessage(f: Feature): string {
  if (f.config !== undefined && versionAtLeast(release(), f.version))
    return `${f.name} requires a kernel built with ${f.config} (this ${release()} was built without it)`;
  return `${f.name} requires Linux ${f.version} or later${f.config !== undefined ? ` built with ${f.config}` : ''}`;
}

/** Whether release `have` (`6.1.0-57-cloud-amd64`) is at least `want` (`5.18`). */
export function versionAtLeast(have: string, want: string): boolean {
  const a = have.split(/[.-]/).map((x) => parseInt(x, 10));
  const b = want.split('.').map((x) => parseInt(x, 10));
  for (let i = 0; i < b.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** Every declared feature, in declaration order. */
export function allFeatures(): Feature[] {
  return [...probes.keys()];
}

/** Forgets memoised answers (tests, or after loading a kernel module). */
export function resetFeatureCache(): void {
  results.clear();
}

/** The memoised answers, to put back with restoreFeatureCache (tests that make probes fail). */
export function saveFeatureCache(): ReadonlyMap<Feature, boolean> {
  return new Map(results);
}

/** Puts back answers saved by saveFeatureCache, forgetting any learnt since. */
export function restoreFeatureCache(saved: ReadonlyMap<Feature, boolean>): void {
  results.clear();
  for (const [f, ok] of saved) results.set(f, ok);
}
