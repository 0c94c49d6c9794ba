// loadObjectAsync: the same kernel objects as loadObject (the kernel's own program tags as the
// oracle), the event loop turning while programs are verified on the thread pool, and failures
// (the verifier's, or any injected syscall failure) leaving nothing behind, as loadObject does.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadObject, loadObjectAsync, VerifierError, type LoadedObject } from '../src/loader/index.js';
import { failNthCall, setSyscallHook } from '../src/loader/syscalls.js';
import { bpfDescriptors, needRoot, TESTDATA } from './helpers.js';

const MAPS = join(TESTDATA, 'maps-el.o');

function tags(obj: LoadedObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, prog] of obj.programs) out[name] = prog.info().tag;
  return out;
}

test('loadObjectAsync loads what loadObject loads, and the event loop turns meanwhile', async (t) => {
  if (!needRoot(t)) return;
  const sync = loadObject(MAPS);
  const want = tags(sync);
  sync.close();
  assert.ok(Object.keys(want).length > 1, 'an object with several programs');
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  let immediate = false;
  setImmediate(() => (immediate = true));
  const obj = await loadObjectAsync(MAPS);
  clearInterval(ticker);
  try {
    assert.ok(immediate, 'a setImmediate queued before the load ran before it finished');
    assert.deepEqual(tags(obj), want, 'the kernel computed the same tag for each program');
  } finally {
    obj.close();
  }
  t.diagnostic(`${turns} timer turns during the load`);
});

test('loadObjectAsync: a verifier failure rejects with VerifierError and leaves no descriptor', async (t) => {
  if (!needRoot(t)) return;
  const before = bpfDescriptors();
  await assert.rejects(loadObjectAsync(join(TESTDATA, 'core_poison-el.o')), (e: unknown) => {
    assert.ok(e instanceof VerifierError, String(e));
    assert.match(e.log, /\S/);
    return true;
  });
  assert.deepEqual(bpfDescriptors(), before);
});

test('loadObjectAsync: whichever syscall fails, the load rejects and nothing is left', async (t) => {
  if (!needRoot(t)) return;
  loadObject(MAPS).close(); // warm caches: feature probes
  let total = 0;
  setSyscallHook((_c, n) => (total = n));
  (await loadObjectAsync(MAPS)).close();
  setSyscallHook(undefined);
  assert.ok(total > 9, `${total} syscalls`);
  const before = bpfDescriptors();
  for (let i = 1; i <= total; i++) {
    setSyscallHook(failNthCall(i));
    try {
      (await loadObjectAsync(MAPS)).close();
    } catch (e) {
      assert.ok(e instanceof Error && e.name !== 'TypeError' && e.name !== 'RangeError', String(e));
    } finally {
      setSyscallHook(undefined);
    }
    assert.deepEqual(bpfDescriptors(), before, `descriptors left when syscall ${i} of ${total} failed`);
  }
});
