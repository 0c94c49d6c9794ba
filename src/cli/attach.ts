// `ebpf attach`: attach a loaded program (XDP, tc, tracepoint, raw tracepoint, uprobe, kprobe,
// cgroup), list links, detach.
import { attachTypeName, linkTypeShortName } from '../constants.js';
import { EbpfError } from '../errors.js';
import { attachCgroup, CgroupProgAttachment } from '../link/cgroup.js';
import { attachKprobe } from '../link/kprobe.js';
import { Link, linkIds, type Attachment, type LinkInfo } from '../link/link.js';
import { attachTc } from '../link/tc.js';
import { TcFilter } from '../link/tc-filter.js';
import { attachRawTracepoint, attachTracepoint, PerfEventLink } from '../link/tracepoint.js';
import { attachUprobe } from '../link/uprobe.js';
import { parseUprobeTarget } from '../link/uprobe-target.js';
import { attachXdp, type XdpMode } from '../link/xdp.js';
import type { Program } from '../program/program.js';
import { SyscallError } from '../sys/error.js';
import { parseArgs } from './args.js';
import { openListed } from './listed.js';
import type { Command } from './main.js';
import { openProgram } from './prog.js';

const usage = `usage: ebpf attach xdp PROG DEV [--mode auto|generic|driver|offload] [--pin PATH]
       ebpf attach tc PROG DEV ingress|egress [--mode auto|tcx|legacy] [--priority N] [--handle N] [--pin PATH]
       ebpf attach tracepoint PROG CATEGORY/NAME [--pin PATH]
       ebpf attach raw_tp PROG NAME [--pin PATH]
       ebpf attach uprobe PROG BINARY:FUNCTION[+OFFSET] [--retprobe] [--pid N] [--cookie N] [--pin PATH]
       ebpf attach kprobe PROG FUNCTION[+OFFSET] [--retprobe] [--cookie N] [--pin PATH]
       ebpf attach cgroup PROG CGROUP TYPE [--mode auto|link|legacy] [--pin PATH]
       ebpf attach list [--json]
       ebpf attach detach LINK

  PROG     id N | pinned PATH | name NAME | N | PATH
  LINK     id N | pinned PATH: BPF_LINK_DETACH, and the pin removed
  BINARY   path, or a program in PATH, or a library (libc.so.6); BINARY:0xOFFSET is a file offset
  TYPE     cgroup hook: ingress, egress, sock_create, connect4, bind4, sendmsg4, sysctl, ...
           (bpftool's names; cgroup_inet_egress and BPF_CGROUP_INET_EGRESS too)
  --pin    pin the link and return; without it the program stays attached until Ctrl-C
           (legacy tc filters are not links: they stay until 'tc filter del'; legacy cgroup
           attachments cannot be pinned)`;

/** Splits `PROG rest...`: PROG is one word, or two after id / pinned / name. */
function splitProgram(words: string[]): [Program, string[]] {
  const n = words[0] === 'id' || words[0] === 'pinned' || words[0] === 'name' ? 2 : 1;
  if (words.length < n) throw new EbpfError('which program? give id N, pinned PATH or name NAME');
  return [openProgram(words.slice(0, n)), words.slice(n)];
}

function int(s: string | undefined, what: string): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) throw new EbpfError(`--${what} wants a number, not '${s}'`);
  return n;
}

function bigint(s: string | undefined, what: string): bigint | undefined {
  if (s === undefined) return undefined;
  try {
    return BigInt(s);
  } catch {
    throw new EbpfError(`--${what} wants a number, not '${s}'`);
  }
}

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

function list(asJson: boolean): number {
  const infos: LinkInfo[] = [];
  for (const id of linkIds()) {
    using l = openListed(() => Link.fromId(id));
    if (l !== undefined) infos.push(l.info());
  }
  if (asJson) process.stdout.write(JSON.stringify(infos.map(linkJson)) + '\n');
  else for (const i of infos) process.stdout.write(linkText(i) + '\n');
  return 0;
}

function detach(words: string[]): number {
  const [kind, value] = words;
  let link: Link;
  if (kind === 'id' && value !== undefined) link = Link.fromId(Number(value));
  else if (kind === 'pinned' && value !== undefined) link = Link.fromPin(value);
  else if (kind !== undefined && /^\d+$/.test(kind)) link = Link.fromId(Number(kind));
  else if (kind?.startsWith('/') === true) link = Link.fromPin(kind);
  else throw new EbpfError('which link? give id N or pinned PATH');
  try {
    const info = link.info();
    try {
      link.detach();
    } catch (err) {
      // perf_event links (kprobes, uprobes, tracepoints) have no BPF_LINK_DETACH: without its
      // pin such a link goes when its last holder closes it, which for a pinned one is now.
      if (!(err instanceof SyscallError && err.code === 'EOPNOTSUPP' && link.pinnedAt !== undefined))
        throw err;
      link.unpin();
      process.stdout.write(
        `link ${info.id} unpinned (${linkTypeShortName(info.type)} links cannot be detached; it goes with its last holder)\n`,
      );
      return 0;
    }
    link.unpin();
    process.stdout.write(`link ${info.id} detached\n`);
  } finally {
    link.close();
  }
  return 0;
}

/** Keeps the attachment until SIGINT or SIGTERM, then takes it off. */
async function hold(a: Attachment, what: string): Promise<number> {
  process.stdout.write(`${what}; Ctrl-C to detach\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  a.close();
  process.stdout.write('detached\n');
  return 0;
}

async function attach(kind: string, rest: string[]): Promise<number> {
  const a = parseArgs(rest, ['mode', 'pin', 'priority', 'handle', 'pid', 'cookie'], ['retprobe']);
  const [prog, words] = splitProgram(a.positionals);
  const pin = a.options.get('pin');
  let att: Attachment;
  let what: string;
  try {
    switch (kind) {
      case 'xdp': {
        const dev = words[0];
        if (dev === undefined) throw new EbpfError('attach xdp: which device?');
        const mode = (a.options.get('mode') ?? 'auto') as XdpMode;
        if (!['auto', 'generic', 'driver', 'offload'].includes(mode))
          throw new EbpfError(`unknown XDP mode '${mode}'`);
        att = attachXdp(prog, /^\d+$/.test(dev) ? Number(dev) : dev, { mode });
        what = `${prog.name} attached to ${dev} by XDP (${mode})`;
        break;
      }
      case 'tc': {
        const [dev, dir] = words;
        if (dev === undefined || (dir !== 'ingress' && dir !== 'egress')) {
          throw new EbpfError('attach tc: give a device and ingress or egress');
        }
        const mode = a.options.get('mode') ?? 'auto';
        if (mode !== 'auto' && mode !== 'tcx' && mode !== 'legacy')
          throw new EbpfError(`unknown tc mode '${mode}'`);
        const priority = int(a.options.get('priority'), 'priority');
        const handle = int(a.options.get('handle'), 'handle');
        att = attachTc(prog, /^\d+$/.test(dev) ? Number(dev) : dev, dir, {
          mode,
          ...(priority !== undefined && { priority }),
          ...(handle !== undefined && { handle }),
        });
        what = `${prog.name} attached to ${dev} ${dir} (${att instanceof TcFilter ? 'clsact + cls_bpf' : 'tcx'})`;
        if (att instanceof TcFilter) {
          process.stdout.write(
            `${what}: filter pref ${att.priority} handle ${att.handle}, stays until removed\n`,
          );
          return 0;
        }
        break;
      }
      case 'tracepoint': {
        const [category, name] = (words[0] ?? '').split('/');
        if (category === undefined || name === undefined || category === '' || name === '') {
          throw new EbpfError('attach tracepoint: give CATEGORY/NAME (syscalls/sys_enter_openat)');
        }
        att = attachTracepoint(prog, category, name);
        what = `${prog.name} attached to tracepoint ${category}/${name}`;
        break;
      }
      case 'raw_tp': {
        att = attachRawTracepoint(prog, words[0]);
        what = `${prog.name} attached to raw tracepoint ${words[0] ?? '(from BTF)'}`;
        break;
      }
      case 'uprobe': {
        if (words[0] === undefined) throw new EbpfError('attach uprobe: give BINARY:FUNCTION[+OFFSET]');
        const t = parseUprobeTarget(words[0]);
        const pid = int(a.options.get('pid'), 'pid');
        const cookie = bigint(a.options.get('cookie'), 'cookie');
        const retprobe = a.flags.has('retprobe');
        att = attachUprobe(prog, t.binary, {
          ...(t.symbol !== undefined && { symbol: t.symbol }),
          offset: t.offset,
          retprobe,
          ...(pid !== undefined && { pid }),
          ...(cookie !== undefined && { cookie }),
        });
        what = `${prog.name} attached to ${retprobe ? 'uretprobe' : 'uprobe'} ${words[0]}`;
        break;
      }
      case 'kprobe': {
        const m = /^([^+]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(words[0] ?? '');
        if (m === null) throw new EbpfError('attach kprobe: give FUNCTION[+OFFSET]');
        const cookie = bigint(a.options.get('cookie'), 'cookie');
        const retprobe = a.flags.has('retprobe');
        att = attachKprobe(prog, m[1]!, {
          offset: BigInt(m[2] ?? 0),
          retprobe,
          ...(cookie !== undefined && { cookie }),
        });
        what = `${prog.name} attached to ${retprobe ? 'kretprobe' : 'kprobe'} ${words[0] ?? ''}`;
        break;
      }
      case 'cgroup': {
        const [cgroup, type] = words;
        if (cgroup === undefined || type === undefined)
          throw new EbpfError(
            'attach cgroup: give a cgroup directory and an attach type (egress, connect4, ...)',
          );
        const mode = a.options.get('mode') ?? 'auto';
        if (mode !== 'auto' && mode !== 'link' && mode !== 'legacy')
          throw new EbpfError(`unknown cgroup mode '${mode}'`);
        att = attachCgroup(prog, cgroup, type, { mode });
        what = `${prog.name} attached to cgroup ${cgroup} ${type}${att instanceof CgroupProgAttachment ? ' (BPF_PROG_ATTACH, multi)' : ''}`;
        break;
      }
      default:
        process.stderr.write(usage + '\n');
        return 2;
    }
  } finally {
    // The attachment holds its own reference to the program.
    prog.close();
  }
  if (pin !== undefined) {
    const link = att instanceof Link ? att : att instanceof PerfEventLink ? att.link : undefined;
    if (link === undefined) {
      att.close();
      throw new EbpfError('this attachment is not a bpf_link and cannot be pinned');
    }
    link.pin(pin);
    process.stdout.write(`${what}: link ${link.info().id} pinned at ${pin}\n`);
    att.close();
    return 0;
  }
  return hold(att, what);
}

export const command: Command = {
  summary: 'attach programs (xdp, tc, tracepoint, raw_tp, uprobe, kprobe, cgroup), list and detach links',
  usage,
  run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'list':
        return Promise.resolve(list(parseArgs(rest, [], ['json']).flags.has('json')));
      case 'detach':
        return Promise.resolve(detach(parseArgs(rest, [], []).positionals));
      case 'xdp':
      case 'tc':
      case 'tracepoint':
      case 'raw_tp':
      case 'uprobe':
      case 'kprobe':
      case 'cgroup':
        return attach(sub, rest);
      default:
        process.stderr.write(usage + '\n');
        return Promise.resolve(2);
    }
  },
};
