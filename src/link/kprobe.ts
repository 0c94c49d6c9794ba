// kprobes and kretprobes: a KPROBE program run at a kernel function's entry (or return), through the
// kprobe PMU's perf event (Linux 4.17; bpf_link and bpf_cookie 5.15), and many functions at once
// through a kprobe_multi link (BPF_TRACE_KPROBE_MULTI, Linux 5.18, needs CONFIG_FPROBE), which also
// carries kprobe sessions (BPF_TRACE_KPROBE_SESSION, Linux 6.10).
import { AttachType, ProgType } from '../constants.js';
import { EbpfError, NotFoundError, NotSupportedError } from '../errors.js';
import {
  checkBoolean,
  checkChoice,
  checkOffset,
  checkOptionsArgument,
  checkU64,
} from '../internal/options.js';
import { haveFeature, notSupportedMessage } from '../features/feature.js';
import { attachEach, MULTI_MODES, ProbeGroup, singleProbesReason, type MultiMode } from './probe-group.js';
import { KPROBE_MULTI_LINK, KPROBE_SESSION } from '../features/links.js';
import type { Program } from '../program/program.js';
import { linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { cStringPointers, perfEventOpenProbe } from '../sys/probe-event.js';
import { Link, requireProgramType } from './link.js';
import { attachToPerfEvent, pmuConfigBit, pmuType, ProbeLink } from './probe-link.js';
import { checkProgramArgument } from './link.js';

/** BPF_F_KPROBE_MULTI_RETURN: a kprobe_multi link whose program runs on return. */
export const BPF_F_KPROBE_MULTI_RETURN = 1;

export interface KprobeOptions {
  /** Bytes past the function's start (kprobes only; must be an instruction boundary). */
  offset?: number | bigint;
  /** Run when the function returns. */
  retprobe?: boolean;
  /** What bpf_get_attach_cookie returns in the program. Requires Linux 5.15. */
  cookie?: bigint;
}

export class KprobeLink extends ProbeLink {
  readonly symbol: string;
  readonly offset: bigint;
  readonly retprobe: boolean;

  constructor(event: Fd, link: Link | undefined, symbol: string, offset: bigint, retprobe: boolean) {
    super(event, link);
    this.symbol = symbol;
    this.offset = offset;
    this.retprobe = retprobe;
  }
}

const unavailable = (why: string, program: string): NotSupportedError =>
  new NotSupportedError(`kprobes unavailable: ${why}`, { program });

/**
 * Attaches a KPROBE program to kernel function `symbol` (as in /proc/kallsyms). A kernel without
 * kprobes (no kprobe PMU: CONFIG_KPROBE_EVENTS off) gives NotSupportedError "kprobes unavailable";
 * an unknown function NotFoundError.
 */
export function attachKprobe(program: Program, symbol: string, opts: KprobeOptions = {}): KprobeLink {
  checkProgramArgument('attachKprobe', program);
  checkOptionsArgument('attachKprobe', opts);
  const at = { program: program.name };
  const retprobe = checkBoolean('retprobe', opts.retprobe, at) ?? false;
  const offset = checkOffset('offset', opts.offset, at) ?? 0n;
  checkU64('cookie', opts.cookie, at);
  requireProgramType(program, 'a kprobe', ProgType.KPROBE);
  const type = pmuType('kprobe');
  if (type === undefined) {
    throw unavailable(
      'this kernel has no kprobe PMU (/sys/bus/event_source/devices/kprobe; CONFIG_KPROBE_EVENTS is off)',
      program.name,
    );
  }
  const config = retprobe ? 1n << BigInt(pmuConfigBit('kprobe', 'retprobe')) : 0n;
  let event: Fd;
  try {
    event = perfEventOpenProbe({ type, config, name: symbol, offset }, -1, 0);
  } catch (err) {
    if (err instanceof SyscallError) {
      if (err.code === 'ENOENT')
        throw new NotFoundError(`no kernel function '${symbol}' to probe`, { program: program.name });
      if (err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUPP')
        throw unavailable(`perf_event_open on the kprobe PMU: ${err.code}`, program.name);
    }
    throw err;
  }
  try {
    const link = attachToPerfEvent(program, event, opts.cookie ?? 0n);
    return new KprobeLink(event, link, symbol, offset, retprobe);
  } catch (err) {
    event.close();
    throw err;
  }
}

/** attachKprobe with `retprobe: true`. */
export function attachKretprobe(
  program: Program,
  symbol: string,
  opts: Omit<KprobeOptions, 'retprobe'> = {},
): KprobeLink {
  checkProgramArgument('attachKretprobe', program);
  checkOptionsArgument('attachKretprobe', opts);
  return attachKprobe(program, symbol, { ...opts, retprobe: true });
}

export interface KprobeMultiOptions {
  retprobe?: boolean;
  /**
   * A kprobe session (section `kprobe.session`, BPF_TRACE_KPROBE_SESSION, Linux 6.10): the program
   * runs at entry and, when it returned 0 there, again at return (bpf_session_is_return()).
   */
  session?: boolean;
  /** One cookie per symbol, in the same order. */
  cookies?: readonly bigint[];
  /**
   * auto (default): one kprobe_multi link where the kernel has them (Linux 5.18 with
   * CONFIG_FPROBE), else one kprobe per function, with a warning (process.emitWarning, code
   * EBPF_MULTI_LINK_FALLBACK); multi: the link or an error; single: one kprobe per function.
   * Single kprobes need the program loaded for them, which the loader does on kernels without
   * kprobe_multi links (or with LoaderFeatures.kprobeMultiLink false). Sessions have no fallback.
   */
  mode?: MultiMode;
}

/** A kprobe_multi link's stand-in: one kprobe per function. */
export class KprobeGroup extends ProbeGroup<KprobeLink> {
  readonly symbols: readonly string[];
  readonly retprobe: boolean;
  readonly session = false;

  constructor(probes: KprobeLink[], reason: string, symbols: readonly string[], retprobe: boolean) {
    super(probes, reason);
    this.symbols = symbols;
    this.retprobe = retprobe;
  }
}

export class KprobeMultiLink extends Link {
  readonly symbols: readonly string[];
  readonly retprobe: boolean;
  readonly session: boolean;

  constructor(fd: Fd, symbols: readonly string[], retprobe: boolean, session = false) {
    super(fd);
    this.symbols = symbols;
    this.retprobe = retprobe;
    this.session = session;
  }
}

/**
 * Attaches a KPROBE program loaded with expected attach type BPF_TRACE_KPROBE_MULTI (section
 * `kprobe.multi/...`) to every function in `symbols` through one link (Linux 5.18 with
 * CONFIG_FPROBE), or without one kprobe per function (KprobeGroup, see `mode`). Sessions need the
 * link: without it a NotSupportedError naming what is missing.
 */
export function attachKprobeMulti(
  program: Program,
  symbols: readonly string[],
  opts: KprobeMultiOptions = {},
): KprobeMultiLink | KprobeGroup {
  checkProgramArgument('attachKprobeMulti', program);
  checkOptionsArgument('attachKprobeMulti', opts);
  checkBoolean('retprobe', opts.retprobe, { program: program.name });
  for (const c of opts.cookies ?? []) checkU64('cookies', c, { program: program.name });
  requireProgramType(program, 'a kprobe', ProgType.KPROBE);
  if (symbols.length === 0)
    throw new EbpfError('kprobe_multi: no functions given', { program: program.name });
  if (opts.cookies !== undefined && opts.cookies.length !== symbols.length) {
    throw new EbpfError(`kprobe_multi: ${opts.cookies.length} cookies for ${symbols.length} functions`, {
      program: program.name,
    });
  }
  const retprobe = opts.retprobe ?? false;
  const session = opts.session ?? false;
  if (session && retprobe)
    throw new EbpfError('kprobe_multi: a session is not a retprobe', { program: program.name });
  const mode = checkChoice('mode', opts.mode, MULTI_MODES, { program: program.name }) ?? 'auto';
  const reason = singleProbesReason(mode, session, KPROBE_MULTI_LINK, 'kprobes');
  if (reason !== undefined) {
    const probes = attachEach(
      symbols,
      (symbol, i) =>
        attachKprobe(program, symbol, {
          retprobe,
          ...(opts.cookies !== undefined && { cookie: opts.cookies[i]! }),
        }),
      mode === 'single'
        ? undefined
        : `prog '${program.name}': ${reason}; attached ${symbols.length} kprobe${symbols.length === 1 ? '' : 's'}, one per function`,
    );
    return new KprobeGroup(probes, reason, [...symbols], retprobe);
  }
  const { pointers, keep } = cStringPointers(symbols);
  try {
    const fd = linkCreate(
      {
        prog_fd: program.fd.fd,
        attach_type: session ? AttachType.TRACE_KPROBE_SESSION : AttachType.TRACE_KPROBE_MULTI,
        kprobe_multi_flags: retprobe ? BPF_F_KPROBE_MULTI_RETURN : 0,
        kprobe_multi_cnt: symbols.length,
      },
      {
        kprobe_multi_syms: pointers,
        ...(opts.cookies !== undefined && { kprobe_multi_cookies: new BigUint64Array(opts.cookies) }),
      },
    );
    return new KprobeMultiLink(fd, [...symbols], retprobe, session);
  } catch (err) {
    if (err instanceof SyscallError) {
      // EOPNOTSUPP: built without CONFIG_FPROBE; EINVAL: also a kernel before 5.18, which does
      // not know the attach type. The probe tells them apart from a bad argument.
      const what = session
        ? 'BPF_TRACE_KPROBE_SESSION links (Linux 6.10)'
        : 'BPF_TRACE_KPROBE_MULTI links (Linux 5.18)';
      if (['EOPNOTSUPP', 'ENOTSUPP', 'EINVAL'].includes(err.code) && !haveFeature(KPROBE_MULTI_LINK)) {
        const why = notSupportedMessage(KPROBE_MULTI_LINK);
        throw new NotSupportedError(session ? `${what} ride on kprobe_multi links: ${why}` : why, {
          program: program.name,
        });
      }
      // kprobe_multi links but no sessions yet (5.18 to 6.9): EINVAL, or EBADF from the perf link
      // the kernel takes an unknown KPROBE attach type for.
      if (session && ['EINVAL', 'EBADF'].includes(err.code) && !haveFeature(KPROBE_SESSION))
        throw new NotSupportedError(notSupportedMessage(KPROBE_SESSION), { program: program.name });
      if (err.code === 'EOPNOTSUPP' || err.code === 'ENOTSUPP')
        throw unavailable(`${what}: ${err.code} (needs CONFIG_FPROBE)`, program.name);
      if (err.code === 'EINVAL' && pmuType('kprobe') === undefined)
        throw unavailable(`${what}: EINVAL, and this kernel has no kprobe PMU either`, program.name);
      if (err.code === 'ESRCH' || err.code === 'ENOENT')
        throw new NotFoundError(`kprobe_multi: a function of ${symbols.join(', ')} is not in the kernel`, {
          program: program.name,
        });
    }
    throw err;
  } finally {
    void keep;
  }
}
