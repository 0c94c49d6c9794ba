// tc attachment on kernels without tcx (before 6.6): a clsact qdisc and a cls_bpf filter in
// direct-action mode. These are made over rtnetlink, which Node cannot speak (it has no AF_NETLINK
// sockets and the native addon deliberately has no socket calls), so this runs iproute2's `tc`.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { EbpfError, NotSupportedError, OptionError } from '../errors.js';
import { ProgType } from '../constants.js';
import type { Program } from '../program/program.js';
import { checkInteger, checkOptionsArgument } from '../internal/options.js';
import { pinObject } from '../sys/bpf.js';
import { requireProgramType, type Attachment } from './link.js';
import { ifindexOf, nameOf, type Device } from './netdev.js';
import { checkTcDirection, type TcDirection } from './tcx.js';
import { checkProgramArgument } from './link.js';

export interface TcFilterOptions {
  /** Filter priority (1..65535): lower runs first. Default 1. */
  priority?: number;
  /** Filter handle within that priority. Default 1. */
  handle?: number;
  /** The `tc` binary; default `tc` from PATH. */
  tc?: string;
}

function tc(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.error !== undefined) {
    throw new NotSupportedError(`cannot run '${bin}' (iproute2) for legacy tc attach: ${r.error.message}`);
  }
  if (r.status !== 0)
    throw new EbpfError(`${bin} ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
  return r.stdout;
}

function hasClsact(bin: string, dev: string): boolean {
  return /\bqdisc clsact\b/.test(tc(bin, ['qdisc', 'show', 'dev', dev]));
}

let pins = 0;

/** A cls_bpf filter on a clsact qdisc; detach() deletes the filter (and the qdisc if it made it). */
export class TcFilter implements Attachment {
  readonly ifindex: number;
  readonly device: string;
  readonly direction: TcDirection;
  readonly priority: number;
  readonly handle: number;
  readonly #tc: string;
  readonly #ownsQdisc: boolean;
  #attached = true;

  constructor(fields: {
    device: string;
    ifindex: number;
    direction: TcDirection;
    priority: number;
    handle: number;
    tc: string;
    ownsQdisc: boolean;
  }) {
    this.ifindex = fields.ifindex;
    this.device = fields.device;
    this.direction = fields.direction;
    this.priority = fields.priority;
    this.handle = fields.handle;
    this.#tc = fields.tc;
    this.#ownsQdisc = fields.ownsQdisc;
  }

  get attached(): boolean {
    return this.#attached;
  }

  /** Deletes the filter, and the clsact qdisc when this filter created it. Idempotent. */
  detach(): void {
    if (!this.#attached) return;
    this.#attached = false;
    const dev = this.device;
    const prio = String(this.priority);
    tc(this.#tc, [
      'filter',
      'del',
      'dev',
      dev,
      this.direction,
      'prio',
      prio,
      'handle',
      String(this.handle),
      'bpf',
    ]);
    if (this.#ownsQdisc) tc(this.#tc, ['qdisc', 'del', 'dev', dev, 'clsact']);
  }

  /** A tc filter is not tied to a descriptor: closing detaches it, so nothing is left behind. */
  close(): void {
    this.detach();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Attaches a SCHED_CLS program as a direct-action cls_bpf filter on a clsact qdisc (made if the
 * device has none). The program is pinned for a moment in /sys/fs/bpf so `tc` can open it.
 */
export function attachTcFilter(
  program: Program,
  device: Device,
  direction: TcDirection,
  opts: TcFilterOptions = {},
): TcFilter {
  checkProgramArgument('attachTcFilter', program);
  checkOptionsArgument('attachTcFilter', opts);
  const at = { program: program.name };
  checkTcDirection(direction, program.name);
  const priority = checkInteger('priority', opts.priority, 1, 0xffff, at) ?? 1;
  const handle = checkInteger('handle', opts.handle, 1, 0xffffffff, at) ?? 1;
  if (opts.tc !== undefined && (typeof opts.tc !== 'string' || opts.tc === ''))
    throw new OptionError('tc', opts.tc, 'the path or name of the tc binary', at);
  requireProgramType(program, 'a tc (SCHED_CLS)', ProgType.SCHED_CLS);
  const ifindex = ifindexOf(device);
  const dev = typeof device === 'string' ? device : nameOf(ifindex);
  const bin = opts.tc ?? 'tc';
  const ownsQdisc = !hasClsact(bin, dev);
  if (ownsQdisc) tc(bin, ['qdisc', 'add', 'dev', dev, 'clsact']);
  const pin = `/sys/fs/bpf/ebpf-tc-${process.pid}-${pins++}`;
  try {
    pinObject(program.fd.fd, pin);
    tc(bin, [
      'filter',
      'add',
      'dev',
      dev,
      direction,
      'prio',
      String(priority),
      'handle',
      String(handle),
      'bpf',
      'direct-action',
      'object-pinned',
      pin,
    ]);
  } catch (err) {
    if (ownsQdisc) spawnSync(bin, ['qdisc', 'del', 'dev', dev, 'clsact']);
    throw err;
  } finally {
    rmSync(pin, { force: true });
  }
  return new TcFilter({ device: dev, ifindex, direction, priority, handle, tc: bin, ownsQdisc });
}
