// Programs on a sockmap or sockhash: sk_msg verdicts (BPF_SK_MSG_VERDICT, on every sendmsg of the
// map's sockets), sk_skb stream parsers and verdicts (BPF_SK_SKB_STREAM_PARSER / _VERDICT, on what
// they receive) and sk_skb verdicts (BPF_SK_SKB_VERDICT, 5.13). Attached with BPF_PROG_ATTACH to
// the map (Linux 4.14), or through a sockmap link (Linux 6.10) where asked or available.
import { attachTypeName, AttachType, MapType, ProgType } from '../constants.js';
import { EbpfError } from '../errors.js';
import type { BpfMap } from '../map/map.js';
import type { Program } from '../program/program.js';
import {
  linkCreate,
  mapGetFdById,
  mapGetInfo,
  progAttach,
  progDetach,
  progGetFdById,
  progGetInfo,
} from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { Link, requireProgramType, type Attachment } from './link.js';
import { checkProgramArgument } from './link.js';
import { checkOptionsArgument } from '../internal/options.js';

export type SockmapHook = 'msg_verdict' | 'stream_parser' | 'stream_verdict' | 'skb_verdict';

const HOOKS: Record<SockmapHook, { attachType: number; progType: ProgType }> = {
  msg_verdict: { attachType: AttachType.SK_MSG_VERDICT, progType: ProgType.SK_MSG },
  stream_parser: { attachType: AttachType.SK_SKB_STREAM_PARSER, progType: ProgType.SK_SKB },
  stream_verdict: { attachType: AttachType.SK_SKB_STREAM_VERDICT, progType: ProgType.SK_SKB },
  skb_verdict: { attachType: AttachType.SK_SKB_VERDICT, progType: ProgType.SK_SKB },
};

/** The hook for an expected attach type (sections sk_msg, sk_skb/stream_parser, ...). */
export function sockmapHookOf(attachType: number): SockmapHook | undefined {
  for (const [k, v] of Object.entries(HOOKS)) if (v.attachType === attachType) return k as SockmapHook;
  return undefined;
}

export class SockmapLink extends Link {
  readonly hook: SockmapHook;
  constructor(fd: Fd, hook: SockmapHook) {
    super(fd);
    this.hook = hook;
  }
}

/** A program attached to a map with BPF_PROG_ATTACH: it stays until detached (close() detaches). */
export class SockmapProgAttachment implements Attachment {
  readonly hook: SockmapHook;
  readonly #map: Fd;
  readonly #prog: Fd;
  #closed = false;

  constructor(map: Fd, prog: Fd, hook: SockmapHook) {
    this.#map = map;
    this.#prog = prog;
    this.hook = hook;
  }

  get closed(): boolean {
    return this.#closed;
  }

  detach(): void {
    if (this.#closed) return;
    progDetach({
      target_fd: this.#map.fd,
      attach_bpf_fd: this.#prog.fd,
      attach_type: HOOKS[this.hook].attachType,
    });
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.detach();
    } catch (err) {
      if (!(err instanceof SyscallError && err.code === 'ENOENT')) throw err;
    } finally {
      this.#closed = true;
      this.#map.close();
      this.#prog.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export interface SockmapOptions {
  /** link: a sockmap link only (6.10); legacy: BPF_PROG_ATTACH only; auto (default): link, else legacy. */
  mode?: 'auto' | 'link' | 'legacy';
}

/**
 * Attaches an SK_MSG or SK_SKB program to a sockmap or sockhash at `hook`. A map holds one program
 * per hook; sk_skb verdict and stream verdict exclude each other (EBUSY).
 */
export function attachSockmap(
  program: Program,
  map: BpfMap,
  hook: SockmapHook,
  opts: SockmapOptions = {},
): SockmapLink | SockmapProgAttachment {
  checkProgramArgument('attachSockmap', program);
  checkOptionsArgument('attachSockmap', opts);
  const h = HOOKS[hook];
  requireProgramType(program, hook === 'msg_verdict' ? 'an sk_msg' : 'an sk_skb', h.progType);
  if (map.type !== MapType.SOCKMAP && map.type !== MapType.SOCKHASH)
    throw new EbpfError(`map '${map.name}' is not a sockmap or sockhash`, {
      map: map.name,
      program: program.name,
    });
  const located = (err: unknown): unknown => {
    if (!(err instanceof SyscallError)) return err;
    const hint =
      err.code === 'EBUSY' || err.code === 'EEXIST'
        ? `map '${map.name}' already has a program at ${attachTypeName(h.attachType)} (or the verdict it excludes)`
        : err.code === 'EINVAL'
          ? `was ${program.name} loaded for ${attachTypeName(h.attachType)}?`
          : err.hint;
    return new SyscallError(err.command, err.errno, {
      location: { program: program.name, map: map.name },
      ...(hint !== undefined && { hint }),
    });
  };
  const mode = opts.mode ?? 'auto';
  if (mode !== 'legacy') {
    try {
      return new SockmapLink(
        linkCreate({ prog_fd: program.fd.fd, target_fd: map.fd.fd, attach_type: h.attachType }),
        hook,
      );
    } catch (err) {
      // Before 6.10 sockmaps take no links (EINVAL).
      if (mode === 'link' || !(err instanceof SyscallError && err.code === 'EINVAL')) throw located(err);
    }
  }
  const ownMap = mapGetFdById(mapGetInfo(map.fd.fd).info.id);
  const ownProg = progGetFdById(progGetInfo(program.fd.fd).info.id);
  try {
    progAttach({ target_fd: ownMap.fd, attach_bpf_fd: ownProg.fd, attach_type: h.attachType });
  } catch (err) {
    ownMap.close();
    ownProg.close();
    throw located(err);
  }
  return new SockmapProgAttachment(ownMap, ownProg, hook);
}
