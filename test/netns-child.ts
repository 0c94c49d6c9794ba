// Run by test/link-net.test.ts inside a network namespace of its own (`ip netns exec`): attaches
// one hook of testdata/net_hooks.c to this namespace, makes the traffic it should see on the
// namespace's loopback, and prints what it counted as one JSON line.
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { attachNetfilter } from '../src/link/netfilter.js';
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

const run = scenario === 'sk_lookup' ? skLookup : scenario === 'netfilter' ? netfilter : undefined;
if (run === undefined) throw new Error(`unknown scenario ${scenario}`);
process.stdout.write(JSON.stringify(await run()) + '\n');
