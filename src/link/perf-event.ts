// perf_event programs: a PERF_EVENT program run on every overflow of a perf event (a sample),
// opened per CPU for the whole system or for one process. Hardware events need a PMU the machine
// (or VM) exposes; software events (cpu-clock, context switches, page faults) always exist.
// Requires Linux 4.9; a bpf_link over each event 5.15.
import { readSync } from 'node:fs';
import { ProgType } from '../constants.js';
import { EbpfError } from '../errors.js';
import type { Program } from '../program/program.js';
import { readCpuList } from '../sys/cpus.js';
import type { Fd } from '../sys/fd.js';
import {
  ioctl,
  perfEventOpen,
  PERF_EVENT_IOC_DISABLE,
  PERF_EVENT_IOC_ENABLE,
  PERF_TYPE_SOFTWARE,
} from '../sys/perf.js';
import { requireProgramType, type Attachment } from './link.js';
import { attachToPerfEvent } from './probe-link.js';
import { PerfEventLink } from './tracepoint.js';
import { checkProgramArgument } from './link.js';
import { checkOptionsArgument } from '../internal/options.js';

/** perf_event_attr.config for PERF_TYPE_SOFTWARE (enum perf_sw_ids). */
export const PerfSwEvent = {
  CPU_CLOCK: 0,
  TASK_CLOCK: 1,
  PAGE_FAULTS: 2,
  CONTEXT_SWITCHES: 3,
  CPU_MIGRATIONS: 4,
  PAGE_FAULTS_MIN: 5,
  PAGE_FAULTS_MAJ: 6,
} as const;
/** perf_event_attr.type for hardware events. */
export const PERF_TYPE_HARDWARE = 0;

export interface PerfEventOptions {
  /** PERF_TYPE_SOFTWARE (default), PERF_TYPE_HARDWARE, or a PMU's type number. */
  type?: number;
  /** The event within the type (default PerfSwEvent.CPU_CLOCK). */
  config?: bigint | number;
  /** Run the program every N events (default 1), or ... */
  samplePeriod?: bigint;
  /** ... about this many times per second (sample_freq). */
  frequency?: number;
  /** Only this process (then one event for all CPUs); default every process, one event per CPU. */
  pid?: number;
  /** The CPUs (default every online CPU; with `pid`, any CPU). */
  cpus?: readonly number[];
}

/** One perf event per CPU (or one for a process) with the program on each. */
export class PerfEventAttachment implements Attachment {
  readonly events: readonly PerfEventLink[];
  /** The CPU of each event (-1: any CPU, for a process). */
  readonly cpus: readonly number[];
  readonly #fds: readonly Fd[];

  constructor(events: PerfEventLink[], fds: Fd[], cpus: number[]) {
    this.events = events;
    this.#fds = fds;
    this.cpus = cpus;
  }

  /** Stops the events counting (PERF_EVENT_IOC_DISABLE) without detaching. */
  disable(): void {
    for (const fd of this.#fds)
      if (!fd.closed) ioctl(fd.fd, PERF_EVENT_IOC_DISABLE, 0, 'PERF_EVENT_IOC_DISABLE');
  }

  /** How many events each perf event counted (its counter, read from the descriptor). */
  counts(): bigint[] {
    return this.#fds.map((fd) => {
      const b = new BigUint64Array(1);
      readFd(fd.fd, new Uint8Array(b.buffer));
      return b[0]!;
    });
  }

  detach(): void {
    this.close();
  }

  close(): void {
    for (const e of this.events) e.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function readFd(fd: number, into: Uint8Array): void {
  const n = readSync(fd, into, 0, into.length, null);
  if (n !== into.length) throw new EbpfError(`perf event read gave ${n} bytes, not ${into.length}`);
}

/**
 * Attaches a PERF_EVENT program to a perf event on each online CPU (or on process `pid`),
 * sampling every `samplePeriod` events or at `frequency` Hz.
 */
export function attachPerfEvent(program: Program, opts: PerfEventOptions = {}): PerfEventAttachment {
  checkProgramArgument('attachPerfEvent', program);
  checkOptionsArgument('attachPerfEvent', opts);
  requireProgramType(program, 'a perf_event', ProgType.PERF_EVENT);
  if (opts.samplePeriod !== undefined && opts.frequency !== undefined)
    throw new EbpfError('perf_event: give samplePeriod or frequency, not both', { program: program.name });
  const cpus = opts.pid !== undefined ? [...(opts.cpus ?? [-1])] : [...(opts.cpus ?? readCpuList('online'))];
  const events: PerfEventLink[] = [];
  const fds: Fd[] = [];
  try {
    for (const cpu of cpus) {
      const fd = perfEventOpen(
        {
          type: opts.type ?? PERF_TYPE_SOFTWARE,
          // Opened disabled and enabled once the program is on, so the counter and the program
          // see the same events.
          disabled: 1,
          config: BigInt(opts.config ?? PerfSwEvent.CPU_CLOCK),
          ...(opts.frequency !== undefined
            ? { sample_freq: BigInt(opts.frequency), freq: 1 }
            : { sample_period: opts.samplePeriod ?? 1n }),
        },
        opts.pid ?? -1,
        cpu,
      );
      try {
        const link = attachToPerfEvent(program, fd, 0n);
        events.push(new PerfEventLink(fd, link));
        fds.push(fd);
      } catch (err) {
        fd.close();
        throw err;
      }
    }
    for (const fd of fds) ioctl(fd.fd, PERF_EVENT_IOC_ENABLE, 0, 'PERF_EVENT_IOC_ENABLE');
  } catch (err) {
    for (const e of events) e.close();
    throw err;
  }
  return new PerfEventAttachment(events, fds, cpus);
}
