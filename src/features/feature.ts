// A kernel feature probe: a named value with the kernel version that introduced the feature,
// whose probe asks the running kernel once; the answer is memoised for the process.
import { NotSupportedError } from '../errors.js';

export interface Feature {
  /** What is probed: `BTF_KIND_FLOAT`, `BPF_MAP_TYPE_RINGBUF`. */
  readonly name: string;
  /** The upstream kernel release that introduced it: `5.13`. */
  readonly version: string;
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

/** Declares a feature with the probe that answers for it. */
export function feature(name: string, version: string, probe: Probe): Feature {
  const f: Feature = Object.freeze({ name, version });
  probes.set(f, probe);
  return f;
}

/** Whether the running kernel has `f`, asking it on first use only. */
export function haveFeature(f: Feature): boolean {
  const known = results.get(f);
  if (known !== undefined) return known;
  const probe = probes.get(f);
  if (probe === undefined) throw new NotSupportedError(`no probe for feature '${f.name}'`);
  const ok = probe();
  results.set(f, ok);
  return ok;
}

/** Throws NotSupportedError naming the feature and the kernel it needs when it is missing. */
export function requireFeature(f: Feature): void {
  if (!haveFeature(f)) throw new NotSupportedError(`${f.name} requires Linux ${f.version} or later`);
}

/** Every declared feature, in declaration order. */
export function allFeatures(): Feature[] {
  return [...probes.keys()];
}

/** Forgets memoised answers (tests, or after loading a kernel module). */
export function resetFeatureCache(): void {
  results.clear();
}
