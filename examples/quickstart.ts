// The README's quick start in TypeScript (`using` closes handles), runnable as root with
// `node --import tsx examples/quickstart.ts` in the checkout (or from an app, after tsc).
// Sets a .rodata constant before load, runs a program, reads .bss live; then counts loopback
// traffic with the talk's flow program attached by XDP (generic mode) to `lo`.
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { attachXdp, loadObject, loadObjectSpec } from 'ebpf';

const testdata = (name: string): string => new URL(`../testdata/${name}`, import.meta.url).pathname;

const spec = loadObjectSpec(testdata('globals-el.o'));
spec.rodata.config_limit = 100n; // .rodata is set before load, then frozen
spec.rodata.config_flag = 1;
{
  using obj = loadObject(spec); // BTF, maps, relocations, CO-RE, programs
  const prog = obj.programs.get('use_globals')!;
  for (let i = 0; i < 3; i++) {
    const { retval } = prog.testRun({ dataIn: new Uint8Array(64) });
    console.log(`run ${i}: XDP verdict ${retval}, bss_hits ${String(obj.bss.bss_hits)}`); // live, via mmap
  }
}

// flow_map is pinned by name: keep this run's pins out of the way of anything else.
const pinRoot = mkdtempSync('/sys/fs/bpf/ebpf-quickstart-');
try {
  using flows = loadObject(testdata('flow-el.o'), { pinRoot });
  using link = attachXdp(flows.programs.get('count_flows')!, 'lo', { mode: 'generic' });
  const sock = createSocket('udp4');
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((done) => sock.send(Buffer.alloc(100), 9, '127.0.0.1', () => done()));
  }
  sock.close();
  for (const [key, value] of flows.map('flow_map').entries()) {
    console.log('flow', key, value); // objects shaped by the object's BTF
  }
  console.log(`attached by link ${link.info().id}`);
} finally {
  rmSync(pinRoot, { recursive: true, force: true });
}
