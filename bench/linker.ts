// link-objects and btf-dedup benchmarks, our side: link testdata's three-file program (read the
// inputs, link, write the output, as `bpftool gen object` does) and deduplicate the BTF of every
// testdata object concatenated (a raw BTF of ~1,600 types from ~30 compilation units, written
// once to a temporary file that the C reference reads too).
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder } from '../src/btf/builder.js';
import { parseBtfFile } from '../src/btf/from-elf.js';
import { cloneType, dedupBtf, mapTypeIds } from '../src/linker/dedup.js';
import { linkObjects } from '../src/linker/link.js';
import { timeIt, type Measurement, type TimeOptions } from './measure.js';

const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');

/** The three parts of testdata's linked program. */
export const LINK_INPUTS = ['link_a', 'link_b', 'link_c'].map((n) => join(TESTDATA, `${n}-el.o`));

/** Output paths, per process, for both sides. */
export const linkOutput = (side: string): string =>
  join(tmpdir(), `ebpf-bench-link-${side}-${process.pid}.o`);

/** Writes (once) the concatenated BTF of every little-endian testdata object; returns its path. */
export function dedupInput(): string {
  const path = join(tmpdir(), 'ebpf-bench-dedup-input.btf');
  const files = readdirSync(TESTDATA)
    .filter((f) => f.endsWith('-el.o'))
    .sort();
  const b = new BtfBuilder();
  for (const f of files) {
    const btf = parseBtfFile(readFileSync(join(TESTDATA, f)), { file: f });
    const shift = b.nextTypeId - 1;
    for (const t0 of btf.types()) {
      const t = cloneType(t0);
      mapTypeIds(t, (id) => (id === 0 ? 0 : id + shift));
      t.id += shift;
      b.add(t);
    }
  }
  const bytes = b.build();
  if (!existsSync(path) || Buffer.compare(readFileSync(path), bytes) !== 0) writeFileSync(path, bytes);
  return path;
}

export async function benchLinkObjects(opts: TimeOptions = {}): Promise<Measurement> {
  const out = linkOutput('ours');
  try {
    return await timeIt(() => {
      const inputs = LINK_INPUTS.map((file) => ({ file, bytes: readFileSync(file) }));
      writeFileSync(out, linkObjects(inputs));
    }, opts);
  } finally {
    rmSync(out, { force: true });
  }
}

export async function benchBtfDedup(opts: TimeOptions = {}): Promise<Measurement> {
  const path = dedupInput();
  let types = 0;
  const m = await timeIt(() => {
    types = dedupBtf(Btf.parse(readFileSync(path))).typesOut;
  }, opts);
  return { ...m, extra: { typesOut: types } };
}
