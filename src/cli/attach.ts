// `ebpf attach`: attach a loaded program (XDP, tc, tracepoint, raw tracepoint, uprobe, kprobe,
// cgroup) or register a struct_ops map, list links, detach.
import { attachTypeName, linkTypeShortName } from '../exports/constants.js';
import {
  attachCgroup,
  attachKprobe,
  attachRawTracepoint,
  attachTc,
  attachTracepoint,
  attachUprobe,
  attachStructOpsMap,
  attachXdp,
  CGROUP_MODES,
  CgroupProgAttachment,
  Link,
  linkIds,
  parseUprobeTarget,
  PerfEventLink,
  StructOpsLink,
  TC_MODES,
  TcFilter,
  XDP_MODES,
  type Attachment,
  type LinkInfo,
} from '../exports/link.js';
import { EbpfError, SyscallError } from '../index.js';
import { parse, positionals, UsageError, type Args, type Command } from './common.js';
import { openLink, openListed, openMap, openProgram } from './handles.js';

const usage = `usage: ebpf attach xdp PROG DEV [--mode ${XDP_MODES.join('|')}] [--pin PATH]
       ebpf attach tc PROG DEV ingress|egress [--mode ${TC_MODES.join('|')}] [--priority N] [--handle N] [--pin PATH]
       ebpf attach tracepoint PROG CATEGORY/NAME [--pin PATH]
       ebpf attach raw_tp PROG NAME [--pin PATH]
       ebpf attach uprobe PROG BINARY:FUNCTION[+OFFSET] [--retprobe] [--pid N] [--cookie N] [--pin PATH]
       ebpf attach kprobe PROG FUNCTION[+OFFSET] [--retprobe] [--cookie N] [--pin PATH]
       ebpf attach cgroup PROG CGROUP TYPE [--mode ${CGROUP_MODES.join('|')}] [--pin PATH]
       ebpf attach struct_ops MAP [--pin PATH]
       ebpf attach list [-j]
       ebpf attach detach LINK [-j]

  PROG     id N | pinned PATH | name NAME | N | PATH
  LINK     id N | pinned PATH: BPF_LINK_DETACH, and the pin removed
  MAP      id N | pinned PATH: a '.struct_ops.link' map an 'ebpf load --pin-dir' left (its value
           is written at load), registered by a struct_ops link (Linux 6.4)
  BINARY   path, or a program in PATH, or a library (libc.so.6); BINARY:0xOFFSET is a file offset
  TYPE     cgroup hook: ingress, egress, sock_create, connect4, bind4, sendmsg4, sysctl, ...
           (bpftool's names; cgroup_inet_egress and BPF_CGROUP_INET_EGRESS too)
  --pin    pin the link and return (in a bpffs; directories made, bpffs mounted at /sys/fs/bpf
           when none is and you are root); without it the program stays attached until Ctrl-C
           (legacy tc filters are not links: they stay until 'tc filter del'; legacy cgroup
           attachments cannot be pinned)
  -j, --json
           list: bpftool -j link show's fields; attach and detach: one JSON object per event
           ({attached, link, pinnedAt}, {detached})`;

function linkText(i: LinkInfo): string {
  let s = `${i.id}: ${linkTypeShortName(i.type)}  prog ${i.progId}`;
  const extra: string[] = [];
  if (i.ifindex !== undefined) extra.push(`ifindex ${i.ifindex}`);
  if (i.attachType !== undefined) extra.push(`attach_type ${attachTypeName(i.attachType)}`);
  if (extra.length > 0) s += `\n\t${extra.join('  ')}`;
  return s;
}

function linkJson(i: LinkInfo): Record<string, unknown> {
  const o: Record<string, unknown> = { id: i.id, type: linkTypeShortName(i.type), prog_id: i.progId };
  if (i.ifindex !== undefined) o.ifindex = i.ifindex;
  if (i.attachType !== undefined) o.attach_type = attachTypeName(i.attachType);
  return o;
}

function list(a: Args): number {
  positionals(a.positionals, 0, 0, '');
  const infos: LinkInfo[] = [];
  for (const id of linkIds()) {
    using l = openListed(() => Link.fromId(id));
    if (l !== undefined) infos.push(l.info());
  }
  if (a.json) process.stdout.write(JSON.stringify(infos.map(linkJson)) + '\n');
  else for (const i of infos) process.stdout.write(linkText(i) + '\n');
  return 0;
}

function detach(a: Args): number {
  const { link, rest } = openLink(a.positionals);
  using l = link;
  positionals(rest, 0, 0, '');
  const info = l.info();
  const done = (detached: boolean, text: string): number => {
    process.stdout.write(
      a.json ? JSON.stringify({ id: info.id, detached, unpinned: true }) + '\n' : text + '\n',
    );
    return 0;
  };
  try {
    l.detach();
  } catch (err) {
    // perf_event links (kprobes, uprobes, tracepoints) have no BPF_LINK_DETACH: without its
    // pin such a link goes when its last holder closes it, which for a pinned one is now.
    if (!(err instanceof SyscallError && err.code === 'EOPNOTSUPP' && l.pinnedAt !== undefined)) throw err;
    l.unpin();
    return done(
      false,
      `link ${info.id} unpinned (${linkTypeShortName(info.type)} links cannot be detached; it goes with its last holder)`,
    );
  }
  l.unpin();
  return done(true, `link ${info.id} detached`);
}

/** Keeps the attachment until SIGINT or SIGTERM, then takes it off. */
async function hold(att: Attachment, what: string, json: boolean): Promise<number> {
  const link = linkOf(att);
  process.stdout.write(
    json
      ? JSON.stringify({ attached: what, link: link?.info().id ?? null, pinnedAt: null }) + '\n'
      : `${what}; Ctrl-C to detach\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  att.close();
  process.stdout.write(json ? JSON.stringify({ detached: what }) + '\n' : 'detached\n');
  return 0;
}

const linkOf = (att: Attachment): Link | undefined =>
  att instanceof Link ? att : att instanceof PerfEventLink ? att.link : undefined;

const ATTACH_OPTIONS = {
  mode: { type: 'string' },
  pin: { type: 'string' },
  priority: { type: 'string' },
  handle: { type: 'string' },
  pid: { type: 'string' },
  cookie: { type: 'string' },
  retprobe: { type: 'boolean' },
} as const;

/** Options that only some kinds take: any other is a usage error, not silently ignored. */
const KIND_OPTIONS: Record<string, string[]> = {
  xdp: ['mode'],
  tc: ['mode', 'priority', 'handle'],
  tracepoint: [],
  raw_tp: [],
  uprobe: ['retprobe', 'pid', 'cookie'],
  kprobe: ['retprobe', 'cookie'],
  cgroup: ['mode'],
  struct_ops: [],
};

/** A device word: an index or a name. */
const device = (w: string): number | string => (/^\d+$/.test(w) ? Number(w) : w);

async function attach(kind: string, a: Args): Promise<number> {
  for (const o of ['mode', 'priority', 'handle', 'pid', 'cookie', 'retprobe'])
    if (a.has(o) && !KIND_OPTIONS[kind]!.includes(o)) throw new UsageError(`attach ${kind} takes no --${o}`);
  const pin = a.path('pin');
  // Every value is checked before the program is opened or anything attached.
  const modes: Record<string, readonly string[]> = { xdp: XDP_MODES, tc: TC_MODES, cgroup: CGROUP_MODES };
  const mode = modes[kind] !== undefined ? a.choice('mode', modes[kind]) : undefined;
  const priority = a.int('priority', 1, 0xffff);
  const handle = a.int('handle', 1, 0xffffffff);
  const pid = a.int('pid', 1, 0x7fffffff);
  const cookie = a.u64('cookie');
  const retprobe = a.flag('retprobe');
  if (pin !== undefined && mode === 'legacy')
    throw new UsageError(`a legacy ${kind} attachment is not a bpf_link and cannot be pinned`);
  if (kind === 'struct_ops') return attachStructOpsCommand(a, pin);
  const { program: prog, rest: words } = openProgram(a.positionals);
  let att: Attachment;
  let what: string;
  try {
    switch (kind) {
      case 'xdp': {
        const [dev] = positionals(words, 1, 1, 'DEV, the device');
        const xdpMode = (mode ?? 'auto') as (typeof XDP_MODES)[number];
        att = attachXdp(prog, device(dev!), { mode: xdpMode });
        what = `${prog.name} attached to ${dev} by XDP (${xdpMode})`;
        break;
      }
      case 'tc': {
        const [dev, dir] = positionals(words, 2, 2, 'DEV and ingress or egress');
        if (dir !== 'ingress' && dir !== 'egress')
          throw new UsageError(`attach tc: ingress or egress, not '${dir}'`);
        att = attachTc(prog, device(dev!), dir, {
          mode: (mode ?? 'auto') as (typeof TC_MODES)[number],
          ...(priority !== undefined && { priority }),
          ...(handle !== undefined && { handle }),
        });
        what = `${prog.name} attached to ${dev} ${dir} (${att instanceof TcFilter ? 'clsact + cls_bpf' : 'tcx'})`;
        if (att instanceof TcFilter) {
          if (pin !== undefined) {
            // auto fell back to a filter (a kernel without tcx): take it off again.
            att.close();
            throw new EbpfError('this kernel has no tcx links, and a tc filter cannot be pinned');
          }
          process.stdout.write(
            a.json
              ? JSON.stringify({ attached: what, filter: { priority: att.priority, handle: att.handle } }) +
                  '\n'
              : `${what}: filter pref ${att.priority} handle ${att.handle}, stays until removed\n`,
          );
          return 0;
        }
        break;
      }
      case 'tracepoint': {
        const [tp] = positionals(words, 1, 1, 'CATEGORY/NAME, the tracepoint');
        const slash = tp!.indexOf('/');
        if (slash <= 0 || slash === tp!.length - 1)
          throw new UsageError(
            `attach tracepoint: give CATEGORY/NAME (syscalls/sys_enter_openat), not '${tp}'`,
          );
        att = attachTracepoint(prog, tp!.slice(0, slash), tp!.slice(slash + 1));
        what = `${prog.name} attached to tracepoint ${tp}`;
        break;
      }
      case 'raw_tp': {
        const [name] = positionals(words, 0, 1, '');
        att = attachRawTracepoint(prog, name);
        what = `${prog.name} attached to raw tracepoint ${name ?? '(from BTF)'}`;
        break;
      }
      case 'uprobe': {
        const [target] = positionals(words, 1, 1, 'BINARY:FUNCTION[+OFFSET]');
        const t = parseUprobeTarget(target!);
        att = attachUprobe(prog, t.binary, {
          ...(t.symbol !== undefined && { symbol: t.symbol }),
          offset: t.offset,
          retprobe,
          ...(pid !== undefined && { pid }),
          ...(cookie !== undefined && { cookie }),
        });
        what = `${prog.name} attached to ${retprobe ? 'uretprobe' : 'uprobe'} ${target}`;
        break;
      }
      case 'kprobe': {
        const [target] = positionals(words, 1, 1, 'FUNCTION[+OFFSET]');
        const m = /^([^+]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target!);
        if (m === null) throw new UsageError(`attach kprobe: give FUNCTION[+OFFSET], not '${target}'`);
        att = attachKprobe(prog, m[1]!, {
          offset: BigInt(m[2] ?? 0),
          retprobe,
          ...(cookie !== undefined && { cookie }),
        });
        what = `${prog.name} attached to ${retprobe ? 'kretprobe' : 'kprobe'} ${target}`;
        break;
      }
      default: {
        const [cgroup, type] = positionals(words, 2, 2, 'CGROUP and TYPE (egress, connect4, ...)');
        att = attachCgroup(prog, cgroup!, type!, { mode: (mode ?? 'auto') as (typeof CGROUP_MODES)[number] });
        what = `${prog.name} attached to cgroup ${cgroup} ${type}${att instanceof CgroupProgAttachment ? ' (BPF_PROG_ATTACH, multi)' : ''}`;
        break;
      }
    }
  } finally {
    // The attachment holds its own reference to the program.
    prog.close();
  }
  return holdOrPin(att, what, pin, a.json);
}

/** `attach struct_ops MAP`: a struct_ops link on a loaded (pinned) `.struct_ops.link` map. */
function attachStructOpsCommand(a: Args, pin: string | undefined): Promise<number> {
  const { map, rest } = openMap(a.positionals);
  let att: StructOpsLink;
  try {
    positionals(rest, 0, 0, '');
    att = attachStructOpsMap(map.fd, map.name);
  } finally {
    map.close();
  }
  return holdOrPin(att, `struct_ops map '${att.map}' (${att.typeName}) registered`, pin, a.json);
}

async function holdOrPin(
  att: Attachment,
  what: string,
  pin: string | undefined,
  json: boolean,
): Promise<number> {
  if (pin === undefined) return hold(att, what, json);
  try {
    const link = linkOf(att);
    if (link === undefined) throw new EbpfError('this attachment is not a bpf_link and cannot be pinned');
    link.pin(pin);
    const id = link.info().id;
    process.stdout.write(
      json
        ? JSON.stringify({ attached: what, link: id, pinnedAt: pin }) + '\n'
        : `${what}: link ${id} pinned at ${pin}\n`,
    );
  } finally {
    att.close();
  }
  return 0;
}

const KINDS = ['xdp', 'tc', 'tracepoint', 'raw_tp', 'uprobe', 'kprobe', 'cgroup', 'struct_ops'];

export const command: Command = {
  summary:
    'attach programs (xdp, tc, tracepoint, raw_tp, uprobe, kprobe, cgroup) and struct_ops maps, list and detach links',
  usage,
  run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    if (sub === 'list' || (sub?.startsWith('-') ?? false))
      return Promise.resolve(list(parse(sub === 'list' ? rest : args)));
    if (sub === 'detach') return Promise.resolve(detach(parse(rest)));
    if (sub !== undefined && KINDS.includes(sub)) return attach(sub, parse(rest, ATTACH_OPTIONS));
    throw new UsageError(
      sub === undefined
        ? `what to attach? ${KINDS.join(', ')}, or list, detach`
        : `unknown attach kind '${sub}' (${KINDS.join(', ')}, list, detach)`,
    );
  },
};
