// Program probes: names, calls, global data, flags, and helpers per program type.
import {
  asm,
  BPF_ADD,
  BPF_DW,
  BPF_FETCH,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_VALUE,
  R0,
  R1,
  R10,
} from '../asm/index.js';
import {
  AttachType,
  BPF_F_SLEEPABLE,
  BPF_F_XDP_HAS_FRAGS,
  MapType,
  ProgType,
  progTypeName,
} from '../constants.js';
import { mapCreate, objName, progLoad } from '../sys/bpf.js';
import type { ProgLoadAttr } from '../sys/bpf-attr.generated.js';
import { SyscallError } from '../sys/error.js';
import { E } from '../sys/errno.js';
import { attempt } from './attempt.js';
import { feature, type Feature } from './feature.js';
import { program } from './insns.js';
import { helperRefusalIn } from '../internal/helper-refusal.js';
import { checkArgument } from '../internal/options.js';

const RETURN_0 = program(asm.mov64Imm(R0, 0), asm.exit());

function load(attr: ProgLoadAttr, insns: Uint8Array = RETURN_0): boolean {
  return attempt(() => progLoad(attr, { insns, license: 'GPL' }).fd);
}

export const PROG_NAME = feature('program names', '4.15', () =>
  load({ prog_type: ProgType.SOCKET_FILTER, prog_name: objName('feature_probe') }),
);

export const BPF_TO_BPF_CALLS = feature('BPF-to-BPF calls', '4.16', () =>
  load(
    { prog_type: ProgType.SOCKET_FILTER },
    program(asm.call(1, BPF_PSEUDO_CALL), asm.exit(), asm.mov64Imm(R0, 0), asm.exit()),
  ),
);

/**
 * A probe program's answer: true when it loads, or when the kernel refuses it (EINVAL) with a log
 * matching `yes` (a kernel that understood the feature and refused something else); false when the
 * log matches `no` (the refusal of a kernel without it). Any other failure is thrown: the probe
 * cannot tell.
 */
function loadsOrRefusesFor(type: ProgType, insns: Uint8Array, log: { yes?: RegExp; no: RegExp }): boolean {
  try {
    progLoad({ prog_type: type }, { insns, license: 'GPL' }).fd.close();
    return true;
  } catch (err) {
    if (!(err instanceof SyscallError) || err.errno !== E.EINVAL) throw err;
    const text = err.log ?? '';
    if (log.yes?.test(text) === true) return true;
    if (log.no.test(text)) return false;
    throw err;
  }
}

/**
 * Callbacks: a subprogram's address taken with ld_imm64 (BPF_PSEUDO_FUNC), what bpf_loop,
 * bpf_for_each_map_elem and bpf_timer_set_callback are passed. Older kernels refuse the
 * instruction ("unrecognized bpf_ld_imm64 insn"), or, with func_info, count one subprogram fewer
 * than the records ("number of funcs in func_info doesn't match number of subprogs"). A kernel
 * that has them wants func_info with them: without it (as here, no BTF needed) it says so.
 */
export const CALLBACKS = feature('callbacks (ld_imm64 BPF_PSEUDO_FUNC)', '5.13', () => {
  // r1 = &subprog (insn 0 + imm 3 + 1 = insn 4); r0 = 0; exit; subprog: r0 = 0; exit.
  const insns = program(
    asm.ldImm64(R1, 3n, BPF_PSEUDO_FUNC),
    asm.mov64Imm(R0, 0),
    asm.exit(),
    asm.mov64Imm(R0, 0),
    asm.exit(),
  );
  // Loaded, or refused only for want of BTF (the verifier took the callback): a yes.
  return loadsOrRefusesFor(ProgType.SOCKET_FILTER, insns, {
    yes: /missing btf func_info/,
    no: /unrecognized bpf_ld_imm64 insn/,
  });
});

/**
 * kfunc calls: a call instruction naming a kernel function by its BTF id (BPF_PSEUDO_KFUNC_CALL),
 * what `__ksym` function externs become. The probe names BTF id 1, never a function: a kernel
 * with kfunc calls looks it up and says "is not a function"; an older one refuses the call's
 * source register ("BPF_CALL uses reserved fields").
 */
export const KFUNC_CALLS = feature('kfunc calls (BPF_PSEUDO_KFUNC_CALL)', '5.13', () => {
  const insns = program(asm.call(1, BPF_PSEUDO_KFUNC_CALL), asm.mov64Imm(R0, 0), asm.exit());
  return loadsOrRefusesFor(ProgType.SCHED_CLS, insns, {
    yes: /is not a function/,
    no: /BPF_CALL uses reserved fields/,
  });
});

/**
 * Atomic operations beyond a plain add (Linux 5.12): the fetching forms (`__sync_fetch_and_add`
 * whose result is used), and, or, xor, xchg and cmpxchg. An older kernel refuses a program that
 * holds one anywhere, before verifying it, saying only "BPF_STX uses reserved fields".
 */
export const ATOMICS = feature('atomic fetch, and/or/xor, xchg and cmpxchg (BPF_ATOMIC)', '5.12', () => {
  const insns = program(
    asm.st(BPF_DW, R10, -8, 0),
    asm.mov64Imm(R1, 1),
    asm.atomic(BPF_DW, BPF_ADD | BPF_FETCH, R10, R1, -8),
    asm.mov64Imm(R0, 0),
    asm.exit(),
  );
  return loadsOrRefusesFor(ProgType.SOCKET_FILTER, insns, { no: /BPF_STX uses reserved fields/ });
});

export const GLOBAL_DATA = feature('global data (BPF_PSEUDO_MAP_VALUE)', '5.2', () =>
  attempt(() => {
    const m = mapCreate({ map_type: MapType.ARRAY, key_size: 4, value_size: 4, max_entries: 1 });
    try {
      return progLoad(
        { prog_type: ProgType.SOCKET_FILTER },
        {
          insns: program(
            asm.ldImm64(R1, BigInt(m.fd), BPF_PSEUDO_MAP_VALUE),
            asm.mov64Imm(R0, 0),
            asm.exit(),
          ),
          license: 'GPL',
        },
      ).fd;
    } finally {
      m.close();
    }
  }),
);

/**
 * ld_imm64 of a map value at any 32-bit offset, which lets libbpf put `__arena` globals at the end
 * of the arena (its FEAT_LDIMM64_FULL_RANGE_OFF). Older verifiers refuse a direct value offset of
 * 2^29 or more ("direct value offset of ... is not allowed"); newer ones get as far as the value's
 * bounds ("invalid access to map value pointer"). The program is refused either way: the log tells.
 */
export const LDIMM64_FULL_RANGE_OFF = feature('ld_imm64 map value offsets over 2^29', '7.0', () => {
  const m = mapCreate({ map_type: MapType.ARRAY, key_size: 4, value_size: 4, max_entries: 1 });
  try {
    const insns = program(asm.ldImm64(R1, BigInt(m.fd) | (1n << 62n), BPF_PSEUDO_MAP_VALUE), asm.exit());
    progLoad({ prog_type: ProgType.SOCKET_FILTER }, { insns, license: 'GPL' }, { level: 1 }).fd.close();
    return false;
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
    return (
      !(e.log ?? '').includes('direct value offset of') &&
      (e.log ?? '').includes('invalid access to map value pointer')
    );
  } finally {
    m.close();
  }
});

export const XDP_HAS_FRAGS = feature('BPF_F_XDP_HAS_FRAGS', '5.18', () =>
  load({ prog_type: ProgType.XDP, prog_flags: BPF_F_XDP_HAS_FRAGS, expected_attach_type: AttachType.XDP }),
);

const progTypes = new Map<number, Feature>();

/** The probe for one program type (loads `return 0`), made on first request. */
export function progTypeFeature(type: number, version: string): Feature {
  checkArgument(
    'progTypeFeature',
    'type',
    type,
    'a program type (ProgType)',
    Number.isInteger(type) && type >= 0 && type <= 0xffffffff,
  );
  checkArgument(
    'progTypeFeature',
    'version',
    version,
    'a kernel version string',
    typeof version === 'string',
  );
  let f = progTypes.get(type);
  if (f === undefined) {
    // Syscall programs load only sleepable; some types only with an expected attach type.
    const flags = type === ProgType.SYSCALL ? { prog_flags: BPF_F_SLEEPABLE } : {};
    const expected = PROBE_ATTACH_TYPES[type];
    const attach = expected !== undefined ? { expected_attach_type: expected } : {};
    f = feature(progTypeName(type), version, () => load({ prog_type: type, ...flags, ...attach }));
    progTypes.set(type, f);
  }
  return f;
}

/**
 * Whether a program of `type` may call helper `id`: the verifier names an unknown or forbidden
 * helper in its log; any other complaint (about the arguments we did not set up) means it is there.
 */
export function helperAvailable(type: number, id: number): boolean {
  try {
    progLoad(
      { prog_type: type },
      { insns: program(asm.call(id), asm.mov64Imm(R0, 0), asm.exit()), license: 'GPL' },
    ).fd.close();
    return true;
  } catch (err) {
    // The verifier answers EINVAL for an unknown helper and EACCES for bad arguments to a known one.
    if (!(err instanceof SyscallError) || (err.errno !== E.EINVAL && err.errno !== E.EACCES)) throw err;
    const log = err.log ?? '';
    // Licensed GPL, the probe cannot meet a GPL-only refusal: any refusal means not available.
    if (helperRefusalIn(log) !== undefined) return false;
    if (log === '') throw err;
    return true;
  }
}

const helpers = new Map<string, Feature>();

/** The probe for helper `id` in programs of `type`. */
export function helperFeature(type: number, id: number, name: string, version: string): Feature {
  checkArgument(
    'helperFeature',
    'type',
    type,
    'a program type (ProgType)',
    Number.isInteger(type) && type >= 0 && type <= 0xffffffff,
  );
  checkArgument(
    'helperFeature',
    'id',
    id,
    'a helper id',
    Number.isInteger(id) && id >= 0 && id <= 0x7fffffff,
  );
  checkArgument('helperFeature', 'name', name, 'a helper name', typeof name === 'string');
  checkArgument('helperFeature', 'version', version, 'a kernel version string', typeof version === 'string');
  const key = `${type}:${id}`;
  let f = helpers.get(key);
  if (f === undefined) {
    f = feature(`${name} in ${progTypeName(type)}`, version, () => helperAvailable(type, id));
    helpers.set(key, f);
  }
  return f;
}

/** The expected attach type a program type's probe loads with, for types that load only with one. */
const PROBE_ATTACH_TYPES: Readonly<Partial<Record<number, number>>> = {
  [ProgType.CGROUP_SOCK_ADDR]: AttachType.CGROUP_INET4_CONNECT,
  [ProgType.CGROUP_SOCKOPT]: AttachType.CGROUP_GETSOCKOPT,
  [ProgType.SK_LOOKUP]: AttachType.SK_LOOKUP,
  [ProgType.NETFILTER]: AttachType.NETFILTER,
};

/**
 * The release that brought each program type that a `return 0` load (with the expected attach
 * type above, where the type needs one) can probe: types that load only with an attach target
 * (tracing, lsm, ext, struct_ops) or that need more (sk_reuseport) are left out.
 */
export const PROG_TYPE_VERSIONS: Readonly<Partial<Record<number, string>>> = {
  [ProgType.SOCKET_FILTER]: '3.19',
  [ProgType.KPROBE]: '4.1',
  [ProgType.SCHED_CLS]: '4.1',
  [ProgType.SCHED_ACT]: '4.1',
  [ProgType.TRACEPOINT]: '4.7',
  [ProgType.XDP]: '4.8',
  [ProgType.PERF_EVENT]: '4.9',
  [ProgType.CGROUP_SKB]: '4.10',
  [ProgType.CGROUP_SOCK]: '4.10',
  [ProgType.SOCK_OPS]: '4.13',
  [ProgType.SK_SKB]: '4.14',
  [ProgType.CGROUP_DEVICE]: '4.15',
  [ProgType.SK_MSG]: '4.17',
  [ProgType.RAW_TRACEPOINT]: '4.17',
  [ProgType.FLOW_DISSECTOR]: '4.20',
  [ProgType.CGROUP_SYSCTL]: '5.2',
  [ProgType.SYSCALL]: '5.14',
  [ProgType.CGROUP_SOCK_ADDR]: '4.17',
  [ProgType.CGROUP_SOCKOPT]: '5.3',
  [ProgType.SK_LOOKUP]: '5.9',
  [ProgType.NETFILTER]: '6.4',
};

export const KPROBE = progTypeFeature(ProgType.KPROBE, '4.1');
export const XDP = progTypeFeature(ProgType.XDP, '4.8');
export const PROBE_READ_KERNEL = helperFeature(ProgType.KPROBE, 113, 'bpf_probe_read_kernel', '5.5');
export const RINGBUF_OUTPUT = helperFeature(ProgType.SOCKET_FILTER, 130, 'bpf_ringbuf_output', '5.8');
export const BPF_COOKIE = helperFeature(ProgType.KPROBE, 174, 'bpf_get_attach_cookie', '5.15');
export const SYSCALL_PROGRAMS = progTypeFeature(ProgType.SYSCALL, '5.14');
