// Strict-TypeScript consumer of the installed package (scripts/consumer-test.sh compiles it with
// tsc --strict, NodeNext, exactOptionalPropertyTypes, noUncheckedIndexedAccess, then runs it as
// root in a network namespace of its own): every subpath's types are used, and the flow program
// on lo and a global variable checked with exact values.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  attachXdp,
  loadObject,
  loadObjectSpec,
  LoadError,
  type BpfMap,
  type LoadedObject,
  type ObjectSpec,
  type XdpLink,
} from 'ebpf';
import { parseElf, type ElfFile } from 'ebpf/elf';
import { decode, formatInstruction, type Instruction } from 'ebpf/asm';
import { btfFromElf, type Btf, type Struct } from 'ebpf/btf';
import { essentialName } from 'ebpf/core';
import { matchSection, type SectionMatchResult } from 'ebpf/object';
import { type LoadOptions, formatTraceEvent, type TraceEvent } from 'ebpf/loader';
import { UpdateFlags, type MapInfo } from 'ebpf/map';
import { type ProgramInfo } from 'ebpf/program';
import { linkInfoOf, type LinkInfo } from 'ebpf/link';
import { RingBuffer, BPF_RINGBUF_HDR_SZ } from 'ebpf/events';
import { allFeatures, type Feature } from 'ebpf/features';
import { generateTypes } from 'ebpf/gen';
import { BPF_F_RDONLY_PROG, mapTypeName, MapType } from 'ebpf/constants';
import { linkObjects, type LinkInput } from 'ebpf/linker';

interface FlowKey {
  saddr: number;
  daddr: number;
}
interface FlowStats {
  packets: bigint;
  bytes: bigint;
}

const pkg = dirname(createRequire(import.meta.url).resolve('ebpf/package.json'));
const testdata = (name: string): string => join(pkg, 'testdata', name);

// Tools: no kernel.
const elf: ElfFile = parseElf(readFileSync(testdata('flow-el.o')), 'flow-el.o');
const btf: Btf = btfFromElf(elf);
const stats = btf.findOne('flow_stats', 'STRUCT');
assert.deepEqual(
  (stats as Struct).members.map((m) => m.name),
  ['packets', 'bytes'],
);
const xdp = elf.section('xdp');
assert.ok(xdp !== undefined);
const insns: Instruction[] = decode(xdp.data(), true);
const first = insns[0];
assert.ok(first !== undefined);
assert.equal(formatInstruction(first).text, 'r2 = *(u32 *)(r1 + 0x4)');
assert.equal(essentialName('task_struct___old'), 'task_struct');
const sec: SectionMatchResult | undefined = matchSection('xdp');
assert.ok(sec !== undefined);
const spec: ObjectSpec = loadObjectSpec(testdata('flow-el.o'));
assert.match(generateTypes(spec), /flow_map/);
assert.equal(mapTypeName(MapType.HASH), 'BPF_MAP_TYPE_HASH');
assert.equal(BPF_F_RDONLY_PROG, 128);
assert.equal(BPF_RINGBUF_HDR_SZ, 8);
assert.equal(typeof UpdateFlags, 'object');
assert.equal(typeof RingBuffer.open, 'function');
const input: LinkInput = { file: 'flow-el.o', bytes: readFileSync(testdata('flow-el.o')) };
assert.ok(parseElf(linkObjects([input])).section('xdp') !== undefined); // linked on its own

const features: Feature[] = allFeatures();
assert.ok(features.length > 0);

// The kernel: the flow program on lo with a typed map, and the loader's trace.
const trace: TraceEvent[] = [];
const pinRoot = mkdtempSync('/sys/fs/bpf/ebpf-consumer-ts-');
const opts: LoadOptions = { pinRoot, trace: (e: TraceEvent) => trace.push(e) };
const obj: LoadedObject = loadObject(spec, opts);
try {
  assert.ok(trace.some((e) => /map 'flow_map'/.test(formatTraceEvent(e))));
  const link: XdpLink = attachXdp(obj.program('count_flows'), 'lo', { mode: 'generic' });
  try {
    const sock = createSocket('udp4');
    await new Promise<void>((done) => sock.bind(0, '127.9.6.1', done));
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((done, fail) =>
        sock.send(Buffer.alloc(58), 9, '127.9.6.2', (e) => (e ? fail(e) : done())),
      );
    }
    sock.close();
    const flows: BpfMap<FlowKey, FlowStats> = obj.map<FlowKey, FlowStats>('flow_map');
    const key: FlowKey = {
      saddr: Buffer.from([127, 9, 6, 1]).readUInt32LE(),
      daddr: Buffer.from([127, 9, 6, 2]).readUInt32LE(),
    };
    const value: FlowStats | undefined = flows.lookup(key);
    assert.deepEqual(value, { packets: 3n, bytes: 300n });
    const info: MapInfo = flows.info();
    assert.equal(info.type, MapType.HASH);
    const linkInfo: LinkInfo = linkInfoOf(link.fd.fd);
    const progInfo: ProgramInfo = obj.program('count_flows').info();
    assert.equal(linkInfo.progId, progInfo.id);
  } finally {
    link.close();
  }
} finally {
  obj.close();
  rmSync(pinRoot, { recursive: true, force: true });
}

// A failed load is typed and leaves nothing behind.
const bad = loadObjectSpec(testdata('flow-el.o'));
const prog = bad.programs.find((p) => p.name === 'count_flows');
assert.ok(prog !== undefined);
prog.instructions = prog.instructions.slice(0, 1); // no exit: the verifier refuses
assert.throws(() => loadObject(bad, { pinRoot: '/sys/fs/bpf' }), LoadError);
console.log('ts: ok');
