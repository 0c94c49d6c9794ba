// Builds testdata/core-target/target.btf: a hand-made "other kernel" for the CO-RE tests, with the
// type names testdata/core.c relocates against but other layouts: members in another order and at
// other offsets, a wider comm[], bitfields at other bits (one inside an anonymous struct), a field
// the flavour task_struct___old reads is missing, enums with other values, and two struct sk_buff
// candidates (sk_buff and sk_buff___dup) that agree. Run: node --import tsx testdata/core-target/build.ts
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BtfBuilder } from '../../src/btf/builder.js';
import { BTF_INT_SIGNED, type Member } from '../../src/btf/types.js';

const b = new BtfBuilder({ littleEndian: true });
const int = (name: string, size: number, signed: boolean): number =>
  b.add({ kind: 'INT', name, size, encoding: signed ? BTF_INT_SIGNED : 0, bitsOffset: 0, bits: size * 8 });
const typedef = (name: string, type: number): number => b.add({ kind: 'TYPEDEF', name, type });
const m = (name: string, type: number, bitsOffset: number, bitfieldSize = 0): Member => ({
  name,
  type,
  bitsOffset,
  bitfieldSize,
});

const tInt = int('int', 4, true);
const tUint = int('unsigned int', 4, false);
const tChar = int('char', 1, true);
const tIndex = int('__ARRAY_SIZE_TYPE__', 4, false);
const tUchar = int('unsigned char', 1, false);
const tUshort = int('unsigned short', 2, false);
const tLongLong = int('long long', 8, true);
const tS64 = typedef('__s64', tLongLong);
const tU8 = typedef('__u8', tUchar);
const tU16 = typedef('__u16', tUshort);
const tU32 = typedef('__u32', tUint);
const tPid = typedef('pid_t', tInt);
const tComm = b.add({ kind: 'ARRAY', name: '', type: tChar, indexType: tIndex, nelems: 32 });

// struct task_struct: comm first and twice as wide, pid and tgid swapped, no `state`.
const taskId = b.nextTypeId;
const tTaskPtr = taskId + 1;
b.add({
  kind: 'STRUCT',
  name: 'task_struct',
  size: 56,
  kindFlag: false,
  members: [
    m('comm', tComm, 0),
    m('real_parent', tTaskPtr, 256),
    m('flags', tUint, 320),
    m('tgid', tPid, 352),
    m('pid', tPid, 384),
    m('__state', tUint, 416),
  ],
});
b.add({ kind: 'PTR', name: '', type: taskId });

// struct sock_common: skc_cookie (an atomic64_t, as in the kernel) moved to byte 8.
const tAtomicBody = b.add({
  kind: 'STRUCT',
  name: '',
  size: 8,
  kindFlag: false,
  members: [m('counter', tS64, 0)],
});
const tAtomic64 = typedef('atomic64_t', tAtomicBody);
const tSockCommon = b.add({
  kind: 'STRUCT',
  name: 'sock_common',
  size: 16,
  kindFlag: false,
  members: [m('skc_hash', tU32, 0), m('skc_family', tU16, 32), m('skc_cookie', tAtomic64, 64)],
});

// struct sock: protocol first, the bitfield at bit 27, the common part after them.
b.add({
  kind: 'STRUCT',
  name: 'sock',
  size: 24,
  kindFlag: true,
  members: [
    m('sk_protocol', tU16, 0),
    m('sk_userlocks', tU8, 20, 4),
    m('sk_no_check_tx', tU8, 27, 1),
    m('__sk_common', tSockCommon, 64),
  ],
});

// struct sk_buff: pkt_type inside an anonymous struct (as the kernel's struct_group), at bit 5.
const tSkbFlags = b.add({
  kind: 'STRUCT',
  name: '',
  size: 4,
  kindFlag: true,
  members: [m('cloned', tU8, 0, 1), m('pkt_type', tU8, 5, 3), m('ignore_df', tU8, 8, 1)],
});
const skbMembers = [m('len', tU32, 0), m('data_len', tU32, 32), m('', tSkbFlags, 128)];
b.add({ kind: 'STRUCT', name: 'sk_buff', size: 24, kindFlag: false, members: skbMembers });
b.add({ kind: 'STRUCT', name: 'sk_buff___dup', size: 24, kindFlag: false, members: skbMembers });

// enum bpf_map_type: every name the object's copy has, with other values (RINGBUF is 99).
const mapTypes = [
  'UNSPEC',
  'HASH',
  'ARRAY',
  'PROG_ARRAY',
  'PERF_EVENT_ARRAY',
  'PERCPU_HASH',
  'PERCPU_ARRAY',
  'STACK_TRACE',
  'CGROUP_ARRAY',
  'LRU_HASH',
  'LRU_PERCPU_HASH',
  'LPM_TRIE',
  'ARRAY_OF_MAPS',
  'HASH_OF_MAPS',
  'DEVMAP',
  'SOCKMAP',
  'CPUMAP',
  'XSKMAP',
  'SOCKHASH',
  'CGROUP_STORAGE',
  'REUSEPORT_SOCKARRAY',
  'PERCPU_CGROUP_STORAGE',
  'QUEUE',
  'STACK',
  'SK_STORAGE',
  'DEVMAP_HASH',
  'STRUCT_OPS',
  'RINGBUF',
  'INODE_STORAGE',
  'TASK_STORAGE',
  'BLOOM_FILTER',
  'USER_RINGBUF',
  'ARENA',
];
b.add({
  kind: 'ENUM',
  name: 'bpf_map_type',
  size: 4,
  signed: false,
  values: mapTypes.map((n, i) => ({
    name: `BPF_MAP_TYPE_${n}`,
    value: n === 'RINGBUF' ? 99n : BigInt(100 + i),
  })),
});

// enum perf_callchain_context: 64-bit values that differ from Linux's.
b.add({
  kind: 'ENUM64',
  name: 'perf_callchain_context',
  size: 8,
  signed: false,
  values: [
    { name: 'PERF_CONTEXT_HV', value: 0xffffffff00000001n },
    { name: 'PERF_CONTEXT_KERNEL', value: 0xfffffffe00000080n },
    { name: 'PERF_CONTEXT_USER', value: 0x100000000n },
  ],
});

const out = join(dirname(fileURLToPath(import.meta.url)), 'target.btf');
writeFileSync(out, b.build());
process.stdout.write(`wrote ${out}\n`);
