// perf_event_open(2) and ioctl(2): the descriptors kprobes, uprobes, tracepoints and perf
// buffers are built on.
import { PERF_EVENT_ATTR, writePerfEventAttr, type PerfEventAttr } from './bpf-attr.generated.js';
import { Fd } from './fd.js';
import { SyscallError } from './error.js';
import { native, type Bytes } from './native.js';

/** PERF_FLAG_FD_CLOEXEC: every descriptor this library opens is close-on-exec. */
export const PERF_FLAG_FD_CLOEXEC = 1 << 3;

// uapi linux/perf_event.h: the perf_event_attr values and ioctls that BPF attachments and perf
// buffers use. #defines and enums without BTF names the generator could take, so kept here.
/** perf_event_attr.type */
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_TYPE_TRACEPOINT = 2;
/** perf_event_attr.config for PERF_TYPE_SOFTWARE: the event bpf_perf_event_output writes to. */
export const PERF_COUNT_SW_BPF_OUTPUT = 10;
/** perf_event_attr.sample_type */
export const PERF_SAMPLE_RAW = 1 << 10;
/** _IO('$', 0) */
export const PERF_EVENT_IOC_ENABLE = 0x2400;
/** _IO('$', 1) */
export const PERF_EVENT_IOC_DISABLE = 0x2401;
/** _IOW('$', 8, __u32): attaches a BPF program to the event (before BPF_LINK_CREATE on perf events). */
export const PERF_EVENT_IOC_SET_BPF = 0x40042408;

/**
 * Opens a perf event described by struct perf_event_attr, given as fields (size is filled in) or
 * as raw bytes; PERF_FLAG_FD_CLOEXEC is always added.
 */
export function perfEventOpen(
  attr: PerfEventAttr | Uint8Array,
  pid: number,
  cpu: number,
  groupFd = -1,
  flags = 0,
): Fd {
  let bytes: Uint8Array;
  if (attr instanceof Uint8Array) {
    bytes = attr;
  } else {
    bytes = new Uint8Array(PERF_EVENT_ATTR.size);
    writePerfEventAttr(new DataView(bytes.buffer), { ...attr, size: PERF_EVENT_ATTR.size });
  }
  const r = native().perfEventOpen(bytes, pid, cpu, groupFd, flags | PERF_FLAG_FD_CLOEXEC);
  if (r < 0) throw new SyscallError('perf_event_open', -r);
  return new Fd(r);
}

/** ioctl(fd, request, arg): arg is an integer or a buffer passed by address. */
export function ioctl(fd: number, request: number, arg: number | bigint | Bytes = 0, name = 'ioctl'): number {
  const r = native().ioctl(fd, request, arg);
  if (r < 0) throw new SyscallError(name, -r);
  return r;
}
