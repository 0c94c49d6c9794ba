// Run by test/token.test.ts as root of an unprivileged user namespace (test/c/token_userns.c),
// with a delegating BPF filesystem mounted at argv[2]: loads testdata/globals.c without a token,
// through `tokenPath`, and through LIBBPF_BPF_TOKEN_PATH, and prints what happened as JSON.
import { join } from 'node:path';
import { loadObject, type TraceEvent } from '../src/loader/index.js';
import { ROOT } from './helpers.js';

const OBJ = join(ROOT, 'testdata/globals-el.o');
const bpffs = process.argv[2]!;

function attempt(opts: Parameters<typeof loadObject>[1]): object {
  const events: TraceEvent[] = [];
  try {
    using obj = loadObject(OBJ, { ...opts, trace: (e) => events.push(e) });
    const token = events.find((e) => e.kind === 'token');
    // The XDP program runs, and counts in .data what JavaScript reads back.
    const retval = obj.program('use_globals').testRun({ dataIn: new Uint8Array(64) }).retval;
    return {
      loaded: true,
      programs: obj.programs.size,
      token: token?.kind === 'token' ? token.path : null,
      retval,
      counter: Number((obj.data as { counter: bigint | number }).counter),
    };
  } catch (e) {
    const err = e as Error & { code?: string; step?: string };
    return {
      loaded: false,
      error: err.name,
      code: err.code ?? null,
      step: err.step ?? null,
      message: err.message,
    };
  }
}

const out = {
  uid: process.getuid?.(),
  withoutToken: attempt({ tokenPath: '' }),
  withTokenPath: attempt({ tokenPath: bpffs }),
  fromEnvironment: (() => {
    process.env.LIBBPF_BPF_TOKEN_PATH = bpffs;
    try {
      return attempt({});
    } finally {
      delete process.env.LIBBPF_BPF_TOKEN_PATH;
    }
  })(),
};
process.stdout.write(JSON.stringify(out) + '\n');
