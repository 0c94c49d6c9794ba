// A throwaway network namespace holding one veth pair, for the demo and the attach tests: made and
// removed with iproute2's `ip`, since entering a namespace needs setns(2), which Node does not have.
import { spawnSync } from 'node:child_process';
import { EbpfError, NotSupportedError } from '../index.js';

export interface VethNamespace {
  /** The namespace's name (`ip netns list`). */
  name: string;
  /** The end that sends: it has `sourceAddrs`, and neighbour entries for `destAddrs`. */
  sender: string;
  /** The end that receives, with no IPv4 address, so nothing there answers or routes locally. */
  receiver: string;
  receiverMac: string;
  sourceAddrs: string[];
  destAddrs: string[];
}

function ip(args: string[]): string {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error !== undefined) throw new NotSupportedError(`cannot run 'ip' (iproute2): ${r.error.message}`);
  if (r.status !== 0) throw new EbpfError(`ip ${args.join(' ')}: ${r.stderr.trim() || `exit ${r.status}`}`);
  return r.stdout;
}

/** Names of the network namespaces `ip netns` knows. */
export function listNamespaces(): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  return out
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/**
 * Makes namespace `name` with veth pair `<prefix>0` (sender) / `<prefix>1` (receiver) in it. Two
 * addresses on one host would talk over loopback, so only the sender has addresses (`10.<net>.0.1`
 * and `.3`) and permanent neighbour entries send `10.<net>.0.2`, `.4`, `.5` out to the receiver's
 * MAC: every packet sent to them crosses the veth and meets the receiver's ingress hooks. IPv6 is
 * off, so no other packet (router solicitations, MLD) crosses. Addresses exist only in the namespace.
 */
export function makeVethNamespace(name: string, net = 200, prefix = 'veth'): VethNamespace {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new EbpfError(`invalid namespace name '${name}'`);
  if (!Number.isInteger(net) || net < 0 || net > 255) throw new EbpfError(`invalid network number ${net}`);
  const sender = `${prefix}0`;
  const receiver = `${prefix}1`;
  ip(['netns', 'add', name]);
  try {
    const inNs = (args: string[]): string => ip(['-n', name, ...args]);
    inNs(['link', 'set', 'lo', 'up']);
    // sysctl inside the namespace: the net.* tree is per namespace.
    const r = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        name,
        'sysctl',
        '-qw',
        'net.ipv6.conf.all.disable_ipv6=1',
        'net.ipv6.conf.default.disable_ipv6=1',
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new EbpfError(`disabling IPv6 in ${name}: ${r.stderr.trim()}`);
    inNs(['link', 'add', sender, 'type', 'veth', 'peer', 'name', receiver]);
    const sourceAddrs = [`10.${net}.0.1`, `10.${net}.0.3`];
    const destAddrs = [`10.${net}.0.2`, `10.${net}.0.4`, `10.${net}.0.5`];
    for (const a of sourceAddrs) inNs(['addr', 'add', `${a}/24`, 'dev', sender]);
    inNs(['link', 'set', sender, 'up']);
    inNs(['link', 'set', receiver, 'up']);
    const links = JSON.parse(inNs(['-j', 'link', 'show', receiver])) as { address?: string }[];
    const receiverMac = links[0]?.address;
    if (receiverMac === undefined) throw new EbpfError(`no MAC address on ${receiver}`);
    for (const a of destAddrs)
      inNs(['neigh', 'add', a, 'lladdr', receiverMac, 'dev', sender, 'nud', 'permanent']);
    return { name, sender, receiver, receiverMac, sourceAddrs, destAddrs };
  } catch (err) {
    deleteNamespace(name);
    throw err;
  }
}

/**
 * Deletes the namespace (its veth pair goes with it); no error when it is already gone. The
 * namespace file stays busy while a mount namespace made by `ip netns exec` for it still exists
 * (the kernel tears one down just after its last process exits), so a busy delete is retried.
 */
export function deleteNamespace(name: string): void {
  for (let attempt = 0; attempt < 50; attempt++) {
    spawnSync('ip', ['netns', 'del', name], { encoding: 'utf8' });
    if (!listNamespaces().includes(name)) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
  process.stderr.write(`ebpf: network namespace ${name} could not be deleted (ip netns del ${name})\n`);
}
