// XDP flow counter: the talk's program (testdata/flow-el.o) counts packets and bytes per IPv4
// source and destination. Attached to a device in generic mode, it sees this script's own UDP
// datagrams, sent between two loopback addresses of its own.
//
//   sudo node node_modules/ebpf/examples/xdp-flows.js [--dev lo] [--count 5]
//
// Plain JavaScript for Node 20: handles are closed in `finally` (TypeScript or Node 24 can
// write `using` instead).
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { parseArgs } from 'node:util';
import { attachXdp, loadObject } from 'ebpf';

const { values } = parseArgs({
  options: { dev: { type: 'string', default: 'lo' }, count: { type: 'string', default: '5' } },
});
const count = Number(values.count);
const PAYLOAD = 100;

/** An IPv4 address as the program stores it: the header's four bytes read as a host-order u32. */
function dotted(n) {
  const b = Buffer.alloc(4);
  if (endianness() === 'LE') b.writeUInt32LE(n >>> 0);
  else b.writeUInt32BE(n >>> 0);
  return [...b].join('.');
}

// Addresses of our own in 127.0.0.0/8 (all of it is loopback), so our flow is ours alone.
const net = `127.${1 + ((process.pid >> 8) % 254)}.${process.pid & 0xff}`;
const [from, to] = [`${net}.1`, `${net}.2`];

// flow_map is pinned by name (LIBBPF_PIN_BY_NAME): pin it in a directory of this run's own.
const pinRoot = mkdtempSync('/sys/fs/bpf/ebpf-example-');
const obj = loadObject(new URL('../testdata/flow-el.o', import.meta.url).pathname, { pinRoot });
try {
  const link = attachXdp(obj.program('count_flows'), values.dev, { mode: 'generic' });
  try {
    const sock = createSocket('udp4');
    await new Promise((done) => sock.bind(0, from, done));
    for (let i = 0; i < count; i++) {
      await new Promise((done, fail) =>
        sock.send(Buffer.alloc(PAYLOAD), 9, to, (e) => (e ? fail(e) : done())),
      );
    }
    sock.close();
    console.log(`sent ${count} datagrams of ${PAYLOAD} bytes from ${from} to ${to} on ${values.dev}`);
    for (const [key, value] of obj.map('flow_map').entries()) {
      const flow = `${dotted(key.saddr)} -> ${dotted(key.daddr)}`;
      console.log(`flow ${flow}: ${value.packets} packets, ${value.bytes} bytes`);
    }
  } finally {
    link.close();
  }
} finally {
  obj.close();
  rmSync(pinRoot, { recursive: true, force: true });
}
