// Probes of the kernel itself rather than of bpf(2): symbols it defines.
import { existsSync } from 'node:fs';
import { feature } from './feature.js';
import { kallsyms, syscallPrefix } from './kallsyms.js';

// Syscalls entered through per-architecture wrappers taking pt_regs (`__x64_sys_bpf`), which
// changes how a kprobe reads syscall arguments; libbpf's LINUX_HAS_SYSCALL_WRAPPER. libbpf asks by
// creating a kprobe on the wrapper; the symbol's presence answers the same question.
export const SYSCALL_WRAPPER = feature('syscall wrappers (__<arch>_sys_*)', '4.17', () => {
  const pfx = syscallPrefix();
  return pfx !== undefined && kallsyms().has(`__${pfx}_sys_bpf`);
});

/**
 * Whether kprobes can be created: the kprobe PMU (Linux 4.17) or tracefs `kprobe_events`. A
 * kernel built without kprobes has neither, whatever its version.
 */
export function kprobesAvailable(): boolean {
  return [
    '/sys/bus/event_source/devices/kprobe/type',
    '/sys/kernel/tracing/kprobe_events',
    '/sys/kernel/debug/tracing/kprobe_events',
  ].some((p) => existsSync(p));
}
