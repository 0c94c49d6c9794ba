// Attaching from the section name, as libbpf's bpf_program__attach does: `kprobe/func+off`,
// `uretprobe//proc/self/exe:func`, `usdt/PATH:PROVIDER:NAME`, `uprobe.multi/PATH:GLOB`,
// `uprobe.session/...`, `tp/cat/name`, `raw_tp/name`, `tp_btf/...`, `kprobe.multi/glob`,
// `kprobe.session/glob`, and cgroup hooks (whose cgroup comes from the options, as the section
// cannot name one).
import { readFileSync } from 'node:fs';
import { AttachType, ProgType } from '../constants.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import type { LoadedObject } from '../loader/loaded.js';
import type { ProgramSpec } from '../object/spec.js';
import type { Program } from '../program/program.js';
import { attachCgroup, isCgroupAttachType } from './cgroup.js';
import { attachKprobe, attachKprobeMulti } from './kprobe.js';
import type { Attachment } from './link.js';
import type { Device } from './netdev.js';
import { attachTc } from './tc.js';
import { attachRawTracepoint, attachTracepoint } from './tracepoint.js';
import { attachIter } from './iter.js';
import { attachUprobe } from './uprobe.js';
import { attachUprobeMulti, globRegExp } from './uprobe-multi.js';
import { parseUprobeTarget } from './uprobe-target.js';
import { attachUsdt, parseUsdtTarget } from './usdt.js';
import { attachXdp, type XdpMode } from './xdp.js';
import { checkProgramArgument } from './link.js';
import { checkArgument, checkOptionsArgument } from '../internal/options.js';

export interface AutoAttachOptions {
  /** The cgroup v2 directory for cgroup programs (cgroup_skb/*, cgroup/*, sockops). */
  cgroup?: string;
  /** The network device (name or index) for XDP (`xdp`) and tc (`tc/ingress`, `tcx/egress`) programs. */
  device?: Device;
  /** XDP programs: the mode (default auto). */
  xdpMode?: XdpMode;
  /** uprobes: only this process (default every process). */
  pid?: number;
  /** bpf_cookie for kprobes and uprobes (bpf_get_attach_cookie); for USDT what bpf_usdt_cookie returns. */
  cookie?: bigint;
  /**
   * The loaded object the program belongs to: USDT programs need its spec maps
   * (autoAttachLoaded passes it).
   */
  object?: LoadedObject;
}

/**
 * Kernel functions a kprobe_multi pattern (`*`, `?`) matches: tracefs's available_filter_functions
 * (what can be attached, as libbpf reads it), or the text symbols of /proc/kallsyms where tracefs
 * refuses to be read (lockdown). A name without wildcards is returned as it is.
 */
export function kernelFunctionsMatching(pattern: string): string[] {
  if (!/[*?]/.test(pattern)) return [pattern];
  const re = globRegExp(pattern);
  const out = new Set<string>();
  const add = (name: string | undefined): void => {
    if (name !== undefined && name !== '' && re.test(name)) out.add(name);
  };
  for (const root of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
    let text: string;
    try {
      text = readFileSync(`${root}/available_filter_functions`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) add(line.split(/\s/)[0]);
    return [...out];
  }
  let syms = '';
  try {
    syms = readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return [];
  }
  // address type name [module]: functions are t and T.
  for (const line of syms.split('\n')) {
    const f = line.split(/\s+/);
    if (f[1] === 't' || f[1] === 'T') add(f[2]);
  }
  return [...out];
}

/**
 * What autoAttach needs beyond the section name to attach this program: a network `device`
 * (XDP, tc/tcx with a direction), a `cgroup` directory (cgroup hooks), or nothing (undefined).
 */
export function autoAttachNeeds(spec: ProgramSpec): 'device' | 'cgroup' | undefined {
  // A section libbpf attaches by name alone, or one with no attach type (0 would read as
  // BPF_CGROUP_INET_INGRESS), needs neither.
  if (spec.section === undefined || spec.section.def.autoAttach !== undefined) return undefined;
  if (spec.section.expectedAttachType === undefined) return undefined;
  const a = spec.expectedAttachType;
  if (spec.type === ProgType.XDP && a === AttachType.XDP) return 'device';
  if (spec.type === ProgType.SCHED_CLS && (a === AttachType.TCX_INGRESS || a === AttachType.TCX_EGRESS))
    return 'device';
  if (isCgroupAttachType(a) && a !== AttachType.LSM_CGROUP) return 'cgroup';
  return undefined;
}

const missingTarget = (spec: ProgramSpec, example: string): EbpfError =>
  new EbpfError(`section '${spec.sectionName}' names no attach target (like '${example}')`, {
    program: spec.name,
    section: spec.sectionName,
  });

/**
 * Attaches `program` where its section (`spec`, as read from the object; `attachTo` may have been
 * edited) says. XDP and tc programs attach to `opts.device`, cgroup programs to `opts.cgroup`
 * (autoAttachNeeds tells which a program needs); kinds that need more than that (perf_event needs a
 * perf event, devmap/cpumap XDP programs a map entry) are NotSupportedError: attach those with
 * their own functions.
 */
export function autoAttach(program: Program, spec: ProgramSpec, opts: AutoAttachOptions = {}): Attachment {
  checkProgramArgument('autoAttach', program);
  checkOptionsArgument('autoAttach', opts);
  const section = spec.section;
  const target = spec.attachTo;
  const prefix = section?.def.prefix ?? '';
  const cookie = opts.cookie !== undefined ? { cookie: opts.cookie } : {};
  switch (section?.def.autoAttach) {
    case 'kprobe': {
      if (target === undefined || target === '') throw missingTarget(spec, 'kprobe/do_unlinkat');
      const m = /^([^+]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target);
      if (m === null)
        throw new EbpfError(`kprobe target '${target}' is not function[+offset]`, { program: spec.name });
      return attachKprobe(program, m[1]!, {
        offset: BigInt(m[2] ?? 0),
        retprobe: prefix.startsWith('kretprobe'),
        ...cookie,
      });
    }
    case 'uprobe': {
      if (target === undefined || target === '') throw missingTarget(spec, 'uprobe/libc.so.6:malloc');
      const t = parseUprobeTarget(target);
      return attachUprobe(program, t.binary, {
        ...(t.symbol !== undefined && { symbol: t.symbol }),
        offset: t.offset,
        retprobe: prefix.startsWith('uretprobe'),
        ...(opts.pid !== undefined && { pid: opts.pid }),
        ...cookie,
      });
    }
    case 'usdt': {
      if (target === undefined || target === '')
        throw missingTarget(spec, 'usdt//usr/bin/app:provider:probe');
      if (opts.object === undefined) {
        throw new EbpfError(`'${spec.sectionName}': USDT attach needs the loaded object (autoAttachLoaded)`, {
          program: spec.name,
        });
      }
      const t = parseUsdtTarget(target);
      return attachUsdt(opts.object, spec.name, t.binary, t.provider, t.name, {
        ...(opts.pid !== undefined && { pid: opts.pid }),
        ...cookie,
      });
    }
    case 'tracepoint': {
      const slash = target?.indexOf('/') ?? -1;
      if (target === undefined || slash <= 0) throw missingTarget(spec, 'tp/syscalls/sys_enter_openat');
      return attachTracepoint(program, target.slice(0, slash), target.slice(slash + 1));
    }
    case 'raw_tracepoint':
      if (target === undefined || target === '') throw missingTarget(spec, 'raw_tp/sys_enter');
      return attachRawTracepoint(program, target);
    case 'trace':
    case 'lsm':
      // tp_btf, fentry, fexit, fmod_ret, freplace, lsm: the target was fixed at load (attach_btf_id).
      if (program.type !== ProgType.TRACING && program.type !== ProgType.EXT && program.type !== ProgType.LSM)
        throw new NotSupportedError(`no automatic attach for '${spec.sectionName}'`, { program: spec.name });
      return attachRawTracepoint(program);
    case 'iter':
      // iter/task, iter/bpf_map, ...: the iterator walks everything (no map or task given).
      return attachIter(program);
    case 'kprobe_multi': {
      if (target === undefined || target === '') throw missingTarget(spec, 'kprobe.multi/do_sys_*');
      const symbols = kernelFunctionsMatching(target);
      if (symbols.length === 0)
        throw new EbpfError(`no kernel function matches '${target}'`, { program: spec.name });
      return attachKprobeMulti(program, symbols, { retprobe: prefix.startsWith('kretprobe') });
    }
    case 'kprobe_session': {
      if (target === undefined || target === '') throw missingTarget(spec, 'kprobe.session/do_sys_*');
      const symbols = kernelFunctionsMatching(target);
      if (symbols.length === 0)
        throw new EbpfError(`no kernel function matches '${target}'`, { program: spec.name });
      return attachKprobeMulti(program, symbols, { session: true });
    }
    case 'uprobe_multi': {
      const colon = target?.lastIndexOf(':') ?? -1;
      if (target === undefined || colon <= 0 || colon === target.length - 1)
        throw missingTarget(spec, 'uprobe.multi//usr/bin/app:func_*');
      return attachUprobeMulti(program, target.slice(0, colon), {
        symbols: [target.slice(colon + 1)],
        retprobe: prefix.startsWith('uretprobe'),
        session: prefix.startsWith('uprobe.session'),
        ...(opts.pid !== undefined && { pid: opts.pid }),
      });
    }
    default:
      break;
  }
  switch (autoAttachNeeds(spec)) {
    case 'device': {
      if (opts.device === undefined) {
        throw new EbpfError(`'${spec.sectionName}' attaches to a network device: give the device option`, {
          program: spec.name,
          section: spec.sectionName,
        });
      }
      if (spec.type === ProgType.XDP)
        return attachXdp(program, opts.device, opts.xdpMode !== undefined ? { mode: opts.xdpMode } : {});
      const direction = spec.expectedAttachType === AttachType.TCX_INGRESS ? 'ingress' : 'egress';
      return attachTc(program, opts.device, direction);
    }
    case 'cgroup':
      if (opts.cgroup === undefined) {
        throw new EbpfError(`'${spec.sectionName}' attaches to a cgroup: give the cgroup option`, {
          program: spec.name,
          section: spec.sectionName,
        });
      }
      return attachCgroup(program, opts.cgroup, spec.expectedAttachType);
    default:
      break;
  }
  throw new NotSupportedError(`no automatic attach for section '${spec.sectionName}'`, {
    program: spec.name,
    section: spec.sectionName,
  });
}

/** autoAttach for the program `name` of a loaded object, with the spec it was loaded from. */
export function autoAttachLoaded(obj: LoadedObject, name: string, opts: AutoAttachOptions = {}): Attachment {
  checkArgument(
    'autoAttachLoaded',
    'obj',
    obj,
    'a LoadedObject',
    typeof (obj as { program?: unknown } | null)?.program === 'function' &&
      (obj as { programRecords?: unknown }).programRecords instanceof Map,
  );
  checkArgument('autoAttachLoaded', 'name', name, 'a program name', typeof name === 'string');
  checkOptionsArgument('autoAttachLoaded', opts);
  const program = obj.program(name);
  const spec = obj.programRecords.get(name)!.spec;
  return autoAttach(program, spec, { ...opts, object: obj });
}
