// bpftool's BTF value dump as the oracle: a map of every kind of member, loaded by bpftool itself
// (prog loadall), dumped with `bpftool -j map dump` (raw bytes + formatted) and plain; the formatter
// must give the same tree for the same bytes, and the same text in both layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf } from '../src/btf/btf.js';
import { formatEntry, writeJson, type Json } from '../src/btf/format-value.js';
import { hexBytes, member, parseJsonTree } from './map-json.js';
import { needRoot, needTool, run } from './helpers.js';

const SOURCE = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
typedef char mychar;
enum color { RED = 0, GREEN = 1, BLUE = 2, NEGATIVE = -3 };
enum big { SMALL = 1, HUGE = 0x1234567890ULL, TOP = 0xffffffffffffffffULL };
struct bits { unsigned int a : 3; unsigned int b : 5; int c : 7; unsigned long long wide : 40;
  unsigned char flag : 1; unsigned short tail; } __attribute__((packed));
union number { unsigned long long u; long long s; unsigned char bytes[8]; };
struct all {
  char name[12];
  char quoted[8];
  char full[3];
  char binary[4];
  char empty[2];
  mychar tdef[4];
  unsigned char mac[6];
  short temps[3];
  _Bool ok;
  char c1, c2;
  enum color color, color2;
  enum big big, big2;
  union number num;
  struct bits bits;
  unsigned short grid[2][3];
  struct { unsigned int x; union { unsigned int y; int sy; }; } point;
  union { unsigned char raw[4]; struct { unsigned short lo, hi; }; };
  void *ptr;
  void *ptr2;
  __int128 wide128;
  unsigned __int128 uwide128;
  signed char sc;
  long long neg64;
};
struct all g1 = { .name = "hello", .quoted = "a'b\\"c", .full = "abc", .binary = {1, 0, 2, 0},
  .tdef = "xy", .mac = {1,2,3,4,5,6}, .temps = {-1, 300, -32768}, .ok = 1, .c1 = 'Q', .c2 = 7,
  .color = NEGATIVE, .color2 = 77, .big = HUGE, .big2 = 0xfffffffffffffff0ULL,
  .num = { .u = 0x0102030405060708ULL },
  .bits = { .a = 5, .b = 17, .c = -2, .wide = 0x123456789ULL, .flag = 1, .tail = 0xbeef },
  .grid = {{1,2,3},{4,5,6}}, .point = { .x = 7, .y = 8 }, .lo = 0x1122, .hi = 0x3344,
  .ptr = (void*)0, .ptr2 = (void*)0x1234,
  .wide128 = -((__int128)1 << 100),
  .uwide128 = ((unsigned __int128)0xfedcba9876543210ULL << 64) | 0x0123456789abcdefULL,
  .sc = -5, .neg64 = -9000000000000LL };
SEC("xdp") int prog(struct xdp_md *ctx) { return g1.ok ? XDP_PASS : XDP_DROP; }
char LICENSE[] SEC("license") = "GPL";
`;

test('formatter equals bpftool map dump (-j formatted and plain text) on a .data map', (t) => {
  if (!needRoot(t) || !needTool(t, 'bpftool') || !needTool(t, 'clang-19') || !needTool(t, 'llvm-objcopy-19'))
    return;
  const dir = mkdtempSync(join(tmpdir(), 'fmt-'));
  const pin = `/sys/fs/bpf/ebpf-test-fmt-${process.pid}`;
  try {
    writeFileSync(join(dir, 'f.c'), SOURCE);
    const obj = join(dir, 'f.o');
    run('clang-19', [
      '--target=bpfel',
      '-g',
      '-O2',
      '-I/usr/include/x86_64-linux-gnu',
      '-c',
      join(dir, 'f.c'),
      '-o',
      obj,
    ]);
    run('llvm-objcopy-19', [`--dump-section=.BTF=${join(dir, 'btf')}`, obj, join(dir, 'junk')]);
    const btf = Btf.parse(new Uint8Array(readFileSync(join(dir, 'btf'))));
    let sec = 0;
    for (const ty of btf.types()) if (ty.kind === 'DATASEC' && ty.name === '.data') sec = ty.id;
    run('bpftool', ['prog', 'loadall', obj, pin, 'pinmaps', `${pin}_maps`]);
    const map = `${pin}_maps/f_data`;

    const j = parseJsonTree(run('bpftool', ['-j', 'map', 'dump', 'pinned', map])) as Json[];
    assert.equal(j.length, 1);
    const value = hexBytes(member(j[0]!, 'value'));
    const ours = formatEntry(btf, 0, sec, undefined, value);
    assert.equal(writeJson(ours), writeJson(member(j[0]!, 'formatted')));
    // A few facts about bpftool's rules, so a change in both would still be noticed.
    const text = writeJson(ours);
    for (const frag of [
      '"name":"hello"',
      '"full":[97,98,99]',
      '"tdef":[120,121,0,0]',
      '"c":"0x7e"',
      '"big2":-16',
      '"color2":77',
      '"ptr2":4660',
    ]) {
      assert.ok(text.includes(frag), frag);
    }
    // The plain text layout, byte for byte.
    const plain = run('bpftool', ['map', 'dump', 'pinned', map]);
    assert.equal(
      writeJson([formatEntry(btf, 0, sec, undefined, value, { plain: true })], true) + '\n',
      plain,
    );
  } finally {
    rmSync(pin, { recursive: true, force: true });
    rmSync(`${pin}_maps`, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
