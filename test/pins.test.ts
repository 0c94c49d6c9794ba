// Pins of every kind (program, map, link) opened by every handle's fromPin and fromFd: the right
// kind opens, a wrong kind is an EbpfError naming the pin and what it holds, and leaks nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { asm, encode } from '../src/asm/index.js';
import { MapType, ProgType } from '../src/constants.js';
import { EbpfError } from '../src/errors.js';
import { Link } from '../src/link/link.js';
import { BpfMap } from '../src/map/map.js';
import { Program } from '../src/program/program.js';
import { mapCreate, objGet, objPin, progLoad, rawTracepointOpen } from '../src/sys/bpf.js';
import { needRoot, needTool, run, bpfDescriptors } from './helpers.js';

const openFds = (): string[] => bpfDescriptors();

type Kind = 'program' | 'map' | 'link';
const ARTICLE: Record<Kind, string> = { program: 'a program', map: 'a map', link: 'a link' };

const OPENERS: Record<
  Kind,
  { fromPin(path: string): { close(): void }; fromFd(path: string): { close(): void } }
> = {
  program: { fromPin: (p) => Program.fromPin(p), fromFd: (p) => Program.fromFd(objGet(p)) },
  map: { fromPin: (p) => BpfMap.fromPin(p), fromFd: (p) => BpfMap.fromFd(objGet(p)) },
  link: { fromPin: (p) => Link.fromPin(p), fromFd: (p) => new Link(objGet(p)) },
};

test('fromPin and fromFd open only their own kind of object', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  const dir = mkdtempSync('/sys/fs/bpf/ebpf-test-pins-');
  const before = openFds();
  try {
    const pins: Record<Kind, string> = {
      program: `${dir}/prog`,
      map: `${dir}/map`,
      link: `${dir}/link`,
    };
    {
      using map = mapCreate({ map_type: MapType.ARRAY, key_size: 4, value_size: 4, max_entries: 1 });
      const insns = encode([asm.mov64Imm(0, 0), asm.exit()], true);
      using prog = progLoad(
        { prog_type: ProgType.RAW_TRACEPOINT, prog_name: new TextEncoder().encode('tst_pins') },
        { insns, license: 'GPL' },
      ).fd;
      using link = rawTracepointOpen('sched_process_exit', prog.fd);
      objPin(map.fd, pins.map);
      objPin(prog.fd, pins.program);
      objPin(link.fd, pins.link);
    }
    // bpftool is the oracle for what each pin holds: it opens each as what it is.
    for (const [kind, cmd] of [
      ['program', 'prog'],
      ['map', 'map'],
      ['link', 'link'],
    ] as const) {
      const shown = JSON.parse(run('bpftool', ['-j', cmd, 'show', 'pinned', pins[kind]])) as { id?: number };
      assert.equal(typeof shown.id, 'number', `bpftool ${cmd} show pinned ${pins[kind]}`);
    }

    for (const opener of Object.keys(OPENERS) as Kind[]) {
      for (const held of Object.keys(pins) as Kind[]) {
        const path = pins[held];
        const open = OPENERS[opener];
        if (opener === held) {
          open.fromPin(path).close();
          open.fromFd(path).close();
          continue;
        }
        const why = `${opener} from a pinned ${held}`;
        assert.throws(
          () => open.fromPin(path),
          (e: unknown) =>
            e instanceof EbpfError &&
            e.location.file === path &&
            e.message === `${path}: pinned object is ${ARTICLE[held]}, not ${ARTICLE[opener]}`,
          why,
        );
        assert.throws(
          () => open.fromFd(path),
          (e: unknown) =>
            e instanceof EbpfError &&
            new RegExp(`^fd \\d+ is ${ARTICLE[held]}, not ${ARTICLE[opener]}$`).test(e.message),
          `${why} (fromFd)`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(openFds(), before, 'a refused descriptor is closed');
});
