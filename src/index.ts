/**
 * `ebpf`: the common path from a compiled BPF object to running programs: read an object
 * (`loadObjectSpec`), change what may change before load, load it (`loadObject`), use its maps,
 * global variables and programs, attach programs (`attach*`), read events (`RingBuffer`,
 * `PerfBuffer`), write them (`UserRingBuffer`), probe the kernel's features, and catch the errors, each of which says where.
 *
 * Tools reach further through the subpaths, one per step of the pipeline: `ebpf/elf`,
 * `ebpf/asm`, `ebpf/btf`, `ebpf/core`, `ebpf/object`, `ebpf/loader`, `ebpf/map`,
 * `ebpf/program`, `ebpf/link`, `ebpf/events`, `ebpf/features`, `ebpf/gen`, `ebpf/build`,
 * `ebpf/linker` and `ebpf/constants` (the raw `BPF_F_*` flags and the type names).
 * @module ebpf
 */

// Errors: one base class, each subclass saying where (file, section, offset, type id, program).
export {
  EbpfError,
  FormatError,
  ElfError,
  BtfError,
  InstructionError,
  NotFoundError,
  NotSupportedError,
  OptionError,
  type Location,
} from './errors.js';
export { ObjectError, MapDefinitionError, RelocationError } from './object/errors.js';
export { CoreError } from './core/errors.js';
export { CodecError } from './btf/codec.js';
export {
  LoadError,
  VerifierError,
  MapIncompatibleError,
  helperName,
  type HelperRefusal,
  type SourceLine,
  type LoadStep,
  type VerifierErrorDetails,
} from './loader/errors.js';
export { SyscallError, type SyscallErrorOptions } from './sys/error.js';
export { errnoName, E } from './sys/errno.js';
export { Fd } from './sys/fd.js';

// The kernel's enums, for creating maps and reading infos (raw flags: `ebpf/constants`).
export { MapType, ProgType, AttachType, LinkType } from './constants.js';

// Reading an object, before load.
export { loadObjectSpec, type LoadObjectOptions } from './object/object.js';
export type { ObjectSpec, ProgramSpec, MapSpec, VariableSpec, ExternSpec, Globals } from './object/spec.js';

// Typed objects: the modules `ebpf gen types` and `ebpf build --types` write type ObjectSpec and
// LoadedObject by an ObjectTypes, and check the object they are given with withObjectTypes.
export type { ObjectTypes, MapName, SectionName, RecordName } from './object/spec.js';
export { withObjectTypes, ObjectTypesMismatchError, type GeneratedTypesCheck } from './gen/typed.js';

// Loading.
export {
  loadObject,
  DEFAULT_PIN_ROOT,
  LoadedObject,
  formatTraceEvent,
  type LoadOptions,
  type TraceEvent,
  type LoadedMapRecord,
  type LoadedProgramRecord,
} from './loader/index.js';

// Handles: maps (and global variables over them) and programs.
export {
  BpfMap,
  BatchCursor,
  UpdateFlags,
  type MapOptions,
  type MapCreateOptions,
  type MapInfo,
  type FdLike,
  type IterateOptions,
  type BatchLookupOptions,
  type BatchesOptions,
  type MapBatch,
  type PackedEntries,
  type PackedKeys,
} from './map/map.js';
export type { Variables, Variable } from './map/variables.js';
export {
  Program,
  programIds,
  programInfo,
  enableStats,
  type ProgramOptions,
  type ProgramInfo,
  type InfoOptions,
  type TestRunOptions,
  type TestRunResult,
} from './program/index.js';

// Attaching: one function and one link class per kind, and auto-attach from section names.
export { Link, linkIds, type LinkInfo, type Attachment } from './link/link.js';
export type { Device } from './link/netdev.js';
export { attachXdp, XdpLink, type XdpMode, type XdpOptions } from './link/xdp.js';
export { attachTcx, TcxLink, type TcDirection, type TcxOptions } from './link/tcx.js';
export { attachTc, type TcOptions } from './link/tc.js';
export { attachTcFilter, TcFilter, type TcFilterOptions } from './link/tc-filter.js';
export {
  attachTracepoint,
  attachRawTracepoint,
  PerfEventLink,
  RawTracepointLink,
} from './link/tracepoint.js';
export { ProbeLink } from './link/probe-link.js';
export { attachUprobe, attachUretprobe, UprobeLink, type UprobeOptions } from './link/uprobe.js';
export {
  attachKprobe,
  attachKretprobe,
  attachKprobeMulti,
  KprobeLink,
  KprobeMultiLink,
  type KprobeOptions,
  type KprobeMultiOptions,
} from './link/kprobe.js';
export { attachCgroup, CgroupLink, CgroupProgAttachment, type CgroupOptions } from './link/cgroup.js';
export { autoAttach, autoAttachLoaded, type AutoAttachOptions } from './link/auto.js';

// Events from programs, read on the event loop.
export {
  RingBuffer,
  RingBuffers,
  UserRingBuffer,
  type UserRecord,
  PerfBuffer,
  EventReader,
  type EventHandler,
  type WaitOptions,
  type PerfBufferOptions,
  type PerfRecord,
  type EventMapLike,
} from './events/index.js';

// Kernel features (every single probe: `ebpf/features`).
export {
  haveFeature,
  requireFeature,
  probeAll,
  missingFeatures,
  mapTypeFeature,
  progTypeFeature,
  helperFeature,
  type Feature,
  type ProbeResult,
} from './features/index.js';
