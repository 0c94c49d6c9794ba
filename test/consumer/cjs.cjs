// CommonJS consumer of the installed package: require() of the ES module (Node >= 20.19), the
// root and the tool subpaths, the flow program on loopback with exact counts.
'use strict';
const assert = require('node:assert/strict');
const { createSocket } = require('node:dgram');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { dirname, join } = require('node:path');
const { attachXdp, loadObject, BpfMap, MapType } = require('ebpf');
const { parseElf } = require('ebpf/elf');
const { btfFromElf, formatTree } = require('ebpf/btf');
const { disassembleObject } = require('ebpf/asm');

const testdata = (name) => join(dirname(require.resolve('ebpf/package.json')), 'testdata', name);

async function main() {
  // Tools, no kernel: the object's ELF, BTF and instructions.
  const elf = parseElf(readFileSync(testdata('flow-el.o')), 'flow-el.o');
  assert.match(formatTree(btfFromElf(elf), { type: 'flow_stats' }), /packets \+0/);
  assert.match(disassembleObject(elf), /<count_flows>:/);

  // A map of our own, then the flow program on lo.
  const map = BpfMap.create({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4, name: 'cjs' });
  try {
    map.update(new Uint8Array(4), new Uint8Array(8).fill(1));
    assert.equal([...map.entries()].length, 1);
  } finally {
    map.close();
  }
  const N = 4;
  const pinRoot = mkdtempSync('/sys/fs/bpf/ebpf-consumer-cjs-');
  const flows = loadObject(testdata('flow-el.o'), { pinRoot });
  try {
    const link = attachXdp(flows.program('count_flows'), 'lo', { mode: 'generic' });
    try {
      const sock = createSocket('udp4');
      await new Promise((done) => sock.bind(0, '127.9.7.1', done));
      for (let i = 0; i < N; i++) {
        await new Promise((done, fail) =>
          sock.send(Buffer.alloc(10), 9, '127.9.7.2', (e) => (e ? fail(e) : done())),
        );
      }
      sock.close();
      const key = {
        saddr: Buffer.from([127, 9, 7, 1]).readUInt32LE(),
        daddr: Buffer.from([127, 9, 7, 2]).readUInt32LE(),
      };
      assert.deepEqual(flows.map('flow_map').lookup(key), { packets: BigInt(N), bytes: BigInt(N * 52) });
      assert.match(link.info().typeName, /XDP/i);
    } finally {
      link.close();
    }
  } finally {
    flows.close();
    rmSync(pinRoot, { recursive: true, force: true });
  }
  console.log('cjs: ok');
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
