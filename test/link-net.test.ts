// Networking hooks of testdata/net_hooks.c, each seen firing with exact counts: sk_lookup and
// netfilter in a network namespace this test makes (a child process runs inside it, as both act on
// the namespace of whoever attaches), the flow dissector on a veth pair between two namespaces
// (run once per arriving packet by a tc classifier that recomputes its hash), and sk_msg / sk_skb programs on a sockmap holding
// this process's own loopback TCP sockets. Namespaces are removed after.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { LinkType } from '../src/constants.js';
import { EbpfError, NotSupportedError } from '../src/errors.js';
import { versionAtLeast } from '../src/features/feature.js';
import { attachFlowDissector, attachSkLookup, namedNetns, NetnsLink } from '../src/link/netns.js';
import { attachNetkit } from '../src/link/netkit.js';
import { attachSockmap, SockmapLink, SockmapProgAttachment } from '../src/link/sockmap.js';
import { loadObject } from '../src/loader/index.js';
import { KERNEL_SERIES, needKernel, needRoot, needTool, ROOT, socketFd, TESTDATA } from './helpers.js';

const NET_HOOKS_O = join(TESTDATA, 'net_hooks-el.o');
let seq = 0;
/** The child script from source with tsx, or compiled (the kernel matrix runs the tests from build/vm-js). */
const NETNS_CHILD = existsSync(join(ROOT, 'test', 'netns-child.ts'))
  ? ['--import', 'tsx', join(ROOT, 'test', 'netns-child.ts')]
  : [join(ROOT, 'test', 'netns-child.js')];

/** A fresh network namespace with its loopback up; deleted when the test ends. */
function netns(t: TestContext): string {
  const name = `ebpf-${process.pid}-${seq++}`;
  execFileSync('ip', ['netns', 'add', name]);
  t.after(() => spawnSync('ip', ['netns', 'del', name]));
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

function child(ns: string, scenario: string, n: number, ...extra: string[]): Record<string, unknown> {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', ns, process.execPath, ...NETNS_CHILD, scenario, String(n), ...extra],
    // Node runs 5-10 times slower in the kernel matrix's emulated VMs.
    { cwd: ROOT, encoding: 'utf8', timeout: KERNEL_SERIES !== undefined ? 400_000 : 60_000 },
  );
  assert.equal(r.status, 0, `child ${scenario}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

test('sk_lookup: connections to a port with no listener reach the socket the program picks', (t) => {
  if (!needRoot(t) || !needTool(t, 'ip')) return;
  const r = child(netns(t), 'sk_lookup', 6);
  assert.deepEqual(r, {
    redirected: 6,
    accepted: 6,
    linkType: NetnsLink.name,
    connectedWhileAttached: 6,
    refusedBefore: true,
    refusedAfter: true,
  });
});

test('netfilter link: every IPv4 packet at the input hook of the namespace, none after close', (t) => {
  if (!needRoot(t) || !needTool(t, 'ip')) return;
  if (!versionAtLeast(release(), '6.4')) {
    assert.throws(
      () => loadObject(NET_HOOKS_O, { programs: ['nf_count'] }).close(),
      (e: unknown) =>
        e instanceof NotSupportedError && /NETFILTER programs require Linux 6\.4 or later/.test(e.message),
    );
    t.diagnostic(`Linux ${release()} predates netfilter programs: the refusal was checked`);
    return;
  }
  const r = child(netns(t), 'netfilter', 7);
  assert.deepEqual(r, { whileAttached: 7, after: 7, received: 8 });
});

test('flow_dissector on a namespace: the IPv4 packets its devices dissect', async (t) => {
  if (!needRoot(t) || !needTool(t, 'ip') || !needTool(t, 'tc') || !needTool(t, 'python3')) return;
  const a = netns(t);
  const b = netns(t);
  const va = `ebfa${process.pid % 100000}`;
  const vb = `ebfb${process.pid % 100000}`;
  const ip = (...args: string[]): void => void execFileSync('ip', args);
  ip('link', 'add', va, 'netns', a, 'type', 'veth', 'peer', 'name', vb, 'netns', b);
  ip('-n', a, 'addr', 'add', '10.199.0.1/24', 'dev', va);
  ip('-n', b, 'addr', 'add', '10.199.0.2/24', 'dev', vb);
  ip('-n', a, 'link', 'set', va, 'up');
  ip('-n', b, 'link', 'set', vb, 'up');
  // No ARP: a fixed neighbour, so only the datagrams cross.
  const mac = execFileSync('ip', ['-n', b, '-j', 'link', 'show', vb], { encoding: 'utf8' });
  const lladdr = (JSON.parse(mac) as { address: string }[])[0]!.address;
  ip('-n', a, 'neigh', 'add', '10.199.0.2', 'lladdr', lladdr, 'dev', va, 'nud', 'permanent');
  // The trigger: a classifier that recomputes each packet's hash, which runs the dissector.
  const tc = (...args: string[]): void => void execFileSync('ip', ['netns', 'exec', b, 'tc', ...args]);
  tc('qdisc', 'add', 'dev', vb, 'clsact');
  tc('filter', 'add', 'dev', vb, 'ingress', 'bpf', 'da', 'obj', join(TESTDATA, 'rehash-el.o'), 'sec', 'tc');
  using obj = loadObject(NET_HOOKS_O, { programs: ['dissect'] });
  const link = attachFlowDissector(obj.program('dissect'), namedNetns(b));
  const n = 9;
  // A receiver in b, so no datagram is answered with an ICMP port unreachable.
  const sink = spawn(
    'ip',
    [
      'netns',
      'exec',
      b,
      'python3',
      '-c',
      `import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('10.199.0.2', 9999))\nprint('ready', flush=True)\nfor i in range(${n}): s.recv(100)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => sink.kill());
  await once(sink.stdout!, 'data');
  try {
    assert.equal(link.info().type, LinkType.NETNS);
    execFileSync('ip', [
      'netns',
      'exec',
      a,
      'python3',
      '-c',
      `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor i in range(${n}): s.sendto(b'x' * 20, ('10.199.0.2', 9999))`,
    ]);
    // The datagrams are received asynchronously (veth's backlog): wait for the count to settle.
    const deadline = Date.now() + 5000;
    const count = (): bigint => (obj.bss as Record<string, bigint>).dissected_ip!;
    while (count() < BigInt(n) && Date.now() < deadline) execFileSync('sleep', ['0.05']);
    assert.equal(count(), BigInt(n));
    assert.throws(
      () => attachFlowDissector(obj.program('dissect'), namedNetns(b)),
      /already has a flow_dissector/,
    );
  } finally {
    link.close();
  }
  assert.throws(() => attachSkLookup(obj.program('dissect'), namedNetns(b)), EbpfError);
});

test('sk_msg and sk_skb stream parser/verdict on a sockmap of loopback TCP sockets', async (t) => {
  if (!needRoot(t)) return;
  using obj = loadObject(NET_HOOKS_O, { programs: ['msg_verdict', 'stream_parser', 'stream_verdict'] });
  const socks = obj.map('socks');
  const attached = [
    attachSockmap(obj.program('msg_verdict'), socks, 'msg_verdict'),
    attachSockmap(obj.program('stream_parser'), socks, 'stream_parser'),
    attachSockmap(obj.program('stream_verdict'), socks, 'stream_verdict'),
  ];
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  await once(client, 'connect');
  const [peer] = await accepted;
  let received = '';
  peer.on('data', (d: Buffer) => (received += d.toString()));
  try {
    t.diagnostic(`attached as ${attached.map((a) => a.constructor.name).join(', ')}`);
    // The sender in slot 0 (sk_msg runs on its sends), the receiver in slot 1 (sk_skb on its input).
    socks.update(0, socketFd(client));
    socks.update(1, socketFd(peer));
    const chunks = ['one', 'two-two', 'three-three-three', 'four'];
    let total = 0;
    for (const c of chunks) {
      client.write(c);
      total += c.length;
      const deadline = Date.now() + 5000;
      while (received.length < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(received, chunks.join(''));
    const bss = obj.bss as Record<string, bigint>;
    assert.equal(bss.msgs, BigInt(chunks.length));
    assert.equal(bss.msg_bytes, BigInt(total));
    assert.equal(bss.verdict_bytes, BigInt(total));
    assert.equal(bss.verdicts, BigInt(chunks.length));
    assert.equal(bss.parsed, BigInt(chunks.length));
    // One program per hook and map: with sockmap links (6.10) a second msg verdict is refused,
    // saying so. Before them BPF_PROG_ATTACH replaces the map's program, as the kernel does (5.10
    // and 6.1 in the kernel matrix): the second attachment succeeds and is detached again.
    if (attached[0] instanceof SockmapLink) {
      assert.throws(
        () => attachSockmap(obj.program('msg_verdict'), socks, 'msg_verdict'),
        /already has a program/,
      );
    } else {
      const again = attachSockmap(obj.program('msg_verdict'), socks, 'msg_verdict');
      assert.ok(again instanceof SockmapProgAttachment);
      again.close();
    }
    assert.throws(
      () => attachSockmap(obj.program('stream_parser'), obj.map('lookup_socks'), 'msg_verdict'),
      /not an sk_msg/,
    );
    if (attached[0] instanceof SockmapLink) assert.equal(attached[0].info().type, LinkType.SOCKMAP);
  } finally {
    client.destroy();
    peer.destroy();
    server.close();
    for (const a of attached) a.close();
  }
});

test('netkit: primary and peer programs count the datagrams each side sends, the peer drops them on demand; refused on a device that is not netkit', (t) => {
  if (!needRoot(t) || !needTool(t, 'gcc') || !needTool(t, 'ip') || !needTool(t, 'python3')) return;
  using obj = loadObject(join(TESTDATA, 'rehash-el.o'));
  const prog = obj.program('rehash');
  // Not a netkit device: refused, naming the version and what the device must be.
  assert.throws(
    () => attachNetkit(prog, 'lo', 'primary'),
    (e: unknown) =>
      e instanceof EbpfError && /netkit/.test(e.message) && /(6\.7|not a netkit)/.test(e.message),
  );
  const ns = netns(t);
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-netkit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const add = join(dir, 'netkit_add');
  execFileSync('gcc', ['-O1', '-o', add, join(ROOT, 'test/c/netkit_add.c')]);
  const made = spawnSync('ip', ['netns', 'exec', ns, add, 'nk0', 'nk1'], { encoding: 'utf8' });
  if (made.status !== 0) {
    // No netkit driver (CONFIG_NETKIT off, as on this machine's 6.18 and Debian's 5.10 and 6.1
    // cloud kernels): RTM_NEWLINK refuses the kind. Debian's 6.12 cloud kernel has it (the matrix).
    assert.match(made.stderr, /RTM_NEWLINK netkit: Operation not supported/);
    if (!versionAtLeast(release(), '6.7')) {
      t.diagnostic(`Linux ${release()} predates netkit: the refusals were checked`);
      return;
    }
    needKernel(t, false, 'no netkit driver in this kernel (CONFIG_NETKIT): only the refusal was checked');
    return;
  }
  assert.match(execFileSync('ip', ['-n', ns, '-d', 'link', 'show', 'nk0'], { encoding: 'utf8' }), /netkit/);
  const peerNs = netns(t);
  const ip = (...args: string[]): void => void execFileSync('ip', args);
  ip('-n', ns, 'link', 'set', 'nk1', 'netns', peerNs);
  ip('-n', ns, 'addr', 'add', '10.77.0.1/24', 'dev', 'nk0');
  ip('-n', peerNs, 'addr', 'add', '10.77.0.2/24', 'dev', 'nk1');
  ip('-n', ns, 'link', 'set', 'nk0', 'up');
  ip('-n', peerNs, 'link', 'set', 'nk1', 'up');
  const n = 7;
  const r = child(ns, 'netkit', n, peerNs);
  assert.deepEqual(r, {
    passed: { primary: n, peer: n, received: n },
    dropped: { peer: 2 * n, received: n },
    detached: { primary: n, peer: 2 * n, received: 2 * n },
    linkTypes: [LinkType.NETKIT, LinkType.NETKIT],
  });
});
