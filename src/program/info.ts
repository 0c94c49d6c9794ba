// ProgramInfo: what the kernel tells about a loaded program (struct bpf_prog_info), in JS terms,
// plus the few facts bpftool adds from elsewhere (memlock from fdinfo, load time on the wall clock).
import { readFileSync } from 'node:fs';
import type { ProgType } from '../constants.js';
import { progGetInfo } from '../sys/bpf.js';
import { checkArgument, checkOptionsArgument } from '../internal/options.js';

export interface ProgramInfo {
  id: number;
  name: string;
  type: ProgType;
  /** The kernel's tag: a hash of the instructions before map fds are patched, 16 hex digits. */
  tag: string;
  gplCompatible: boolean;
  /** Ids of the maps the program uses. */
  mapIds: number[];
  /** Size in bytes of the instructions after the verifier rewrote them. */
  xlatedSize: number;
  /** Size in bytes of the JIT's machine code; 0 without JIT. */
  jitedSize: number;
  /** Id of the program's BTF object; 0 when loaded without BTF. */
  btfId: number;
  /** Nanoseconds since boot (CLOCK_BOOTTIME) when the program was loaded. */
  loadTime: bigint;
  /** loadTime on the wall clock (to the accuracy of /proc/uptime, 10 ms). */
  loadedAt: Date;
  createdByUid: number;
  /** Times run and total time, counted only while statistics are on (see enableStats()). */
  runCount: bigint;
  runTimeNs: bigint;
  recursionMisses: bigint;
  /** Instructions the verifier processed. Requires Linux 5.16. */
  verifiedInsns: number;
  /** Device the program is bound to (offload, dev-bound XDP); 0 otherwise. */
  ifindex: number;
  attachBtfId: number;
  attachBtfObjId: number;
  /** Instructions after the verifier, when asked for (`{ xlated: true }`); 8 bytes each. */
  xlatedInsns?: Uint8Array;
  /** The JIT's machine code, when asked for (`{ jited: true }`). */
  jitedInsns?: Uint8Array;
}

export interface InfoOptions {
  /** Also fetch the verifier's rewritten instructions (needs CAP_SYS_ADMIN / CAP_PERFMON). */
  xlated?: boolean;
  /** Also fetch the JIT's machine code. */
  jited?: boolean;
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Milliseconds since the epoch at boot, from the wall clock and CLOCK_BOOTTIME via /proc/uptime. */
export function bootTimeMs(): number {
  const uptime = Number.parseFloat(readFileSync('/proc/uptime', 'utf8').split(' ')[0] ?? '0');
  return Date.now() - uptime * 1000;
}

/** BPF_OBJ_GET_INFO_BY_FD on a program descriptor. Requires Linux 4.13. */
export function programInfo(fd: number, opts: InfoOptions = {}): ProgramInfo {
  checkArgument(
    'programInfo',
    'fd',
    fd,
    'a descriptor number',
    typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && fd <= 0x7fffffff,
  );
  checkOptionsArgument('programInfo', opts);
  const r = progGetInfo(fd, {
    mapIds: true,
    xlatedInsns: opts.xlated === true,
    jitedInsns: opts.jited === true,
  });
  const i = r.info;
  const out: ProgramInfo = {
    id: i.id,
    name: r.name,
    type: i.type as ProgType,
    tag: hex(i.tag),
    gplCompatible: i.gpl_compatible !== 0,
    mapIds: r.mapIds ?? [],
    xlatedSize: i.xlated_prog_len,
    jitedSize: i.jited_prog_len,
    btfId: i.btf_id,
    loadTime: i.load_time,
    loadedAt: new Date(bootTimeMs() + Number(i.load_time / 1_000_000n)),
    createdByUid: i.created_by_uid,
    runCount: i.run_cnt,
    runTimeNs: i.run_time_ns,
    recursionMisses: i.recursion_misses,
    verifiedInsns: i.verified_insns,
    ifindex: i.ifindex,
    attachBtfId: i.attach_btf_id,
    attachBtfObjId: i.attach_btf_obj_id,
  };
  if (r.xlatedInsns !== undefined) out.xlatedInsns = r.xlatedInsns;
  if (r.jitedInsns !== undefined) out.jitedInsns = r.jitedInsns;
  return out;
}

/** The `memlock:` line of /proc/self/fdinfo for a bpf descriptor, in bytes; 0 if absent. */
export function memlockOf(fd: number): number {
  try {
    const m = /^memlock:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
