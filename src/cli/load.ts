// `ebpf load OBJ --pin-dir DIR`: loads every program of an object (like `bpftool prog loadall`)
// and pins each at DIR/<program name>; `--trace` narrates each step of the load.
import { formatTraceEvent, loadObject, MAX_LOG_LEVEL, type LoadOptions } from '../exports/loader.js';
import { Program } from '../exports/program.js';
import { parse, parseId, positionals, UsageError, type Args, type Command } from './common.js';

const usage = `usage: ebpf load OBJ --pin-dir DIR [--pin-maps DIR] [--trace] [--legacy-maps] [--log-level N]
                [--freplace-target PINNED_PROG | --freplace-target id N] [--token-path BPFFS] [-j]

  OBJ            a BPF ELF object
  --pin-dir      pin each loaded program at DIR/<program name> (made if missing; must be on a
                 bpffs, which is mounted at /sys/fs/bpf when none is and you are root)
  --pin-maps     pin every map at DIR/<map name>; maps pinned by name (LIBBPF_PIN_BY_NAME) go
                 there too instead of /sys/fs/bpf
  --trace        narrate each step: BTF, maps, relocations, programs, pins
  --legacy-maps  accept legacy SEC("maps") definitions (libbpf 1.0+ refuses them)
  --log-level    verifier log level for every program: 1, 2, or with 4 (statistics) added, up
                 to 7; the logs are printed
  --freplace-target
                 the loaded program whose functions the object's freplace programs replace: a
                 pin in a bpffs, or 'id N' (also id:N) for a program id
  --token-path   load through a BPF token (Linux 6.9) from the bpffs mounted at BPFFS with
                 delegate_* options, as libbpf's bpf_token_path (default: LIBBPF_BPF_TOKEN_PATH,
                 else /sys/fs/bpf when it gives one; '' for none)
  -j, --json     print {programs: [{name, pinnedAt}], maps: [{name, pinnedAt}], logs} as JSON`;

/**
 * The target program of `--freplace-target`: `id N` (the id as the next word), `id:N`, or a pin.
 * Returns the handle and the positionals left once an `id N` took its number.
 */
function freplaceTarget(value: string, words: string[]): { program: Program; rest: string[] } {
  let id: string | undefined;
  let rest = words;
  const m = /^id[:=](.*)$/.exec(value);
  if (m) id = m[1];
  else if (value === 'id') {
    // parseArgs saw `id` as the option's value and N as a positional after OBJ.
    id = words[1];
    if (id === undefined) throw new UsageError('--freplace-target id needs a program id');
    rest = words.filter((_, i) => i !== 1);
  }
  if (id === undefined) return { program: Program.fromPin(value), rest };
  return { program: Program.fromId(parseId(id, '--freplace-target program')), rest };
}

export const command: Command = {
  summary: 'load an object into the kernel and pin its programs (like bpftool prog loadall)',
  usage,
  async run(argv) {
    const args = parse(argv, {
      'pin-dir': { type: 'string' },
      'pin-maps': { type: 'string' },
      'log-level': { type: 'string' },
      'freplace-target': { type: 'string' },
      'token-path': { type: 'string' },
      trace: { type: 'boolean' },
      'legacy-maps': { type: 'boolean' },
    });
    // The values are checked before the freplace target is opened (load() reads them again).
    args.int('log-level', 0, MAX_LOG_LEVEL);
    args.path('pin-maps');
    const targetArg = args.string('freplace-target');
    const target = targetArg !== undefined ? freplaceTarget(targetArg, args.positionals) : undefined;
    try {
      return await load(args, target?.rest ?? args.positionals, target?.program);
    } finally {
      target?.program.close();
    }
  },
};

/** The load itself, with the freplace target (if any) opened by the caller. */
async function load(args: Args, words: string[], target: Program | undefined): Promise<number> {
  const [file] = positionals(words, 1, 1, 'OBJ, the object to load') as [string];
  const pinDir = args.path('pin-dir');
  if (pinDir === undefined) throw new UsageError('--pin-dir DIR is needed: where to pin the programs');
  const pinMaps = args.path('pin-maps');
  const trace = args.flag('trace');
  const opts: LoadOptions = { pinDir };
  if (target !== undefined) opts.attachTarget = { program: target };
  if (pinMaps !== undefined) {
    opts.pinMaps = pinMaps;
    opts.pinRoot = pinMaps;
  }
  if (trace) opts.trace = (e) => process.stdout.write(formatTraceEvent(e) + '\n');
  if (args.flag('legacy-maps')) opts.legacyMaps = true;
  const tokenPath = args.string('token-path');
  if (tokenPath !== undefined) opts.tokenPath = tokenPath;
  const level = args.int('log-level', 0, MAX_LOG_LEVEL);
  if (level !== undefined) opts.logLevel = level;
  // The loader checks the pin directories are on a bpffs before it loads anything, makes them,
  // and removes what it made when the load fails.
  const obj = loadObject(file, opts);
  try {
    if (args.json) {
      const out = {
        programs: [...obj.programRecords.values()].map((p) => ({
          name: p.spec.name,
          pinnedAt: p.pinnedAt ?? null,
        })),
        maps: [...obj.maps.values()].map((m) => ({ name: m.spec.name, pinnedAt: m.pinnedAt ?? null })),
        logs: Object.fromEntries(obj.logs),
      };
      process.stdout.write(JSON.stringify(out) + '\n');
      return 0;
    }
    if (!trace) {
      for (const p of obj.programRecords.values())
        process.stdout.write(`prog '${p.spec.name}' pinned at ${p.pinnedAt ?? '-'}\n`);
    }
    for (const [name, log] of obj.logs) process.stdout.write(`prog '${name}' verifier log:\n${log}\n`);
  } finally {
    obj.close();
  }
  return 0;
}
