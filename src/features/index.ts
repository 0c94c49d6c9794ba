// Kernel feature probes: every feature, `haveFeature`, and a report of what this kernel lacks.
import { allFeatures, haveFeature, type Feature, type ProbeResult } from './feature.js';

export * from './btf.js';
export * from './feature.js';
export * from './kallsyms.js';
export * from './kernel.js';
export * from './links.js';
export * from './maps.js';
export * from './memlock.js';
export * from './programs.js';

/** Probes every declared feature; a probe that cannot answer is reported with its error. */
export function probeAll(): ProbeResult[] {
  return allFeatures().map((f) => {
    try {
      return { ...f, supported: haveFeature(f) };
    } catch (error) {
      return { ...f, supported: false, error: error as Error };
    }
  });
}

/** The features this kernel lacks (or that could not be probed). */
export function missingFeatures(): Feature[] {
  return probeAll()
    .filter((r) => !r.supported)
    .map(({ name, version, config }) =>
      config !== undefined ? { name, version, config } : { name, version },
    );
}
