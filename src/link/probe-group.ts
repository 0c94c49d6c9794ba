// A group of single probes standing in for one multi link (kprobe_multi, uprobe_multi) on a kernel
// that lacks it: one perf-event probe per function, detached and closed together.
import { haveFeature, notSupportedMessage, type Feature } from '../features/feature.js';
import type { Attachment } from './link.js';
import type { ProbeLink } from './probe-link.js';

/** How a kprobe.multi / uprobe.multi program is attached: one multi link, one probe per function, or auto. */
export type MultiMode = 'auto' | 'multi' | 'single';

/** The modes, as the attach options take them. */
export const MULTI_MODES: readonly MultiMode[] = ['auto', 'multi', 'single'];

/** The warning code of a multi link replaced by single probes (process.emitWarning). */
export const MULTI_LINK_FALLBACK = 'EBPF_MULTI_LINK_FALLBACK';

export class ProbeGroup<P extends ProbeLink> implements Attachment {
  /** One probe per function, in the order of the functions. */
  readonly probes: readonly P[];
  /** Why there is no multi link: what the kernel lacks, or that single probes were asked for. */
  readonly reason: string;

  constructor(probes: readonly P[], reason: string) {
    this.probes = probes;
    this.reason = reason;
  }

  get closed(): boolean {
    return this.probes.every((p) => p.closed);
  }

  /** Takes every probe off (perf-event probes cannot be detached but by closing: closes them). */
  detach(): void {
    this.close();
  }

  /** Closes every probe. Idempotent. */
  close(): void {
    let first: unknown;
    for (const p of this.probes) {
      try {
        p.close();
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Makes one probe per item with `attach`; when one fails, closes those made and rethrows. The
 * fallback of a multi link, with the warning that says so when the kernel made it necessary.
 */
export function attachEach<T, P extends ProbeLink>(
  items: readonly T[],
  attach: (item: T, index: number) => P,
  warning: string | undefined,
): P[] {
  const made: P[] = [];
  try {
    items.forEach((item, i) => made.push(attach(item, i)));
  } catch (err) {
    for (const p of made) p.close();
    throw err;
  }
  if (warning !== undefined) process.emitWarning(warning, { code: MULTI_LINK_FALLBACK });
  return made;
}

/**
 * Why a multi link gives way to single probes (`what`: kprobes, uprobes), or undefined when the
 * multi link is to be made: asked for (`multi`), a session (which single probes cannot be), or a
 * kernel that has the link (`auto`).
 */
export function singleProbesReason(
  mode: MultiMode,
  session: boolean,
  link: Feature,
  what: string,
): string | undefined {
  if (mode === 'multi' || session) return undefined;
  if (mode === 'single') return `single ${what} asked for`;
  return haveFeature(link) ? undefined : notSupportedMessage(link);
}
