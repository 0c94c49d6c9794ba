// BPF iterators: a TRACING program loaded for BPF_TRACE_ITER (section `iter/task`, `iter/bpf_map`,
// `iter/bpf_map_elem`, ...) attached through a link (Linux 5.8; map elements 5.9, task options
// 5.19), whose output is read from a new descriptor per read-through (BPF_ITER_CREATE), or from
// the file a pinned iterator link makes in bpffs.
import { createReadStream, readSync, type ReadStream } from 'node:fs';
import { AttachType, ProgType } from '../constants.js';
import { EbpfError } from '../errors.js';
import type { BpfMap } from '../map/map.js';
import type { Program } from '../program/program.js';
import { iterCreate, linkCreate } from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { Link, requireProgramType } from './link.js';
import { checkProgramArgument } from './link.js';
import { checkOptionsArgument } from '../internal/options.js';

export interface IterOptions {
  /** bpf_map_elem, sockmap and map-backed iterators: the map to walk. */
  map?: BpfMap;
  /** task, task_file, task_vma iterators: only this thread (Linux 5.19). */
  tid?: number;
  /** task iterators: only the threads of this process (Linux 5.19). */
  pid?: number;
  /** cgroup iterators: the cgroup (descriptor of its directory) and the walk order. */
  cgroupFd?: number;
  /** BPF_CGROUP_ITER_SELF_ONLY (1), _DESCENDANTS_PRE (2), _DESCENDANTS_POST (3), _ANCESTORS_UP (4). */
  cgroupOrder?: number;
}

/** union bpf_iter_link_info: map_fd at 0; cgroup {order, cgroup_fd, cgroup_id}; task {tid, pid, pid_fd}. */
function iterInfo(opts: IterOptions): Uint8Array | undefined {
  const info = new Uint8Array(16);
  const v = new DataView(info.buffer);
  if (opts.map !== undefined) {
    v.setUint32(0, opts.map.fd.fd, true);
    return info;
  }
  if (opts.cgroupFd !== undefined) {
    v.setUint32(0, opts.cgroupOrder ?? 0, true);
    v.setUint32(4, opts.cgroupFd, true);
    return info;
  }
  if (opts.tid !== undefined || opts.pid !== undefined) {
    v.setUint32(0, opts.tid ?? 0, true);
    v.setUint32(4, opts.pid ?? 0, true);
    return info;
  }
  return undefined;
}

export class IterLink extends Link {
  /**
   * A new read-through of the iterator: a descriptor whose reads run the program until it has
   * walked everything (then EOF). Each call starts over.
   */
  open(): Fd {
    return iterCreate(this.fd.fd);
  }

  /** Runs the iterator once and returns everything it wrote. */
  readAll(): Buffer {
    const fd = this.open();
    const chunks: Buffer[] = [];
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        let n: number;
        try {
          n = readSync(fd.fd, buf, 0, buf.length, null);
        } catch (err) {
          // EAGAIN cannot happen (blocking); other errors come from the program (E2BIG: one
          // element's output larger than a page).
          throw new EbpfError(`reading iterator: ${(err as Error).message}`, {}, { cause: err });
        }
        if (n === 0) break;
        chunks.push(Buffer.from(buf.subarray(0, n)));
      }
    } finally {
      fd.close();
    }
    return Buffer.concat(chunks);
  }

  /** Runs the iterator once, as text. */
  readText(): string {
    return this.readAll().toString('utf8');
  }

  /** Runs the iterator once as a readable stream (its descriptor is closed when the stream ends). */
  stream(): ReadStream {
    const fd = this.open();
    const s = createReadStream('', { fd: fd.fd, autoClose: false });
    s.on('close', () => fd.close());
    return s;
  }
}

/**
 * Attaches a BPF_TRACE_ITER program. Requires Linux 5.8; `map` for bpf_map_elem iterators 5.9,
 * `tid`/`pid` 5.19.
 */
export function attachIter(program: Program, opts: IterOptions = {}): IterLink {
  checkProgramArgument('attachIter', program);
  checkOptionsArgument('attachIter', opts);
  requireProgramType(program, 'an iterator (TRACING, iter/...)', ProgType.TRACING);
  const info = iterInfo(opts);
  try {
    const fd = linkCreate(
      {
        prog_fd: program.fd.fd,
        attach_type: AttachType.TRACE_ITER,
        ...(info && { iter_info_len: info.length }),
      },
      info ? { iter_info: info } : {},
    );
    return new IterLink(fd);
  } catch (err) {
    if (err instanceof SyscallError && err.code === 'EINVAL') {
      throw new SyscallError(err.command, err.errno, {
        location: { program: program.name },
        hint: `was ${program.name} loaded from an iter/ section, and does its iterator take the options given (map for bpf_map_elem)?`,
      });
    }
    throw err;
  }
}
