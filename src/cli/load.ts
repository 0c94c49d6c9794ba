// `ebpf load OBJ --pin-dir DIR`: loads every program of an object (like `bpftool prog loadall`)
// and pins each at DIR/<program name>; `--trace` narrates each step of the load.
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { formatTraceEvent, loadObject, type LoadOptions } from '../loader/index.js';
import { parseArgs } from './args.js';
import type { Command } from './main.js';

const usage = `usage: ebpf load OBJ --pin-dir DIR [--pin-maps DIR] [--trace] [--legacy-maps] [--log-level N] [--json]

  OBJ            a BPF ELF object
  --pin-dir      pin each loaded program at DIR/<program name> (created if missing, in a bpffs)
  --pin-maps     pin every map at DIR/<map name>; maps pinned by name (LIBBPF_PIN_BY_NAME) go
                 there too instead of /sys/fs/bpf
  --trace        narrate each step: BTF, maps, relocations, programs, pins
  --legacy-maps  accept legacy SEC("maps") definitions (libbpf 1.0+ refuses them)
  --log-level    verifier log level for every program (1 or 2); the logs are printed
  --json         print {programs: [{name, pinnedAt}], maps: [{name, pinnedAt}]} as JSON`;

/** mkdir -p; returns the directories it created, outermost first, so a failure can remove them. */
function makeDirs(dir: string): string[] {
  const created: string[] = [];
  const parts = dir.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = parts.slice(0, i).join('/');
    if (p === '' || existsSync(p)) continue;
    mkdirSync(p);
    created.push(p);
  }
  return created;
}

export const command: Command = {
  summary: 'load an object into the kernel and pin its programs (like bpftool prog loadall)',
  usage,
  async run(argv) {
    const args = parseArgs(argv, ['pin-dir', 'pin-maps', 'log-level']);
    const file = args.positionals[0];
    const pinDir = args.options.get('pin-dir');
    if (file === undefined || pinDir === undefined || args.positionals.length > 1) {
      process.stderr.write(usage + '\n');
      return 2;
    }
    const pinMaps = args.options.get('pin-maps');
    const trace = args.flags.has('trace');
    const opts: LoadOptions = { pinDir };
    if (pinMaps !== undefined) {
      opts.pinMaps = pinMaps;
      opts.pinRoot = pinMaps;
    }
    if (trace) opts.trace = (e) => process.stdout.write(formatTraceEvent(e) + '\n');
    if (args.flags.has('legacy-maps')) opts.legacyMaps = true;
    const level = args.options.get('log-level');
    if (level !== undefined) opts.logLevel = Number(level);
    const created = [...makeDirs(pinDir), ...(pinMaps !== undefined ? makeDirs(pinMaps) : [])];
    let obj;
    try {
      obj = loadObject(file, opts);
    } catch (e) {
      for (const d of created.reverse()) {
        try {
          rmdirSync(d);
        } catch {
          // Not empty or already gone: leave it.
        }
      }
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
  },
};
