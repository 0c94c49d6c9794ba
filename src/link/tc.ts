// tc attachment that picks the mechanism: a tcx link where the kernel has one (6.6+), a clsact
// qdisc with a cls_bpf filter where it does not.
import type { Program } from '../program/program.js';
import { checkChoice, checkOptionsArgument } from '../internal/options.js';
import { NotSupportedError } from '../errors.js';
import { attachTcFilter, type TcFilter, type TcFilterOptions } from './tc-filter.js';
import { attachTcx, checkTcDirection, type TcDirection, type TcxLink, type TcxOptions } from './tcx.js';
import type { Device } from './netdev.js';
import { checkProgramArgument } from './link.js';

export type TcMode = 'auto' | 'tcx' | 'legacy';

/** The tc attach modes, as TcOptions.mode takes them. */
export const TC_MODES: readonly TcMode[] = ['auto', 'tcx', 'legacy'];

export interface TcOptions extends TcxOptions, TcFilterOptions {
  /** tcx: links only; legacy: qdisc and filter only; auto (default): tcx, else legacy. */
  mode?: TcMode;
}

/** Attaches a SCHED_CLS program at a device's ingress or egress. */
export function attachTc(
  program: Program,
  device: Device,
  direction: TcDirection,
  opts: TcOptions = {},
): TcxLink | TcFilter {
  checkProgramArgument('attachTc', program);
  checkOptionsArgument('attachTc', opts);
  const mode = checkChoice('mode', opts.mode, TC_MODES, { program: program.name }) ?? 'auto';
  checkTcDirection(direction, program.name);
  if (mode === 'legacy') return attachTcFilter(program, device, direction, opts);
  try {
    return attachTcx(program, device, direction, opts);
  } catch (err) {
    // Kernels before 6.6 have no tcx (the probe says so before any attempt).
    if (mode === 'auto' && err instanceof NotSupportedError) {
      return attachTcFilter(program, device, direction, opts);
    }
    throw err;
  }
}
