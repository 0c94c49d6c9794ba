// The kernel features the loader decides on, taken from src/features' cached probes; a plain
// record so that a caller (or a test) can pretend to be an older kernel.
import {
  ATOMICS,
  BPF_COOKIE,
  BPF_F_MMAPABLE_FLAG,
  BTF,
  BTF_FUNC_GLOBAL,
  BTF_KIND_DATASEC,
  BTF_KIND_DECL_TAG,
  BTF_KIND_ENUM64,
  BTF_KIND_FLOAT,
  BTF_KIND_FUNC,
  BTF_KIND_TYPE_TAG,
  CALLBACKS,
  GLOBAL_DATA,
  KFUNC_CALLS,
  PROG_NAME,
  SYSCALL_WRAPPER,
  haveFeature,
  kprobesAvailable,
} from '../features/index.js';
import type { BtfFeatures } from './btf-sanitize.js';

export interface LoaderFeatures {
  /** BPF_BTF_LOAD at all (Linux 4.18). */
  btf: boolean;
  btfKinds: BtfFeatures;
  /** prog_name / map_name in bpf_attr (Linux 4.15). */
  progName: boolean;
  /** Global data: array maps referenced through BPF_PSEUDO_MAP_VALUE (Linux 5.2). */
  globalData: boolean;
  /** BPF_F_MMAPABLE array maps (Linux 5.5); libbpf drops the flag from internal maps without it. */
  mmapable: boolean;
  /** ld_imm64 BPF_PSEUDO_FUNC: subprograms passed as callbacks (Linux 5.13). */
  callbacks: boolean;
  /** Atomic fetch, and/or/xor, xchg, cmpxchg (Linux 5.12); a plain atomic add is older. */
  atomics: boolean;
  /** kfunc calls (BPF_PSEUDO_KFUNC_CALL, Linux 5.13): `__ksym` functions. */
  kfuncCalls: boolean;
  /** bpf_get_attach_cookie (Linux 5.15): the `LINUX_HAS_BPF_COOKIE` kconfig extern. */
  bpfCookie: boolean;
  /**
   * The `LINUX_HAS_SYSCALL_WRAPPER` kconfig extern: syscall wrappers (Linux 4.17 on x86-64) that a
   * kprobe can reach. libbpf finds out by creating a kprobe, so without kprobes it says 0.
   */
  syscallWrapper: boolean;
  /**
   * ld_imm64 map value offsets over 2^29 (Linux 7.0): libbpf then puts `__arena` globals at the end
   * of the arena rather than at its start. Probed only when an object has such globals, when unset.
   */
  ldimm64FullRangeOff?: boolean;
  /**
   * struct_ops links (Linux 6.4): `.struct_ops.link` maps keep BPF_F_LINK. Probed when such a map
   * is created, if left undefined.
   */
  structOpsLink?: boolean;
  /**
   * uprobe_multi links (Linux 6.6) and kprobe_multi links (5.18): without them uprobe.multi and
   * kprobe.multi programs are loaded for single probes. Probed when such a program loads, if
   * left undefined.
   */
  uprobeMultiLink?: boolean;
  kprobeMultiLink?: boolean;
}

/** The running kernel's features (each probed once per process, by src/features). */
export function loaderFeatures(): LoaderFeatures {
  const btf = haveFeature(BTF);
  return {
    btf,
    btfKinds: {
      func: btf && haveFeature(BTF_KIND_FUNC),
      globalFunc: btf && haveFeature(BTF_FUNC_GLOBAL),
      datasec: btf && haveFeature(BTF_KIND_DATASEC),
      float: btf && haveFeature(BTF_KIND_FLOAT),
      declTag: btf && haveFeature(BTF_KIND_DECL_TAG),
      typeTag: btf && haveFeature(BTF_KIND_TYPE_TAG),
      enum64: btf && haveFeature(BTF_KIND_ENUM64),
    },
    progName: haveFeature(PROG_NAME),
    globalData: haveFeature(GLOBAL_DATA),
    mmapable: haveFeature(BPF_F_MMAPABLE_FLAG),
    // Lazy: only a program passing a callback asks.
    get callbacks(): boolean {
      return haveFeature(CALLBACKS);
    },
    // Lazy: only a program with such an atomic asks.
    get atomics(): boolean {
      return haveFeature(ATOMICS);
    },
    // Lazy: only an object calling a kfunc asks.
    get kfuncCalls(): boolean {
      return haveFeature(KFUNC_CALLS);
    },
    bpfCookie: haveFeature(BPF_COOKIE),
    // Lazy: the probe reads all of /proc/kallsyms, and only a `LINUX_HAS_SYSCALL_WRAPPER` extern asks.
    get syscallWrapper(): boolean {
      return kprobesAvailable() && haveFeature(SYSCALL_WRAPPER);
    },
  };
}
