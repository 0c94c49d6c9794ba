// perf_event_open for the kprobe and uprobe PMUs, whose perf_event_attr carries a user pointer (to
// the binary's path or the kernel function's name), and C string pointer arrays for bpf_attr.
import { PERF_EVENT_ATTR, writePerfEventAttr } from './bpf-attr.generated.js';
import { cString } from './bpf.js';
import type { Fd } from './fd.js';
import { native } from './native.js';
import { perfEventOpen } from './perf.js';

export interface ProbeEventAttr {
  /** The PMU's type, from /sys/bus/event_source/devices/<pmu>/type. */
  type: number;
  /** config bits: the retprobe bit, a uprobe's ref_ctr_offset. */
  config: bigint;
  /** config1 points at this string (uprobe: binary path; kprobe: function name); null stores 0. */
  name: string | null;
  /** config2: offset in the file (uprobe) or from the function, or an address with no name (kprobe). */
  offset: bigint;
}

/**
 * Opens a kprobe or uprobe perf event, one sample per hit. pid -1 with cpu 0 traces every process
 * (such a probe runs its program wherever it fires); a pid with cpu -1 traces that process only.
 */
export function perfEventOpenProbe(attr: ProbeEventAttr, pid: number, cpu: number): Fd {
  const name = attr.name === null ? null : cString(attr.name);
  const bytes = new Uint8Array(PERF_EVENT_ATTR.size);
  writePerfEventAttr(new DataView(bytes.buffer), {
    type: attr.type,
    size: PERF_EVENT_ATTR.size,
    config: attr.config,
    config1: name === null ? 0n : native().addressOf(name),
    config2: attr.offset,
    sample_period: 1n,
    wakeup_events: 1,
  });
  const fd = perfEventOpen(bytes, pid, cpu);
  // `name` must outlive the call: the kernel copies the string during perf_event_open.
  void name;
  return fd;
}

/** An array of C string pointers (char **), and the strings it points to, to be kept alive with it. */
export function cStringPointers(strings: readonly string[]): {
  pointers: BigUint64Array;
  keep: Uint8Array[];
} {
  const keep = strings.map(cString);
  const pointers = new BigUint64Array(keep.map((s) => native().addressOf(s)));
  return { pointers, keep };
}
