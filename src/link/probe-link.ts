// ProbeLink: a program on a kprobe or uprobe perf event, with a bpf_link over the event where the
// kernel has one (5.15+: pin, info, bpf_cookie) and PERF_EVENT_IOC_SET_BPF before. Also the dynamic
// PMUs' sysfs description (type number, format bits) that such events are opened with.
import { readFileSync } from 'node:fs';
import { AttachType } from '../constants.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import type { Program } from '../program/program.js';
import { linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { ioctl, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF } from '../sys/perf.js';
import { Link, type LinkInfo } from './link.js';
import { PerfEventLink } from './tracepoint.js';

const PMU_DIR = '/sys/bus/event_source/devices';

/** The type number of dynamic PMU `pmu` (`kprobe`, `uprobe`), or undefined when the kernel has none. */
export function pmuType(pmu: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(`${PMU_DIR}/${pmu}/type`, 'utf8');
  } catch {
    return undefined;
  }
  const n = Number.parseInt(text, 10);
  return Number.isInteger(n) ? n : undefined;
}

/**
 * The first bit of `field` in the PMU's `config` word, from its sysfs format file (`config:0`
 * for retprobe, `config:32-63` for a uprobe's ref_ctr_offset).
 */
export function pmuConfigBit(pmu: string, field: string): number {
  const path = `${PMU_DIR}/${pmu}/format/${field}`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new NotSupportedError(`${pmu} PMU has no '${field}' format (${path})`, {}, { cause: err });
  }
  const m = /^config:(\d+)(?:-\d+)?\s*$/.exec(text);
  if (m === null) throw new NotSupportedError(`cannot read ${path}: '${text.trim()}'`);
  return Number(m[1]);
}

/**
 * A program attached to a probe's perf event. Closing it detaches: the link and the event are
 * closed. Pinned, the link (and through it the event) outlives this process.
 */
export class ProbeLink extends PerfEventLink {
  readonly #event: Fd;
  #pinnedAt: string | undefined;

  constructor(event: Fd, link: Link | undefined) {
    super(event, link);
    this.#event = event;
  }

  /** The bpf_link's descriptor, or the perf event's when attached with PERF_EVENT_IOC_SET_BPF. */
  get fd(): Fd {
    if (this.#event.closed) throw new EbpfError('link is closed');
    return this.link?.fd ?? this.#event;
  }

  get closed(): boolean {
    return this.#event.closed;
  }

  get pinnedAt(): string | undefined {
    return this.#pinnedAt;
  }

  #requireLink(what: string): Link {
    if (this.link === undefined)
      throw new NotSupportedError(`${what} needs a perf_event bpf_link (Linux 5.15); attached without one`);
    return this.link;
  }

  /** BPF_OBJ_GET_INFO_BY_FD on the link (type BPF_LINK_TYPE_PERF_EVENT). */
  info(): LinkInfo {
    return this.#requireLink('link info').info();
  }

  /** Pins the link: the probe stays after this process exits, until the pin is removed. */
  pin(path: string): void {
    this.#requireLink('pinning').pin(path);
    this.#pinnedAt = path;
  }

  unpin(): void {
    this.link?.unpin();
    this.#pinnedAt = undefined;
  }

  /**
   * Takes the program off the probe: perf_event links have no BPF_LINK_DETACH, so this removes
   * the pin this handle made and closes; other holders (pins made elsewhere, fds) keep it on.
   */
  override detach(): void {
    this.unpin();
    this.close();
  }
}

/**
 * Runs `program` on perf event `event` through a bpf_link carrying `cookie` (bpf_get_attach_cookie),
 * or, on kernels without perf_event links and with no cookie asked for, PERF_EVENT_IOC_SET_BPF.
 * On failure the event is left open for the caller to close.
 */
export function attachToPerfEvent(program: Program, event: Fd, cookie: bigint): Link | undefined {
  try {
    const fd = linkCreate({
      prog_fd: program.fd.fd,
      target_fd: event.fd,
      attach_type: AttachType.PERF_EVENT,
      ...(cookie !== 0n && { perf_event_bpf_cookie: cookie }),
    });
    return new Link(fd);
  } catch (err) {
    // Before 5.15 there are no perf_event links (EINVAL).
    if (!(err instanceof SyscallError && err.code === 'EINVAL')) throw err;
    if (cookie !== 0n) {
      throw new NotSupportedError('a bpf_cookie needs perf_event links (Linux 5.15)', {
        program: program.name,
      });
    }
  }
  ioctl(event.fd, PERF_EVENT_IOC_SET_BPF, program.fd.fd, 'PERF_EVENT_IOC_SET_BPF');
  ioctl(event.fd, PERF_EVENT_IOC_ENABLE, 0, 'PERF_EVENT_IOC_ENABLE');
  return undefined;
}
