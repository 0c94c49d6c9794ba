// Tracepoint attachments: raw tracepoints and BTF-typed tp_btf programs (BPF_RAW_TRACEPOINT_OPEN,
// a bpf_link since 5.8), and classic tracepoints through a perf event (perf_event_open, then
// BPF_LINK_CREATE on it since 5.15, or PERF_EVENT_IOC_SET_BPF before).
import { readFileSync } from 'node:fs';
import { AttachType, ProgType } from '../constants.js';
import { EbpfError, NotFoundError } from '../errors.js';
import type { Program } from '../program/program.js';
import { linkCreate, rawTracepointOpen } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import {
  ioctl,
  PERF_EVENT_IOC_ENABLE,
  PERF_EVENT_IOC_SET_BPF,
  PERF_TYPE_TRACEPOINT,
  perfEventOpen,
} from '../sys/perf.js';
import { Link, requireProgramType, type Attachment } from './link.js';
import { checkProgramArgument } from './link.js';

const TRACEFS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

export class RawTracepointLink extends Link {
  /** The tracepoint, or null for a tp_btf program (whose target is in its attach_btf_id). */
  readonly tracepoint: string | null;
  constructor(fd: Fd, tracepoint: string | null) {
    super(fd);
    this.tracepoint = tracepoint;
  }
}

/**
 * Attaches a RAW_TRACEPOINT program to `name` (`sched_switch`), or with no name a program whose
 * target was chosen at load (attach_btf_id): TRACING (tp_btf, fentry, fexit, fmod_ret; Linux 5.5),
 * EXT (freplace, 5.6) or LSM (5.7). Requires Linux 4.17.
 */
export function attachRawTracepoint(program: Program, name?: string): RawTracepointLink {
  checkProgramArgument('attachRawTracepoint', program);
  requireProgramType(
    program,
    'a raw tracepoint, tp_btf, fentry/fexit/fmod_ret, freplace or lsm',
    ProgType.RAW_TRACEPOINT,
    ProgType.RAW_TRACEPOINT_WRITABLE,
    ProgType.TRACING,
    ProgType.EXT,
    ProgType.LSM,
  );
  const raw = program.type === ProgType.RAW_TRACEPOINT || program.type === ProgType.RAW_TRACEPOINT_WRITABLE;
  if (raw && name === undefined)
    throw new EbpfError('a raw tracepoint needs a name', { program: program.name });
  return new RawTracepointLink(rawTracepointOpen(name ?? null, program.fd.fd), name ?? null);
}

/** The id tracefs gives a tracepoint (`syscalls`, `sys_enter_getppid`). */
export function tracepointId(category: string, name: string): number {
  if (!/^[A-Za-z0-9_.-]+$/.test(category) || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new EbpfError(`invalid tracepoint '${category}/${name}'`);
  }
  for (const root of TRACEFS) {
    try {
      return Number.parseInt(readFileSync(`${root}/events/${category}/${name}/id`, 'utf8'), 10);
    } catch {
      // try the next mount point
    }
  }
  throw new NotFoundError(`no tracepoint ${category}/${name} (is tracefs mounted at /sys/kernel/tracing?)`);
}

/** A program on a perf event: owns the event and, where the kernel has them, a bpf_link over it. */
export class PerfEventLink implements Attachment {
  readonly #event: Fd;
  /** The bpf_link (Linux 5.15+); undefined when attached with PERF_EVENT_IOC_SET_BPF. */
  readonly link: Link | undefined;

  constructor(event: Fd, link: Link | undefined) {
    this.#event = event;
    this.link = link;
  }

  /** Closing the event detaches the program; the link, if any, goes with it. */
  detach(): void {
    this.close();
  }

  close(): void {
    this.link?.close();
    this.#event.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Attaches a TRACEPOINT program to `category/name` on every CPU. Requires Linux 4.7. */
export function attachTracepoint(program: Program, category: string, name: string): PerfEventLink {
  checkProgramArgument('attachTracepoint', program);
  requireProgramType(program, 'a tracepoint', ProgType.TRACEPOINT);
  const id = tracepointId(category, name);
  // pid -1, cpu 0: for tracepoints the program runs wherever the tracepoint fires.
  const event = perfEventOpen(
    { type: PERF_TYPE_TRACEPOINT, config: BigInt(id), sample_period: 1n, wakeup_events: 1 },
    -1,
    0,
  );
  try {
    try {
      const fd = linkCreate({
        prog_fd: program.fd.fd,
        target_fd: event.fd,
        attach_type: AttachType.PERF_EVENT,
      });
      return new PerfEventLink(event, new Link(fd));
    } catch (err) {
      // Before 5.15 there are no perf_event links (EINVAL): attach to the event itself.
      if (!(err instanceof SyscallError && err.code === 'EINVAL')) throw err;
    }
    ioctl(event.fd, PERF_EVENT_IOC_SET_BPF, program.fd.fd, 'PERF_EVENT_IOC_SET_BPF');
    ioctl(event.fd, PERF_EVENT_IOC_ENABLE, 0, 'PERF_EVENT_IOC_ENABLE');
    return new PerfEventLink(event, undefined);
  } catch (err) {
    event.close();
    throw err;
  }
}
