// BPF iterators from testdata/iter.c: iter/task prints this process's threads (compared with
// /proc/self/task), iter/bpf_map every map (this test's own maps among them, with their ids, names
// and sizes as the kernel reports them), read whole, as a stream and from a bpffs pin; iter/
// bpf_map_elem walks a map's elements where this kernel allows it (libbpf's load is the oracle).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { release } from 'node:os';
import { AttachType, LinkType } from '../src/constants.js';
import { NotFoundError, NotSupportedError } from '../src/errors.js';
import { versionAtLeast } from '../src/features/feature.js';
import { findAttachBtfId, ITERATOR_VERSIONS } from '../src/loader/attach-target.js';
import { autoAttachLoaded } from '../src/link/auto.js';
import { attachIter, IterLink } from '../src/link/iter.js';
import { loadObject } from '../src/loader/index.js';
import { loadObjectSpec } from '../src/object/index.js';
import { SyscallError } from '../src/sys/error.js';
import { needRoot, needTool, TESTDATA } from './helpers.js';

const ITER_O = join(TESTDATA, 'iter-el.o');

/** This process's threads as "tid comm" lines, sorted, from procfs. */
function procThreads(): string[] {
  return readdirSync('/proc/self/task')
    .map((tid) => `${tid} ${readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()}`)
    .sort();
}

test('iter/task: this process threads, read whole, streamed and through a pin', async (t) => {
  if (!needRoot(t)) return;
  const spec = loadObjectSpec(ITER_O);
  spec.rodata.target_tgid = process.pid;
  using obj = loadObject(spec, { programs: ['tasks', 'maps'] });
  const link = autoAttachLoaded(obj, 'tasks');
  assert.ok(link instanceof IterLink);
  const pin = `/sys/fs/bpf/ebpf-test-iter-${process.pid}`;
  try {
    assert.equal(link.info().type, LinkType.ITER);
    const lines = (text: string): string[] =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .sort();
    assert.deepEqual(lines(link.readText()), procThreads());
    let streamed = '';
    for await (const chunk of link.stream()) streamed += (chunk as Buffer).toString();
    assert.deepEqual(lines(streamed), procThreads());
    link.pin(pin);
    assert.deepEqual(lines(readFileSync(pin, 'utf8')), procThreads(), 'a pinned iterator reads as a file');
    assert.deepEqual(lines(execFileSync('cat', [pin], { encoding: 'utf8' })), procThreads());
  } finally {
    link.close();
    rmSync(pin, { force: true });
  }
});

test('iter/bpf_map: every map, this object maps with the ids and sizes the kernel gives', (t) => {
  if (!needRoot(t)) return;
  using obj = loadObject(ITER_O, { programs: ['maps'] });
  using link = attachIter(obj.program('maps'));
  const out = link.readText();
  const m = obj.map('iter_values');
  assert.ok(out.split('\n').includes(`${m.id} iter_values ${m.maxEntries}`), out);
  // Twice: each read-through starts over.
  assert.ok(link.readText().includes(`${m.id} iter_values 16`));
});

test('iter/bpf_map_elem: a map elements, where the kernel allows it (as libbpf finds)', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool')) return;
  let obj;
  try {
    obj = loadObject(ITER_O, { programs: ['elems'] });
  } catch (err) {
    // This machine's kernel refuses bpf_map_elem iterators (EPERM before verification); so does libbpf.
    assert.ok(err instanceof Error && /EPERM/.test(err.message), String(err));
    const pin = `/sys/fs/bpf/ebpf-test-iterlib-${process.pid}`;
    const r = spawnSync('bpftool', ['prog', 'loadall', ITER_O, pin], { encoding: 'utf8' });
    rmSync(pin, { recursive: true, force: true });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /prog 'elems'.*Operation not permitted/);
    t.diagnostic('this kernel refuses bpf_map_elem iterators, as libbpf finds');
    return;
  }
  using o = obj;
  const map = o.map<number, bigint>('iter_values');
  for (const [k, v] of [
    [1, 10n],
    [2, 20n],
    [7, 70n],
  ] as const)
    map.update(k, v);
  using link = attachIter(o.program('elems'), { map });
  assert.deepEqual(link.readText().split('\n').filter(Boolean).sort(), ['1 10', '2 20', '7 70']);
  assert.throws(() => attachIter(o.program('elems')), SyscallError);
});

test('an iterator the kernel lacks: NotSupportedError naming its version on an older kernel, else NotFoundError naming it', () => {
  // The object's own BTF stands in for a kernel that has no iterators at all.
  const btf = loadObjectSpec(ITER_O).btf!;
  const newer = versionAtLeast(release(), '6.1');
  assert.throws(
    () => findAttachBtfId(btf, AttachType.TRACE_ITER, 'cgroup'),
    (e: unknown) =>
      newer
        ? e instanceof NotFoundError &&
          e.message ===
            "attach target FUNC 'bpf_iter_cgroup' not found in kernel BTF (vmlinux) (cgroup iterators came in Linux 6.1)"
        : e instanceof NotSupportedError &&
          /^cgroup iterators \(bpf_iter_cgroup\) require Linux 6\.1 or later/.test(e.message),
  );
  assert.throws(
    () => findAttachBtfId(btf, AttachType.TRACE_ITER, 'no_such_iterator'),
    (e: unknown) =>
      e instanceof NotFoundError &&
      e.message === "attach target FUNC 'bpf_iter_no_such_iterator' not found in kernel BTF (vmlinux)",
  );
  for (const v of Object.values(ITERATOR_VERSIONS)) assert.match(v, /^\d+\.\d+$/);
});

test('loading an iterator newer than the kernel names the program and the version (older kernels only)', (t) => {
  if (!needRoot(t)) return;
  if (versionAtLeast(release(), '6.1')) {
    t.skip(`Linux ${release()} has cgroup iterators (6.1): the kernel matrix's 5.10 checks the refusal`);
    return;
  }
  const spec = loadObjectSpec(ITER_O);
  const task = spec.programs.find((p) => p.attachTo === 'task')!;
  task.attachTo = 'cgroup';
  assert.throws(
    () => loadObject(spec, { programs: [task.name] }).close(),
    (e: unknown) =>
      e instanceof NotSupportedError &&
      e.location?.program === task.name &&
      /cgroup iterators \(bpf_iter_cgroup\) require Linux 6\.1 or later/.test(e.message),
  );
});
