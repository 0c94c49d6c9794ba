// `ebpf load OBJ --pin-dir DIR`: loads every program of an object (like `bpftool prog loadall`)
// and pins each at DIR/<program name>; `--trace` narrates each step of the load.
import { EbpfError } from '../errors.js';
import { formatTraceEvent, loadObject, type LoadOptions } from '../loader/index.js';
import { loadObjectSpec } from '../object/index.js';
import { Program } from '../program/program.js';
import { makePinDirs, removeDirs } from '../sys/bpffs.js';
import { parseArgs, type ParsedArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf load OBJ --pin-dir DIR [--pin-maps DIR] [--trace] [--legacy-maps] [--log-level N]
                [--freplace-target PINNED_PROG | --freplace-target id N] [--json]

  OBJ            a BPF ELF object
  --pin-dir      pin each loaded program at DIR/<program name> (created if missing, in a bpffs)
  --pin-maps     pin every map at DIR/<map name>; maps pinned by name (LIBBPF_PIN_BY_NAME) go
                 there too instead of /sys/fs/bpf
  --trace        narrate each step: BTF, maps, relocations, programs, pins
  --legacy-maps  accept legacy SEC("maps") definitions (libbpf 1.0+ refuses them)
  --log-level    verifier log level for every program (1 or 2); the logs are printed
  --freplace-target
                 the loaded program whose functions the object's freplace programs replace: a
                 pin in a bpffs, or 'id N' (also id:N) for a program id
  --json         print {programs: [{name, pinnedAt}], maps: [{name, pinnedAt}]} as JSON`;

/**
 * The target program of `--freplace-target`: `id N` (the id as the next word), `id:N`, or a pin.
 * Returns the handle and the positionals left once an `id N` took its number.
 */
function freplaceTarget(value: string, positionals: string[]): { program: Program; rest: string[] } {
  let id: string | undefined;
  let rest = positionals;
  const m = /^id[:=](.*)$/.exec(value);
  if (m) id = m[1];
  else if (value === 'id') {
    // parseArgs saw `id` as the option's value and N as a positional after OBJ.
    id = positionals[1];
    rest = positionals.filter((_, i) => i !== 1);
  }
  if (id === undefined) return { program: Program.fromPin(value), rest };
  if (!/^\d+$/.test(id)) throw new EbpfError(`--freplace-target id needs a program id, not '${id ?? ''}'`);
  return { program: Program.fromId(Number(id)), rest };
}

export const command: Command = {
  summary: 'load an object into the kernel and pin its programs (like bpftool prog loadall)',
  usage,
  async run(argv) {
    const args = parseArgs(
      argv,
      ['pin-dir', 'pin-maps', 'log-level', 'freplace-target'],
      ['trace', 'legacy-maps', 'json'],
    );
    const targetArg = args.options.get('freplace-target');
    const target = targetArg !== undefined ? freplaceTarget(targetArg, args.positionals) : undefined;
    try {
      return await load(args, target?.rest ?? args.positionals, target?.program);
    } finally {
      target?.program.close();
    }
  },
};

/** The load itself, with the freplace target (if any) opened by the caller. */
async function load(args: ParsedArgs, positionals: string[], target: Program | undefined): Promise<number> {
  const file = positionals[0];
  const pinDir = args.options.get('pin-dir');
  if (file === undefined || pinDir === undefined || positionals.length > 1) {
    process.stderr.write(usage + '\n');
    return 2;
  }
  const pinMaps = args.options.get('pin-maps');
  const trace = args.flags.has('trace');
  const opts: LoadOptions = { pinDir };
  if (target !== undefined) opts.attachTarget = { program: target };
  if (pinMaps !== undefined) {
    opts.pinMaps = pinMaps;
    opts.pinRoot = pinMaps;
  }
  if (trace) opts.trace = (e) => process.stdout.write(formatTraceEvent(e) + '\n');
  if (args.flags.has('legacy-maps')) opts.legacyMaps = true;
  const level = args.options.get('log-level');
  if (level !== undefined) opts.logLevel = Number(level);
  // A bad object is the error to report, before any pin directory is made for it.
  loadObjectSpec(file);
  const created = makePinDirs(pinDir);
  try {
    if (pinMaps !== undefined) created.push(...makePinDirs(pinMaps));
  } catch (e) {
    removeDirs(created);
    throw e;
  }
  let obj;
  try {
    obj = loadObject(file, opts);
  } catch (e) {
    removeDirs(created);
    throw e;
  }
  try {
    if (args.flags.has('json')) {
      const out = {
        programs: [...obj.programRecords.values()].map((p) => ({
          name: p.spec.name,
          pinnedAt: p.pinnedAt ?? null,
        })),
        maps: [...obj.maps.values()].map((m) => ({ name: m.spec.name, pinnedAt: m.pinnedAt ?? null })),
      };
      process.stdout.write(JSON.stringify(out) + '\n');
    } else if (!trace) {
      for (const p of obj.programRecords.values())
        process.stdout.write(`prog '${p.spec.name}' pinned at ${p.pinnedAt ?? '-'}\n`);
    }
    for (const [name, log] of obj.logs) process.stdout.write(`prog '${name}' verifier log:\n${log}\n`);
  } finally {
    obj.close();
  }
  return 0;
}
