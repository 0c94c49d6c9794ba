// Run by test/link-net.test.ts inside a network namespace of its own (`ip netns exec`): attaches
// one hook of testdata/net_hooks.c to this namespace, makes the traffic it should see on the
// namespace's loopback (or, for netkit, across a netkit pair whose peer is in another namespace),
// and prints what it counted as one JSON line.
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { attachNetfilter } from '../src/link/netfilter.js';
import { attachNetkit } from '../src/link/netkit.js';
import { attachSkLookup } from '../src/link/netns.js';
import { loadObject } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { ROOT, socketFd } from './helpers.js';

const NET_HOOKS_O = join(ROOT, 'testdata/net_hooks-el.o');
const scenario = process.argv[2];
const n = Number(process.argv[3] ?? 5);

async function skLookup(): Promise<object> {
  const spec = loadObjectSpec(NET_HOOKS_O);
  const redirectPort = 7777;
  spec.rodata.redirect_port = redirectPort;
  using obj = loadObject(spec, { programs: ['redirect'] });
  let accepted = 0;
  const server = createServer((s) => {
    accepted++;
    s.end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  obj.map('lookup_socks').update(0, socketFd(server));
  const refusedBefore = await tryConnect(redirectPort);
  const link = attachSkLookup(obj.program('redirect'));
  for (let i = 0; i < n; i++) if (!(await tryConnect(redirectPort))) throw new Error('not redirected');
  link.close();
  const refusedAfter = await tryConnect(redirectPort);
  server.close();
  return {
    redirected: Number((obj.bss as Record<string, bigint>).redirected),
    accepted,
    linkType: link.constructor.name,
    connectedWhileAttached: n,
    refusedBefore: !refusedBefore,
    refusedAfter: !refusedAfter,
  };
}

/** Connects to 127.0.0.1:port: true when a connection was made (and closed), false when refused. */
async function tryConnect(port: number): Promise<boolean> {
  const c = connect(port, '127.0.0.1');
  return await new Promise<boolean>((res) => {
    c.on('connect', () => {
      c.end();
      c.on('close', () => res(true));
    });
    c.on('error', () => res(false));
  });
}

async function netfilter(): Promise<object> {
  using obj = loadObject(NET_HOOKS_O, { programs: ['nf_count'] });
  const rx = createSocket('udp4');
  rx.bind(0, '127.0.0.1');
  await once(rx, 'listening');
  let received = 0;
  rx.on('message', () => received++);
  const tx = createSocket('udp4');
  const link = attachNetfilter(obj.program('nf_count'), 'input', { family: 'ipv4', priority: -128 });
  for (let i = 0; i < n; i++) {
    tx.send(`datagram ${i}`, rx.address().port, '127.0.0.1');
    while (received <= i) await new Promise((r) => setTimeout(r, 5));
  }
  const whileAttached = Number((obj.bss as Record<string, bigint>).nf_packets);
  link.close();
  tx.send('after', rx.address().port, '127.0.0.1');
  while (received <= n) await new Promise((r) => setTimeout(r, 5));
  tx.close();
  rx.close();
  return { whileAttached, after: Number((obj.bss as Record<string, bigint>).nf_packets), received };
}

/**
 * netkit: nk0 (primary, here, 10.77.0.1) and its peer nk1 (10.77.0.2) in the namespace named by
 * argv[4]. Datagrams this side sends cross nk0 (the primary program); those the peer side sends
 * cross nk1 (the peer program) and arrive here unless the program drops them.
 */
async function netkit(): Promise<object> {
  const peerNs = process.argv[4]!;
  const port = 7000 + (process.pid % 1000);
  using obj = loadObject(NET_HOOKS_O, { programs: ['netkit_primary_count', 'netkit_peer_count'] });
  const bss = obj.bss as Record<string, bigint | number>;
  bss.netkit_port = port;
  const rx = createSocket('udp4');
  rx.bind(port, '10.77.0.1');
  await once(rx, 'listening');
  let received = 0;
  rx.on('message', () => received++);
  const tx = createSocket('udp4');
  const fromHere = async (k: number): Promise<void> => {
    for (let i = 0; i < k; i++)
      await new Promise<void>((res, rej) =>
        tx.send(`datagram ${i}`, port, '10.77.0.2', (e) => (e ? rej(e) : res())),
      );
  };
  const fromPeer = (k: number): void => {
    // python3 starts in a fraction of node's time (which counts in the kernel matrix's slow VMs).
    const script = `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(${k}): s.sendto(b'd', ('10.77.0.1', ${port}))`;
    const r = spawnSync('ip', ['netns', 'exec', peerNs, 'python3', '-c', script], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (r.status !== 0) throw new Error(`sender in ${peerNs}: ${r.stderr}`);
  };
  const settle = async (want: number): Promise<void> => {
    for (let waited = 0; received < want && waited < 2000; waited += 10)
      await new Promise((r) => setTimeout(r, 10));
  };
  const primary = attachNetkit(obj.program('netkit_primary_count'), 'nk0', 'primary');
  const peer = attachNetkit(obj.program('netkit_peer_count'), 'nk0', 'peer');
  await fromHere(n);
  fromPeer(n);
  await settle(n);
  const passed = { primary: Number(bss.netkit_primary), peer: Number(bss.netkit_peer), received };
  // Dropped by the peer program: counted, never received.
  bss.netkit_drop = 1;
  fromPeer(n);
  await settle(2 * n);
  const dropped = { peer: Number(bss.netkit_peer), received };
  bss.netkit_drop = 0;
  const info = { primary: primary.info().type, peer: peer.info().type, ifindex: primary.ifindex };
  primary.close();
  peer.close();
  await fromHere(n);
  fromPeer(n);
  await settle(2 * n);
  tx.close();
  rx.close();
  return {
    passed,
    dropped,
    detached: { primary: Number(bss.netkit_primary), peer: Number(bss.netkit_peer), received },
    linkTypes: [info.primary, info.peer],
  };
}

const run =
  scenario === 'sk_lookup'
    ? skLookup
    : scenario === 'netfilter'
      ? netfilter
      : scenario === 'netkit'
        ? netkit
        : undefined;
if (run === undefined) throw new Error(`unknown scenario ${scenario}`);
process.stdout.write(JSON.stringify(await run()) + '\n');
