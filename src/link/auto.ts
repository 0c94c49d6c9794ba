// Attaching from the section name, as libbpf's bpf_program__attach does: `kprobe/func+off`,
// `uretprobe//proc/self/exe:func`, `tp/cat/name`, `raw_tp/name`, `tp_btf/...`, `kprobe.multi/glob`,
// and cgroup hooks (whose cgroup comes from the options, as the section cannot name one).
import { readFileSync } from 'node:fs';
import { AttachType, ProgType } from '../constants.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import type { LoadedObject } from '../loader/loaded.js';
import type { ProgramSpec } from '../object/spec.js';
import type { Program } from '../program/program.js';
import { attachCgroup, isCgroupAttachType } from './cgroup.js';
import { attachKprobe, attachKprobeMulti } from './kprobe.js';
import type { Attachment } from './link.js';
import { attachRawTracepoint, attachTracepoint } from './tracepoint.js';
import { attachUprobe } from './uprobe.js';
import { parseUprobeTarget } from './uprobe-target.js';

export interface AutoAttachOptions {
  /** The cgroup v2 directory for cgroup programs (cgroup_skb/*, cgroup/*, sockops). */
  cgroup?: string;
  /** uprobes: only this process (default every process). */
  pid?: number;
  /** bpf_cookie for kprobes and uprobes (bpf_get_attach_cookie). */
  cookie?: bigint;
}

/**
 * Kernel functions a kprobe_multi pattern (`*`, `?`) matches: tracefs's available_filter_functions
 * (what can be attached, as libbpf reads it), or the text symbols of /proc/kallsyms where tracefs
 * refuses to be read (lockdown). A name without wildcards is returned as it is.
 */
export function kernelFunctionsMatching(pattern: string): string[] {
  if (!/[*?]/.test(pattern)) return [pattern];
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
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

const missingTarget = (spec: ProgramSpec, example: string): EbpfError =>
  new EbpfError(`section '${spec.sectionName}' names no attach target (like '${example}')`, {
    program: spec.name,
    section: spec.sectionName,
  });

/**
 * Attaches `program` where its section (`spec`, as read from the object; `attachTo` may have been
 * edited) says. Kinds that need more than a name (XDP and tc need a device, perf_event a perf
 * event) are NotSupportedError: attach those with their own functions.
 */
export function autoAttach(program: Program, spec: ProgramSpec, opts: AutoAttachOptions = {}): Attachment {
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
    case 'kprobe_multi': {
      if (target === undefined || target === '') throw missingTarget(spec, 'kprobe.multi/do_sys_*');
      const symbols = kernelFunctionsMatching(target);
      if (symbols.length === 0)
        throw new EbpfError(`no kernel function matches '${target}'`, { program: spec.name });
      return attachKprobeMulti(program, symbols, { retprobe: prefix.startsWith('kretprobe') });
    }
    default:
      break;
  }
  if (isCgroupAttachType(spec.expectedAttachType) && spec.expectedAttachType !== AttachType.LSM_CGROUP) {
    if (opts.cgroup === undefined) {
      throw new EbpfError(`'${spec.sectionName}' attaches to a cgroup: give the cgroup option`, {
        program: spec.name,
      });
    }
    return attachCgroup(program, opts.cgroup, spec.expectedAttachType);
  }
  throw new NotSupportedError(`no automatic attach for section '${spec.sectionName}'`, {
    program: spec.name,
    section: spec.sectionName,
  });
}

/** autoAttach for the program `name` of a loaded object, with the spec it was loaded from. */
export function autoAttachLoaded(obj: LoadedObject, name: string, opts: AutoAttachOptions = {}): Attachment {
  const program = obj.program(name);
  const spec = obj.programRecords.get(name)!.spec;
  return autoAttach(program, spec, opts);
}
