// struct_ops: registering a kernel struct implemented by BPF programs (a TCP congestion control's
// tcp_congestion_ops, sched_ext's sched_ext_ops), from a `.struct_ops` or `.struct_ops.link` map.
// A `.struct_ops` map registers when its value is written (Linux 5.6) and unregisters when it is
// deleted; a `.struct_ops.link` map (Linux 6.4) is registered by a bpf_link (BPF_LINK_CREATE with
// the map), which can swap in another map of the same type (BPF_LINK_UPDATE) and goes with the link.
import { AttachType, BPF_F_LINK, BPF_F_REPLACE, MapType } from '../constants.js';
import { EbpfError, NotSupportedError } from '../errors.js';
import { haveFeature, notSupportedMessage, STRUCT_OPS_LINK } from '../features/index.js';
import type { LoadedMapRecord, LoadedObject } from '../loader/loaded.js';
import { structOpsValue } from '../loader/struct-ops.js';
import {
  linkCreate,
  linkUpdate,
  mapDeleteElem,
  mapGetFdById,
  mapGetInfo,
  mapUpdateElem,
} from '../sys/bpf.js';
import { SyscallError } from '../sys/error.js';
import type { Fd } from '../sys/fd.js';
import { runningKernelBtf } from '../sys/kernel-btf.js';
import { Link, type Attachment } from './link.js';

const KEY = new Uint32Array([0]);

/** Linux 6.10 detaches struct_ops links (BPF_LINK_DETACH); closing the last holder works on any. */
const STRUCT_OPS_LINK_DETACH = '6.10';

/** What attachStructOps registered: the map's name and the kernel struct it implements. */
export interface StructOpsTarget {
  readonly map: string;
  /** The kernel struct: `tcp_congestion_ops`. */
  readonly typeName: string;
}

/** A `.struct_ops.link` map registered through a bpf_link. */
export class StructOpsLink extends Link implements StructOpsTarget {
  #map: string;
  readonly typeName: string;

  constructor(fd: Fd, map: string, typeName: string) {
    super(fd);
    this.#map = map;
    this.typeName = typeName;
  }

  /** The map registered now (updateMap changes it). */
  get map(): string {
    return this.#map;
  }

  /**
   * Swaps in another `.struct_ops.link` map of the same struct (`mapName` of `obj`) without a gap
   * (BPF_LINK_UPDATE with the map; with `oldObject`/`oldMap` only while that map is the one
   * registered, BPF_F_REPLACE). What the kernel struct allows to change differs: a TCP congestion
   * control must keep its name. Requires Linux 6.4.
   */
  updateMap(
    obj: LoadedObject,
    mapName: string,
    opts: { oldObject?: LoadedObject; oldMap?: string } = {},
  ): void {
    const rec = readyLinkMap(obj, mapName);
    const old = opts.oldMap !== undefined ? (opts.oldObject ?? obj).maps.get(opts.oldMap) : undefined;
    if (opts.oldMap !== undefined && old === undefined)
      throw new EbpfError(`no map '${opts.oldMap}' in the object`, { map: opts.oldMap });
    try {
      linkUpdate(
        this.fd.fd,
        rec.fd.fd,
        old !== undefined ? { oldProgFd: old.fd.fd, flags: BPF_F_REPLACE } : {},
      );
    } catch (err) {
      throw located(err, mapName);
    }
    this.#map = mapName;
  }

  /**
   * Unregisters the struct while the link lives on, defunct (BPF_LINK_DETACH). Requires Linux
   * 6.10; before, NotSupportedError: close the link (and remove its pins) instead.
   */
  override detach(): void {
    try {
      super.detach();
    } catch (err) {
      if (err instanceof SyscallError && (err.code === 'EOPNOTSUPP' || err.code === 'EINVAL'))
        throw new NotSupportedError(
          `detaching a struct_ops link requires Linux ${STRUCT_OPS_LINK_DETACH} or later: close it instead`,
          { map: this.#map },
          { cause: err },
        );
      throw err;
    }
  }
}

/**
 * A `.struct_ops` map registered by writing its value: it stays registered, even after this
 * process exits, until its element is deleted; close() (and detach()) delete it.
 */
export class StructOpsRegistration implements Attachment, StructOpsTarget {
  readonly map: string;
  readonly typeName: string;
  /** Our own descriptor on the map: the object that made it may be closed first. */
  readonly #fd: Fd;

  constructor(fd: Fd, map: string, typeName: string) {
    this.#fd = fd;
    this.map = map;
    this.typeName = typeName;
  }

  get closed(): boolean {
    return this.#fd.closed;
  }

  /** Unregisters (BPF_MAP_DELETE_ELEM on the map's one element). */
  detach(): void {
    if (this.#fd.closed) return;
    mapDeleteElem(this.#fd.fd, KEY);
  }

  /** Unregisters unless already unregistered, and releases the map descriptor. Idempotent. */
  close(): void {
    if (this.#fd.closed) return;
    try {
      this.detach();
    } finally {
      this.#fd.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function located(err: unknown, map: string): unknown {
  if (!(err instanceof SyscallError)) return err;
  const hint =
    err.code === 'EEXIST'
      ? 'a struct of that name is registered already (a TCP congestion control names itself)'
      : err.code === 'EBUSY'
        ? 'the map is registered already'
        : err.hint;
  return new SyscallError(err.command, err.errno, { location: { map }, ...(hint !== undefined && { hint }) });
}

function structOpsRecord(
  obj: LoadedObject,
  mapName: string,
): LoadedMapRecord & { structOps: NonNullable<LoadedMapRecord['structOps']> } {
  const rec = obj.maps.get(mapName);
  if (rec === undefined) throw new EbpfError(`no map '${mapName}' in the object`, { map: mapName });
  const st = rec.spec.structOps;
  if (rec.spec.type !== MapType.STRUCT_OPS || st === undefined)
    throw new EbpfError('not a struct_ops map', { map: mapName });
  if (rec.structOps === undefined) {
    // Some program it names was not loaded (or the map was a pin reused): build the value now,
    // which names the member whose program is missing.
    const btf = obj.spec.btf;
    if (btf === undefined) throw new EbpfError('struct_ops map without BTF in its object', { map: mapName });
    const value = structOpsValue(runningKernelBtf(), btf, rec.spec, (p) =>
      obj.programs.has(p) ? obj.program(p).fd.fd : undefined,
    );
    const link = (mapGetInfo(rec.fd.fd).info.map_flags & BPF_F_LINK) !== 0;
    rec.structOps = { value, link, ready: false };
  }
  return rec as LoadedMapRecord & { structOps: NonNullable<LoadedMapRecord['structOps']> };
}

/** A link map with its value written (READY), as a link or a link update takes it. */
function readyLinkMap(obj: LoadedObject, mapName: string): LoadedMapRecord {
  const rec = structOpsRecord(obj, mapName);
  if (!rec.structOps.link) {
    throw new NotSupportedError(
      haveFeature(STRUCT_OPS_LINK)
        ? `not a '.struct_ops.link' map: a link needs one (BPF_F_LINK)`
        : notSupportedMessage(STRUCT_OPS_LINK),
      { map: mapName },
    );
  }
  if (!rec.structOps.ready) {
    try {
      mapUpdateElem(rec.fd.fd, KEY, rec.structOps.value);
    } catch (err) {
      throw located(err, mapName);
    }
    rec.structOps.ready = true;
  }
  return rec;
}

/**
 * Registers the struct_ops map `mapName` of a loaded object: a `.struct_ops.link` map through a
 * bpf_link (StructOpsLink: closing it, or BPF_LINK_DETACH, unregisters), a `.struct_ops` map (and
 * a `.struct_ops.link` map on a kernel before 6.4, which the loader made a plain one) by writing its
 * value (StructOpsRegistration: close() deletes it). Requires Linux 5.6 for struct_ops maps.
 */
export function attachStructOps(obj: LoadedObject, mapName: string): StructOpsLink | StructOpsRegistration {
  const rec = structOpsRecord(obj, mapName);
  const typeName = rec.spec.structOps!.typeName;
  if (rec.structOps.link) {
    readyLinkMap(obj, mapName);
    try {
      return new StructOpsLink(
        linkCreate({ map_fd: rec.fd.fd, attach_type: AttachType.STRUCT_OPS }),
        mapName,
        typeName,
      );
    } catch (err) {
      throw located(err, mapName);
    }
  }
  const own = mapGetFdById(mapGetInfo(rec.fd.fd).info.id);
  try {
    mapUpdateElem(rec.fd.fd, KEY, rec.structOps.value);
  } catch (err) {
    own.close();
    throw located(err, mapName);
  }
  rec.structOps.ready = true;
  return new StructOpsRegistration(own, mapName, typeName);
}

/**
 * Registers a `.struct_ops.link` map given by its descriptor whose value was written already (a
 * map the loader made and pinned: `ebpf attach struct_ops`). Requires Linux 6.4.
 */
export function attachStructOpsMap(mapFd: Fd, name = ''): StructOpsLink {
  const { info, name: kernelName } = mapGetInfo(mapFd.fd);
  const map = name !== '' ? name : kernelName;
  if (info.type !== MapType.STRUCT_OPS) throw new EbpfError('not a struct_ops map', { map });
  if (!haveFeature(STRUCT_OPS_LINK))
    throw new NotSupportedError(notSupportedMessage(STRUCT_OPS_LINK), { map });
  if ((info.map_flags & BPF_F_LINK) === 0)
    throw new EbpfError(
      'a struct_ops map without BPF_F_LINK registers when its value is written, by the program that loads it (attachStructOps)',
      { map },
    );
  const vt = runningKernelBtf().type(info.btf_vmlinux_value_type_id);
  const typeName = (vt.kind === 'STRUCT' ? vt.name : '').replace(/^bpf_struct_ops_/, '');
  try {
    return new StructOpsLink(
      linkCreate({ map_fd: mapFd.fd, attach_type: AttachType.STRUCT_OPS }),
      map,
      typeName,
    );
  } catch (err) {
    throw located(err, map);
  }
}
