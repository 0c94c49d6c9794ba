// BPF tokens (Linux 6.9): inside an unprivileged user namespace, with a BPF filesystem the
// privileged parent mounted with delegation options (test/c/token_userns.c), a load goes through a
// token made from it (`tokenPath`, or LIBBPF_BPF_TOKEN_PATH) and fails without one; the token's
// delegated program types bound what loads. On the host: a token asked for that cannot be made is
// a LoadError at step 'token' saying why.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { release } from 'node:os';
import { haveFeature, versionAtLeast } from '../src/features/feature.js';
import { TOKEN } from '../src/features/maps.js';
import { LoadError, loadObject } from '../src/loader/index.js';
import { ROOT, TESTDATA, need, needRoot, needTool } from './helpers.js';

const HARNESS_SRC = join(ROOT, 'test', 'c', 'token_userns.c');
const HARNESS_BIN = join(ROOT, 'build', 'test-c', 'token_userns');
const OBJ = join(TESTDATA, 'globals-el.o');

function harness(): string {
  if (!existsSync(HARNESS_BIN) || statSync(HARNESS_BIN).mtimeMs < statSync(HARNESS_SRC).mtimeMs) {
    mkdirSync(join(ROOT, 'build', 'test-c'), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', HARNESS_SRC, '-o', HARNESS_BIN], { stdio: 'inherit' });
  }
  return HARNESS_BIN;
}

/** Why this host cannot make unprivileged user namespaces, if it cannot. */
function userNamespacesRefused(): string | undefined {
  const read = (p: string): string | undefined =>
    existsSync(p) ? readFileSync(p, 'utf8').trim() : undefined;
  if (read('/proc/sys/user/max_user_namespaces') === '0') return 'user.max_user_namespaces is 0';
  if (read('/proc/sys/kernel/unprivileged_userns_clone') === '0')
    return 'kernel.unprivileged_userns_clone is 0';
  return undefined;
}

interface Attempt {
  loaded: boolean;
  token?: string | null;
  retval?: number;
  counter?: number;
  error?: string;
  code?: string | null;
  step?: string | null;
  message?: string;
}

/** Runs test/token-child.ts in a user namespace with a bpffs delegating `progs` (and everything else). */
function inUserNamespace(progs: string): {
  withoutToken: Attempt;
  withTokenPath: Attempt;
  fromEnvironment: Attempt;
} {
  const dir = mkdtempSync(join(tmpdir(), `ebpf-token-${process.pid}-`));
  chmodSync(dir, 0o755); // the namespace's root is uid 65534 on the host
  try {
    const r = spawnSync(
      harness(),
      [
        dir,
        'any',
        'any',
        progs,
        'any',
        '--',
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'test', 'token-child.ts'),
        dir,
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(r.status, 0, `token_userns: ${r.error ?? ''} ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function needTokens(t: TestContext): boolean {
  if (!needRoot(t) || !needTool(t, 'gcc')) return false;
  if (!haveFeature(TOKEN) && !versionAtLeast(release(), '6.9')) {
    t.skip(`BPF tokens need Linux 6.9 (this is ${release()})`); // older: no failure, even under CI
    return false;
  }
  if (!need(t, haveFeature(TOKEN), 'BPF tokens need Linux 6.9')) return false;
  const refused = userNamespacesRefused();
  return need(t, refused === undefined, `unprivileged user namespaces are off: ${refused}`);
}

test('in an unprivileged user namespace, a load goes through a token from the delegated bpffs, and fails without', (t) => {
  if (!needTokens(t)) return;
  const r = inUserNamespace('any');
  // Without a token, nothing of bpf(2) is allowed there (the first command refused ends the load).
  assert.equal(r.withoutToken.loaded, false);
  assert.equal(r.withoutToken.code, 'EPERM', r.withoutToken.message);
  for (const a of [r.withTokenPath, r.fromEnvironment]) {
    assert.equal(a.loaded, true, a.message);
    assert.ok(a.token !== null && a.token !== undefined && a.token.startsWith(tmpdir()), String(a.token));
    // The XDP program ran (XDP_PASS) and bumped .data's counter from 1.
    assert.equal(a.retval, 2);
    assert.equal(a.counter, 2);
  }
});

test('a token allows only the delegated program types: a tracepoint program is refused where XDP is delegated', (t) => {
  if (!needTokens(t)) return;
  // socket_filter too: the loader's feature probes load socket filters.
  const r = inUserNamespace('socket_filter:xdp');
  const a = r.withTokenPath;
  assert.equal(a.loaded, false);
  assert.equal(a.error, 'LoadError', a.message);
  assert.equal(a.step, 'program');
  assert.equal(a.code, null);
  assert.match(a.message ?? '', /prog 'use_strings': BPF_PROG_LOAD: EPERM/);
  assert.match(a.message ?? '', /BPF token/, 'the hint names tokens');
});

test('a token asked for that cannot be made is a LoadError at step token, saying why', (t) => {
  if (!needRoot(t)) return;
  const cases: [string, RegExp][] = [
    ['/nonexistent-ebpf-token-path', /cannot open it \(ENOENT\)/],
    [
      '/sys/fs/bpf',
      haveFeature(TOKEN)
        ? /(initial user namespace|no delegation|another user namespace)/
        : /BPF tokens need Linux 6\.9/,
    ],
  ];
  for (const [path, why] of cases) {
    assert.throws(
      () => loadObject(OBJ, { tokenPath: path }),
      (e: unknown) => {
        assert.ok(e instanceof LoadError, String(e));
        assert.equal(e.step, 'token');
        assert.ok(e.message.includes(`'${path}'`), e.message);
        assert.match(e.message, why);
        return true;
      },
    );
  }
  // Told to use none, or told nothing (the optional try of /sys/fs/bpf), the load goes on.
  loadObject(OBJ, { tokenPath: '' }).close();
  loadObject(OBJ).close();
});
