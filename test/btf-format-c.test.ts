// C header output: byte for byte against `bpftool btf dump file F format c` for the kernel's BTF,
// every testdata and xdp-tools object, C compiled here for both endians, and hand-built BTF.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BtfError } from '../src/errors.js';
import { Btf } from '../src/btf/btf.js';
import { BtfBuilder, type TypeSpec } from '../src/btf/builder.js';
import { parseBtfFile } from '../src/btf/from-elf.js';
import { formatC } from '../src/btf/format-c.js';
import { BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED } from '../src/btf/types.js';
import {
  assertSameText,
  objectsIn,
  TESTDATA,
  VMLINUX,
  XDP_TOOLS_DIR,
  needFile,
  needTool,
  run,
} from './helpers.js';

function bpftoolC(path: string): string {
  return run('bpftool', ['btf', 'dump', 'file', path, 'format', 'c']);
}

function checkFile(path: string): void {
  const btf = parseBtfFile(readFileSync(path), { file: path });
  assertSameText(formatC(btf), bpftoolC(path), path);
}

test('vmlinux: formatC equals bpftool format c', (t) => {
  if (!needTool(t, 'bpftool') || !needFile(t, VMLINUX)) return;
  const btf = parseBtfFile(readFileSync(VMLINUX), { file: VMLINUX });
  // The parser decodes lazily; decode first so the diagnostic reports the formatter's own time.
  let start = performance.now();
  for (let id = 1; id < btf.endTypeId; id++) btf.type(id);
  const decodeMs = performance.now() - start;
  start = performance.now();
  const got = formatC(btf);
  const ms = performance.now() - start;
  assertSameText(got, bpftoolC(VMLINUX), VMLINUX);
  t.diagnostic(
    `vmlinux: ${btf.typeCount} types decoded in ${decodeMs.toFixed(0)} ms, ` +
      `formatC wrote ${got.length} chars in ${ms.toFixed(0)} ms`,
  );
});

test('vmlinux: the header compiles with clang for BPF', (t) => {
  if (!needTool(t, 'clang-19') || !needFile(t, VMLINUX)) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-format-c-'));
  try {
    writeFileSync(join(dir, 'vmlinux.h'), formatC(parseBtfFile(readFileSync(VMLINUX))));
    writeFileSync(join(dir, 'prog.c'), '#include "vmlinux.h"\n');
    run('clang-19', ['-target', 'bpf', '-c', join(dir, 'prog.c'), '-o', join(dir, 'prog.o')]);
    assert.ok(existsSync(join(dir, 'prog.o')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('testdata objects: formatC equals bpftool format c', (t) => {
  if (!needTool(t, 'bpftool')) return;
  const files = objectsIn(TESTDATA);
  assert.ok(files.length > 0, 'no objects under testdata/');
  for (const f of files) checkFile(f);
});

test('xdp-tools objects: formatC equals bpftool format c', (t) => {
  if (!needTool(t, 'bpftool') || !needFile(t, XDP_TOOLS_DIR)) return;
  const files = objectsIn(XDP_TOOLS_DIR);
  assert.ok(files.length > 0, `no objects in ${XDP_TOOLS_DIR}`);
  for (const f of files) checkFile(f);
});

// Layouts and declarators the objects above have few of: packed and over-aligned structs, bitfield
// gaps, enum sizes and signs, function pointers returning function pointers, qualifiers, type tags,
// forward declarations and pointer cycles.
const TRICKY_C = `
typedef unsigned long long u64;
typedef int (*cb_t)(void *ctx, int, ...);
struct empty_outer { struct {} inner; int x; };
enum small : unsigned char { S0, S1 = 200 };
enum wide : unsigned long long { W0 = 1, W1 = 2 };
enum huge { H0 = 0x100000000ULL, H1 = -1 };
enum neg { N0 = -5, N1 = 7 };
struct __attribute__((packed)) pk { char a; int b; short c; };
struct bits { int a: 3; int : 5; int b: 9; long c: 40; char d; unsigned e: 1; };
struct al16 { int a; } __attribute__((aligned(16)));
struct al_member { char a; struct al16 b; char c; long d __attribute__((aligned(32))); };
struct fp { void (*fn)(int, char *); int (*arr[4])(void); void (*(*ret)(int))(long);
  const volatile int * restrict p; char m[2][3][4]; int (*pa)[5]; };
struct tags { int __attribute__((btf_type_tag("user"))) *u;
  const char __attribute__((btf_type_tag("a"))) __attribute__((btf_type_tag("b"))) *v; };
union un { int i; char c[3]; struct { short s; } anon; };
struct self { struct self *next; struct other *o; union { int x; struct self *back; }; };
struct other { struct self s; enum { OA, OB } e; };
typedef struct { int z; } anon_td;
typedef const struct self *cself_p;
typedef struct node node_t;
struct node { node_t *next; int v; };
struct undefined_s;
union undefined_u;
struct holder { struct undefined_s *a; union undefined_u *b; node_t n; };
union bu { int a: 4; unsigned b: 12; long c; };
struct mixed { char c; int x: 7; int y: 25; short s: 3; char after; long tail: 3; };
struct late { char a; } __attribute__((aligned(8)));
struct late_holder { struct late l[3]; char z; int arr0[0]; };
struct cyc_a; struct cyc_b { struct cyc_a *a; }; struct cyc_a { struct cyc_b b; struct cyc_b *pb; };
struct user { struct empty_outer a; enum small b; enum wide c; enum huge d; enum neg e; struct pk f;
  struct bits g; struct al_member h; struct fp i; struct tags j; union un k; struct other l; anon_td m;
  cself_p n; cb_t o; u64 p; _Bool q; float r; double s; long double t; __int128 u; struct holder v;
  union bu w; struct mixed x; struct late_holder y; struct cyc_a z; };
int use(struct user *u) { return u->a.x; }
const volatile struct cv { int q; } cvv;
int (* const cfp)(int) = 0;
char *(*pfa[3])[2];
`;

test('C compiled here for bpfel and bpfeb: formatC equals bpftool format c', (t) => {
  if (!needTool(t, 'bpftool') || !needTool(t, 'clang-19')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-format-c-'));
  try {
    writeFileSync(join(dir, 'tricky.c'), TRICKY_C);
    for (const target of ['bpfel', 'bpfeb']) {
      const obj = join(dir, `tricky-${target}.o`);
      run('clang-19', ['-g', '-O2', '-target', target, '-c', join(dir, 'tricky.c'), '-o', obj]);
      checkFile(obj);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Write hand-built BTF to a raw file bpftool can read, and parse it back. */
function handBuilt(dir: string, name: string, specs: TypeSpec[]): { path: string; btf: Btf } {
  const b = new BtfBuilder();
  for (const s of specs) b.add(s);
  const bytes = b.build();
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, btf: Btf.parse(bytes, { file: path }) };
}

const int = (name: string, size: number, encoding = BTF_INT_SIGNED): TypeSpec => ({
  kind: 'INT',
  name,
  size,
  encoding,
  bitsOffset: 0,
  bits: size * 8,
});
const member = (name: string, type: number, bitsOffset: number, bitfieldSize = 0) => ({
  name,
  type,
  bitsOffset,
  bitfieldSize,
});

// What clang never writes but kernels and GCC objects do: name clashes between types and between
// enumerators, top-level anonymous enums, GCC's qualified arrays and function types, va_list
// typedefs, Arm's __Poly types, kinds that emit nothing, nesting past libbpf's 13-tab indent cap.
function clashSpecs(): TypeSpec[] {
  const s: TypeSpec[] = [];
  s.push(int('int', 4)); // 1
  s.push(int('char', 1, BTF_INT_SIGNED | BTF_INT_CHAR)); // 2
  s.push(int('long', 8)); // 3
  s.push({ kind: 'STRUCT', name: 'dup', size: 4, kindFlag: false, members: [member('a', 1, 0)] }); // 4
  s.push({ kind: 'STRUCT', name: 'dup', size: 1, kindFlag: false, members: [member('b', 2, 0)] }); // 5
  s.push({ kind: 'TYPEDEF', name: 'dup_t', type: 5 }); // 6
  s.push({ kind: 'TYPEDEF', name: 'dup_t', type: 4 }); // 7
  const e = (name: string, values: [string, bigint][], signed = false, size = 4): TypeSpec => ({
    kind: 'ENUM',
    name,
    size,
    signed,
    values: values.map(([n, value]) => ({ name: n, value })),
  });
  s.push(e('e1', [['VAL', 1n]])); // 8
  s.push(
    e('e2', [
      ['VAL', 2n],
      ['OTHER', 3n],
    ]),
  ); // 9
  s.push(
    e(
      '',
      [
        ['TOP_A', -1n],
        ['TOP_B', -2147483648n],
      ],
      true,
    ),
  ); // 10: anonymous, unreferenced
  s.push(e('', [['INNER', 4294967295n]])); // 11: anonymous, used by the typedef below
  s.push({ kind: 'TYPEDEF', name: 'inner_t', type: 11 }); // 12
  s.push(e('opaque', [])); // 13: enum forward declaration
  s.push({ kind: 'PTR', name: '', type: 13 }); // 14
  s.push({
    kind: 'ENUM64',
    name: 'e64',
    size: 8,
    signed: true,
    values: [
      { name: 'MIN', value: -9223372036854775808n },
      { name: 'VAL', value: 5n },
    ],
  }); // 15
  s.push({ kind: 'FWD', name: 'fwd_s', union: false }); // 16
  s.push({ kind: 'FWD', name: 'fwd_u', union: true }); // 17
  s.push({ kind: 'PTR', name: '', type: 16 }); // 18
  s.push({ kind: 'PTR', name: '', type: 17 }); // 19
  s.push({ kind: 'PTR', name: '', type: 2 }); // 20
  s.push({ kind: 'TYPEDEF', name: '__builtin_va_list', type: 20 }); // 21
  s.push({ kind: 'TYPEDEF', name: '__gnuc_va_list', type: 0 }); // 22
  s.push({ kind: 'TYPEDEF', name: 'va_list', type: 21 }); // 23
  s.push({ kind: 'INT', name: '__Poly8_t', size: 1, encoding: 0, bitsOffset: 0, bits: 8 }); // 24
  s.push({ kind: 'ARRAY', name: '', type: 1, indexType: 1, nelems: 4 }); // 25
  s.push({ kind: 'CONST', name: '', type: 25 }); // 26: GCC's const array
  s.push({ kind: 'FUNC_PROTO', name: '', returnType: 0, params: [] }); // 27: f()
  s.push({ kind: 'VOLATILE', name: '', type: 27 }); // 28: GCC's noreturn
  s.push({ kind: 'PTR', name: '', type: 28 }); // 29
  s.push({
    kind: 'FUNC_PROTO',
    name: '',
    returnType: 1,
    params: [
      { name: 'fmt', type: 20 },
      { name: '', type: 0 },
    ],
  }); // 30: int (const char *fmt, ...)
  s.push({ kind: 'PTR', name: '', type: 30 }); // 31
  s.push({ kind: 'TYPE_TAG', name: 'user', type: 1 }); // 32
  s.push({ kind: 'PTR', name: '', type: 32 }); // 33
  s.push({ kind: 'FLOAT', name: 'double', size: 8 }); // 34
  s.push({ kind: 'INT', name: '_Bool', size: 1, encoding: BTF_INT_BOOL, bitsOffset: 0, bits: 8 }); // 35
  s.push({
    kind: 'STRUCT',
    name: 'kitchen',
    size: 96,
    kindFlag: true,
    members: [
      member('d', 6, 0),
      member('d2', 7, 32),
      member('e', 8, 64),
      member('e2', 9, 96),
      member('in', 12, 128),
      member('op', 14, 192),
      member('big', 15, 256),
      member('fs', 18, 320),
      member('fu', 19, 384),
      member('args', 23, 448),
      member('poly', 24, 512),
      member('bits', 1, 520, 3),
      member('flag', 35, 536, 1),
      member('carr', 26, 544),
      member('noret', 29, 704),
      member('printf', 31, 768),
    ],
  }); // 36
  s.push({ kind: 'VAR', name: 'kvar', type: 36, linkage: 1 }); // 37
  s.push({ kind: 'DATASEC', name: '.data', size: 96, vars: [{ type: 37, offset: 0, size: 96 }] }); // 38
  s.push({ kind: 'FUNC_PROTO', name: '', returnType: 1, params: [{ name: 'k', type: 33 }] }); // 39
  s.push({ kind: 'FUNC', name: 'kfunc', type: 39, linkage: 1 }); // 40
  s.push({ kind: 'DECL_TAG', name: 'tagged', type: 36, componentIdx: -1 }); // 41
  s.push({ kind: 'TYPEDEF', name: 'tagged_p', type: 33 }); // 42
  s.push({ kind: 'TYPEDEF', name: 'VAL', type: 34 }); // 43: clashes with enumerators
  // 44..59: sixteen anonymous structs, each the only member of the one before.
  const nest = 44;
  for (let i = 0; i < 16; i++) {
    const inner = i === 15 ? 1 : nest + i + 1;
    s.push({
      kind: 'STRUCT',
      name: i === 0 ? 'deep' : '',
      size: 4,
      kindFlag: false,
      members: [member(`l${i}`, inner, 0)],
    });
  }
  return s;
}

// A 32-bit target (4-byte long): padding uses `long: 32`.
function narrowSpecs(): TypeSpec[] {
  return [
    int('long int', 4), // 1
    int('char', 1, BTF_INT_CHAR), // 2
    { kind: 'PTR', name: '', type: 2 }, // 3
    {
      kind: 'STRUCT',
      name: 'narrow',
      size: 32,
      kindFlag: false,
      members: [member('c', 2, 0), member('p', 3, 32), member('l', 1, 128)],
    },
  ];
}

test('hand-built BTF: formatC equals bpftool format c', (t) => {
  if (!needTool(t, 'bpftool')) return;
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-format-c-'));
  try {
    for (const [name, specs] of [
      ['clash.btf', clashSpecs()],
      ['narrow.btf', narrowSpecs()],
    ] as const) {
      const { path, btf } = handBuilt(dir, name, specs);
      assertSameText(formatC(btf), bpftoolC(path), name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hand-built BTF: known spellings (no oracle needed)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-format-c-'));
  try {
    const out = formatC(handBuilt(dir, 'clash.btf', clashSpecs()).btf);
    assert.match(out, /^struct dup___2 \{$/m);
    assert.match(out, /^typedef struct dup___2 dup_t;$/m);
    assert.match(out, /^typedef struct dup dup_t___2;$/m);
    assert.match(out, /^\tVAL___2 = 2,$/m);
    assert.match(out, /^typedef double VAL___4;$/m);
    assert.match(out, /^enum \{\n\tTOP_A = -1,\n\tTOP_B = -2147483648,\n\};$/m);
    assert.match(out, /^\tMIN = -9223372036854775808LL,$/m);
    assert.match(out, /^typedef __builtin_va_list __gnuc_va_list;$/m);
    assert.match(out, /^typedef unsigned char __Poly8_t;$/m);
    assert.match(out, /^\tint carr\[4\];$/m);
    assert.match(out, /^\tvoid \(\*noret\)\(void\);$/m);
    assert.match(out, /^\tint \(\*printf\)\(char \*fmt, \.\.\.\);$/m);
    assert.match(out, /^typedef int __attribute__\(\(btf_type_tag\("user"\)\)\) \*tagged_p;$/m);
    assert.match(out, /^\t{13}int l15;$/m);
    assert.doesNotMatch(out, /typedef char \*__builtin_va_list/);
    assert.doesNotMatch(out, /kvar|kfunc|\.data|tagged;/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed BTF: BtfErrors, not stack overflows, hangs or endless padding', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-format-c-'));
  try {
    const cases: [string, TypeSpec[]][] = [
      [
        'self-embedding struct',
        [{ kind: 'STRUCT', name: 's', size: 4, kindFlag: false, members: [member('s', 1, 0)] }],
      ],
      ['typedef of itself', [{ kind: 'TYPEDEF', name: 't', type: 1 }]],
      [
        'const loop',
        [
          { kind: 'CONST', name: '', type: 2 },
          { kind: 'VOLATILE', name: '', type: 1 },
        ],
      ],
      ['array of itself', [{ kind: 'ARRAY', name: '', type: 1, indexType: 1, nelems: 2 }]],
      ['a 32 MiB hole', [{ kind: 'STRUCT', name: 'big', size: 1 << 25, kindFlag: false, members: [] }]],
      [
        'member of a missing type',
        [{ kind: 'STRUCT', name: 's', size: 4, kindFlag: false, members: [member('m', 9, 0)] }],
      ],
    ];
    for (const [what, specs] of cases) {
      // (bpftool itself spins forever on some of these, so it is no oracle here.)
      const { btf } = handBuilt(dir, 'bad.btf', specs);
      assert.throws(() => formatC(btf), BtfError, what);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('odd but well-formed BTF: no crash where C would have nothing to write', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-format-c-'));
  try {
    const { path, btf } = handBuilt(dir, 'odd.btf', [
      int('int', 4), // 1
      { kind: 'FUNC_PROTO', name: '', returnType: 1, params: [] }, // 2
      { kind: 'FUNC', name: 'f', type: 2, linkage: 0 }, // 3
      // A member whose type is a function: libbpf writes neither type nor name, and pads.
      { kind: 'STRUCT', name: 's', size: 4, kindFlag: false, members: [member('fn', 3, 0)] }, // 4
      // A struct of 0xffffffff bytes: libbpf's int arithmetic wraps and writes no padding.
      { kind: 'STRUCT', name: 'huge', size: 0xffffffff, kindFlag: false, members: [] }, // 5
    ]);
    const out = formatC(btf);
    assert.match(out, /^struct s \{\n\t;\n\tint: 32;\n\};$/m);
    assert.match(out, /^struct huge \{\n\};$/m);
    if (needTool(t, 'bpftool')) assertSameText(out, bpftoolC(path), 'odd.btf');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
