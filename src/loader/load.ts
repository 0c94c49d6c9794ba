// loadObject: ObjectSpec → kernel objects, in libbpf's order: BTF (fixed up, sanitised, loaded),
// maps (created or reused from pins, filled, frozen), relocations, CO-RE, programs, initial slots.
// All or nothing: a failure closes every descriptor this load made and removes its pins.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import {
  BPF_ADD,
  BPF_ATOMIC,
  BPF_LD_IMM64,
  BPF_PSEUDO_FUNC,
  BPF_STX,
  encode,
  type Instruction,
} from '../asm/index.js';
import type { Btf } from '../btf/btf.js';
import { marshalFuncInfo, marshalLineInfo, FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE } from '../btf/ext.js';
import {
  AttachType,
  BPF_F_SLEEPABLE,
  BPF_F_TOKEN_FD,
  BPF_F_XDP_HAS_FRAGS,
  ProgType,
  progTypeName,
  progTypeShortName,
} from '../constants.js';
import { parseElf, type ElfFile } from '../elf/index.js';
import { NotSupportedError, OptionError, type Location } from '../errors.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';
import { readInputFile } from '../internal/file.js';
import { decodeText } from '../internal/cstring.js';
import { coreRelocator } from '../core/relocator.js';
import type { AppliedCoreRelocation } from '../core/apply.js';
import {
  SEC_ATTACH_BTF,
  objectSpecFromElf,
  specElf,
  type ObjectSpec,
  type ObjectTypes,
  type ProgramSpec,
  type SpecInstruction,
} from '../object/index.js';
import { SyscallError } from '../sys/error.js';
import { objName, withToken } from '../sys/bpf.js';
import { openKernelBtfByName, runningKernelBtf } from '../sys/kernel-btf.js';
import { kernelModuleBtfs } from '../btf/kernel.js';
import { checkLoadOptions, checkPinDirs } from './options.js';
import type { Fd } from '../sys/fd.js';
import { elfFacts, fixupBtf, type BtfChange, type ElfFacts } from './btf-fixup.js';
import { buildBtf, needsSanitizing, sanitizeTypes } from './btf-sanitize.js';
import { findAttachBtfId, type AttachBtfTarget } from './attach-target.js';
import { findExtensionTarget, type AttachTarget, type ExtensionTarget } from './freplace.js';
import { LoadError, VerifierError, atStep } from './errors.js';
import { LoadedObject, type LoadedMapRecord, type LoadedProgramRecord } from './loaded.js';
import { commitPins, PinSetError, recoverPins, type PinRequest } from './pin-set.js';
import { loaderFeatures, type LoaderFeatures } from './features.js';
import { openToken } from './token.js';
import { raiseMemlockIfCharged } from '../features/memlock.js';
import { haveFeature, notSupportedMessage, type Feature } from '../features/feature.js';
import { KPROBE_MULTI_LINK, KPROBE_SESSION, UPROBE_MULTI_LINK, UPROBE_SESSION } from '../features/links.js';
import { ATOMICS, CALLBACKS, PROG_TYPE_VERSIONS, progTypeFeature } from '../features/programs.js';
import { Made } from './made.js';
import { MapLoader, isDataMap } from './maps.js';
import { relocateInstructions } from './relocate.js';
import { structOpsTargets, type StructOpsTarget } from './struct-ops.js';
import { sys } from './syscalls.js';
import type { TraceEvent } from './trace.js';
import { lastInstruction, sourceOf } from './verifier-log.js';
import { fillKconfig, parseKernelConfig, readKernelConfig } from './kconfig.js';
import { resolveKsyms, type ResolvedKsym } from './ksyms.js';
import { checkArgument, checkOptionsArgument, isPath } from '../internal/options.js';

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf';

/** What a CO-RE implementation gets for one program: it patches `instructions` in place. */
export interface CoreContext {
  program: ProgramSpec;
  instructions: SpecInstruction[];
  /** The object's BTF, after fix-ups (ids as in the object). */
  btf: Btf;
  kernelBtf: () => Btf;
  /** Every program of the object, for a relocator that prepares all their relocations at once. */
  programs?: readonly ProgramSpec[];
  /**
   * Report what was applied, relocation by relocation: the loader traces each one as `ebpf core
   * explain` shows it, and names a poisoned one if the verifier reaches it.
   */
  onApplied?: (applied: AppliedCoreRelocation[]) => void;
}

/** Applies a program's CO-RE relocations; returns how many it applied. */
export type CoreRelocator = (ctx: CoreContext) => number;

export interface LoadOptions {
  /** Where maps marked LIBBPF_PIN_BY_NAME are pinned (and looked for); default /sys/fs/bpf. */
  pinRoot?: string;
  /**
   * Pin every map at `<dir>/<map name>` (bpftool's `pinmaps`); pinned-by-name maps stay where they
   * are. Like pinDir, checked to be on a bpffs before anything is loaded and made when missing.
   */
  pinMaps?: string;
  /**
   * Pin every loaded program at `<dir>/<program name>`. The directory must lie on a bpffs (one is
   * mounted at /sys/fs/bpf when none is and the caller may, as bpftool does); missing directories
   * are made, and removed again when the load fails.
   */
  pinDir?: string;
  /** Called with each step as it happens. */
  trace?: (event: TraceEvent) => void;
  /** Kernel BTF for attach targets and CO-RE; default /sys/kernel/btf/vmlinux. */
  kernelBtf?: Btf;
  /** Names of the programs to load; default every program libbpf would autoload. */
  programs?: readonly string[];
  /**
   * Load legacy `SEC("maps")` definitions. libbpf 1.0 and later refuse them, and so does this
   * loader by default, so the same objects fail in both.
   */
  legacyMaps?: boolean;
  /** Verifier log level for every program (the log is then in LoadedObject.logs); default none. */
  logLevel?: number;
  /** Initial verifier log buffer size in bytes. */
  logSize?: number;
  /** Applies CO-RE relocations before load; default src/core's coreRelocator() against kernel BTF. */
  core?: CoreRelocator;
  /** The ELF an ObjectSpec came from: BTF fix-ups take section sizes and symbols from it. */
  elf?: ElfFile;
  /** Override probed kernel features (to exercise sanitising). */
  features?: LoaderFeatures;
  /**
   * The loaded program whose function each freplace (BPF_PROG_TYPE_EXT) program replaces, as
   * libbpf's bpf_program__set_attach_target; without it an object with one fails to load, as in
   * libbpf ("attach program FD is not set"). Requires Linux 5.6.
   */
  attachTarget?: AttachTarget;
  /**
   * A BPF filesystem mounted with delegation options (delegate_cmds, delegate_maps,
   * delegate_progs, delegate_attachs) whose BPF token (Linux 6.9) the load goes through, as
   * libbpf's bpf_token_path: what lets a user namespace without CAP_BPF in the initial namespace
   * load what the mount delegates. Default: the LIBBPF_BPF_TOKEN_PATH environment variable; else
   * /sys/fs/bpf is tried, and silently left when it gives no token. '' never uses a token. A token
   * asked for that cannot be made is a LoadError (step 'token') saying why.
   */
  tokenPath?: string;
}

/** KERNEL_VERSION(a, b, c) of the running kernel, as libbpf passes it when the object has none. */
function hostKernelVersion(): number {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release());
  if (!m) return 0;
  return (Number(m[1]) << 16) + (Number(m[2]) << 8) + Math.min(Number(m[3] ?? 0), 255);
}

/** Fix-up facts from the spec alone, when no ELF is at hand: data map sizes and variable offsets. */
function specFacts(spec: ObjectSpec): ElfFacts {
  const sizes = new Map<string, number>();
  for (const m of spec.maps) if (isDataMap(m)) sizes.set(m.sectionName, m.valueSize);
  return {
    sectionSize: (name) => sizes.get(name),
    varSymbol: (name) => {
      const v = spec.variables.get(name);
      return v && v.global ? { value: v.offset, hidden: false } : undefined;
    },
    hiddenFunctions: new Set(),
  };
}

/** bpffs refuses '.' in names; libbpf pins `.rodata` maps and the like with '_' instead. */
function pinFileName(name: string): string {
  return name.replace(/\./g, '_');
}

interface Input {
  spec: ObjectSpec;
  elf: ElfFile | undefined;
}

function readInput(input: ObjectSpec | string | Uint8Array, opts: LoadOptions): Input {
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const file = typeof input === 'string' ? input : undefined;
    const bytes = typeof input === 'string' ? readInputFile(input) : input;
    const elf = parseElf(bytes, file);
    return { spec: objectSpecFromElf(elf, file !== undefined ? { file } : {}), elf };
  }
  // The ELF the spec was read from (bytes have no file to read again), else its file.
  let elf = opts.elf ?? specElf(input);
  if (elf === undefined && input.file !== undefined) {
    try {
      const b = readFileSync(input.file);
      elf = parseElf(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), input.file);
    } catch {
      elf = undefined; // fall back to what the spec knows
    }
  }
  return { spec: input, elf };
}

/**
 * What loadObject and loadObjectAsync do before the first program load: options and pin
 * directories checked, the object read, RLIMIT_MEMLOCK raised where the kernel still charges BPF
 * memory to it (before 5.11: before the first probe or object), and the load's steps begun.
 */
function startLoad(input: ObjectSpec | string | Uint8Array, opts: LoadOptions): ReturnType<Loader['load']> {
  checkArgument(
    'loadObject',
    'input',
    input,
    'a path, the object file bytes (a Uint8Array) or an ObjectSpec',
    isPath(input) ||
      input instanceof Uint8Array ||
      (typeof input === 'object' &&
        input !== null &&
        Array.isArray((input as { programs?: unknown }).programs)),
  );
  checkOptionsArgument('loadObject', opts);
  checkLoadOptions(opts);
  const { spec, elf } = readInput(input, opts);
  checkPinDirs(opts);
  raiseMemlockIfCharged();
  return new Loader(spec, elf, opts).load();
}

/**
 * Loads an object (a path, ELF bytes or an ObjectSpec) into the kernel. Throws LoadError (or a
 * subclass: VerifierError, MapIncompatibleError), SyscallError, or the object step's errors;
 * after a throw nothing this call created remains. A spec typed by `ebpf gen types` (ObjectSpec<T>)
 * gives a LoadedObject<T>.
 */
export function loadObject<T extends ObjectTypes>(input: ObjectSpec<T>, opts?: LoadOptions): LoadedObject<T>;
export function loadObject(input: ObjectSpec | string | Uint8Array, opts?: LoadOptions): LoadedObject;
export function loadObject(input: ObjectSpec | string | Uint8Array, opts: LoadOptions = {}): LoadedObject {
  const steps = startLoad(input, opts);
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    const { attr, bufs, log } = step.value;
    let r: { fd: Fd; log: string };
    try {
      r = sys.progLoad(attr, bufs, log);
    } catch (e) {
      step = steps.throw(e);
      continue;
    }
    step = steps.next(r);
  }
}

/**
 * loadObject, with each BPF_PROG_LOAD (the verifier, which can take seconds on a big program) on
 * libuv's thread pool, so the event loop keeps running meanwhile; the other steps are quick and
 * run on the calling thread. Rejects as loadObject throws, with nothing left behind. Programs
 * load one after another, in the same order as loadObject.
 */
export async function loadObjectAsync(
  input: ObjectSpec | string | Uint8Array,
  opts: LoadOptions = {},
): Promise<LoadedObject> {
  const steps = startLoad(input, opts);
  for (let step = steps.next(); ;) {
    if (step.done) return step.value;
    const { attr, bufs, log } = step.value;
    let r: { fd: Fd; log: string };
    try {
      r = await sys.progLoadAsync(attr, bufs, log);
    } catch (e) {
      step = steps.throw(e);
      continue;
    }
    step = steps.next(r);
  }
}

/** A BPF_PROG_LOAD the loader's steps ask its driver (sync or async) to make. */
interface ProgLoadCall {
  attr: Parameters<typeof sys.progLoad>[0];
  bufs: Parameters<typeof sys.progLoad>[1];
  log: Parameters<typeof sys.progLoad>[2];
}

/** The loader's steps: they yield each program load and take its result (or its error) back. */
type LoadSteps<R> = Generator<ProgLoadCall, R, { fd: Fd; log: string }>;

class Loader {
  private readonly made = new Made();
  private readonly loc: { file?: string };
  private readonly features: LoaderFeatures;
  /** The BPF token every BTF, map and program load of this load goes through, if any. */
  private readonly token: Fd | undefined;
  private btfFd: Fd | undefined;
  private readonly mapLoader: MapLoader;
  private readonly programs = new Map<string, LoadedProgramRecord>();
  private readonly logs = new Map<string, string>();
  /** Each program's applied CO-RE relocations, to name a poisoned one the verifier reaches. */
  private readonly coreApplied = new Map<string, AppliedCoreRelocation[]>();
  private kernel: Btf | undefined;
  private core: CoreRelocator | undefined;
  private kconfigContents: Uint8Array | undefined;
  private ksyms = new Map<string, ResolvedKsym>();
  private readonly moduleFds = new Map<string, Fd>();
  /** Module BTF descriptors kfunc calls name by index (index 0 unused, as libbpf). */
  private readonly fdArray: number[] = [];

  constructor(
    private readonly spec: ObjectSpec,
    private readonly elf: ElfFile | undefined,
    private readonly opts: LoadOptions,
  ) {
    this.loc = spec.file !== undefined ? { file: spec.file } : {};
    this.token = openToken(opts.tokenPath, this.loc, (e) => this.trace(e));
    try {
      // The probes go through the token too: inside a user namespace nothing loads without one.
      this.features = opts.features ?? withToken(this.token, loaderFeatures);
    } catch (e) {
      this.token?.close();
      throw e;
    }
    this.mapLoader = new MapLoader({
      spec,
      elf,
      pinRoot: opts.pinRoot ?? DEFAULT_PIN_ROOT,
      loc: this.loc,
      features: this.features,
      made: this.made,
      trace: (e) => this.trace(e),
      kernelBtf: () => this.kernelBtf(),
      token: this.token,
    });
  }

  private trace(e: TraceEvent): void {
    this.opts.trace?.(e);
  }

  private kernelBtf(): Btf {
    this.kernel ??= this.opts.kernelBtf ?? runningKernelBtf();
    return this.kernel;
  }

  *load(): LoadSteps<LoadedObject> {
    const spec = this.spec;
    if (spec.littleEndian !== HOST_LITTLE_ENDIAN) {
      throw new NotSupportedError(
        `object is ${spec.littleEndian ? 'little' : 'big'} endian, this machine is not`,
        this.loc,
      );
    }
    const legacy = spec.maps.find((m) => m.source === 'legacy');
    if (legacy !== undefined && this.opts.legacyMaps !== true) {
      throw new LoadError(
        'open',
        'legacy map definitions in SEC("maps") are not supported (libbpf 1.0 refuses them too); use BTF-defined maps in SEC(".maps"), or pass legacyMaps: true (--legacy-maps)',
        { ...this.loc, map: legacy.name, section: 'maps' },
      );
    }
    const unknown = this.opts.programs?.find((n) => !spec.programs.some((p) => p.name === n));
    if (unknown !== undefined) {
      throw new OptionError(
        'programs',
        unknown,
        spec.programs.map((p) => p.name),
        this.loc,
      );
    }
    const toLoad = spec.programs.filter((p) =>
      this.opts.programs !== undefined ? this.opts.programs.includes(p.name) : p.autoload,
    );
    this.trace({
      kind: 'object',
      name: spec.name,
      file: spec.file,
      programs: toLoad.length,
      maps: spec.maps.length,
    });
    try {
      this.recoverPins();
      this.resolveExterns();
      this.loadBtf(toLoad);
      this.mapLoader.createAll(this.btfFd, this.kconfigContents);
      const structOps = this.structOps(toLoad);
      for (const p of toLoad) yield* this.loadProgram(p, structOps.get(p.name));
      this.mapLoader.setProgramSlots((name) => this.programs.get(name)?.fd.fd);
      this.mapLoader.prepareStructOps((name) => this.programs.get(name)?.fd.fd);
      this.pinAll(toLoad);
    } catch (e) {
      const undone = this.made.undo();
      this.trace({ kind: 'rollback', ...undone });
      throw e;
    } finally {
      // What was made through the token keeps its rights; the token is not needed after the load.
      this.token?.close();
    }
    return new LoadedObject(spec, this.btfFd, this.mapLoader.maps, this.programs, this.logs);
  }

  // ---- externs ------------------------------------------------------------------------------

  /** As libbpf, before BTF and maps: `.kconfig` values into the map's contents, `.ksyms` looked up. */
  private resolveExterns(): void {
    const externs = this.spec.externs;
    if (externs.length === 0) return;
    const kmap = this.spec.maps.find((m) => m.source === 'kconfig');
    if (kmap !== undefined) {
      const contents = new Uint8Array(kmap.valueSize);
      if (kmap.contents !== undefined) contents.set(kmap.contents.subarray(0, kmap.valueSize));
      const set = fillKconfig(
        externs,
        contents,
        {
          kernelVersion: hostKernelVersion(),
          bpfCookie: this.features.bpfCookie,
          syscallWrapper: this.features.syscallWrapper,
          config: () => {
            const text = readKernelConfig();
            return text === undefined ? undefined : parseKernelConfig(text);
          },
        },
        this.spec.littleEndian,
        this.loc,
      );
      this.kconfigContents = contents;
      for (const e of externs) {
        if (e.kconfig === undefined) continue;
        const v = set.get(e.name);
        this.trace({
          kind: 'extern',
          name: e.name,
          what: v !== undefined ? `kconfig = ${v} (at ${e.kconfig.offset})` : 'kconfig weak, not set: 0',
        });
      }
    }
    if (!externs.some((e) => e.ksym !== undefined)) return;
    if (this.spec.btf === undefined)
      throw new LoadError('ksym', "ksym externs need the object's BTF", this.loc);
    this.ksyms = resolveKsyms(
      externs,
      this.spec.btf,
      () => this.kernelBtf(),
      this.loc,
      () => this.features.kfuncCalls,
    );
    for (const [name, r] of this.ksyms) {
      this.trace({
        kind: 'extern',
        name,
        what:
          r.kind === 'btf'
            ? `ksym = ${r.module ?? 'vmlinux'} BTF [${r.btfId}]`
            : r.kind === 'address'
              ? `ksym = 0x${r.address.toString(16)} (kallsyms)`
              : 'ksym weak, not found: 0',
      });
    }
  }

  /** A module's BTF object, opened once (BPF_BTF_GET_FD_BY_ID of the id whose name is `module`). */
  private moduleBtfFd(module: string): Fd {
    const have = this.moduleFds.get(module);
    if (have !== undefined) return have;
    const fd = openKernelBtfByName(module, sys);
    if (fd !== undefined) {
      this.made.fd(fd);
      this.moduleFds.set(module, fd);
      return fd;
    }
    throw new LoadError('ksym', `no BTF object for kernel module '${module}'`, this.loc);
  }

  /** A module BTF's index in fd_array (never 0, as libbpf), for kfunc calls' `off`. */
  private fdArrayIndex(module: string): number {
    const fd = this.moduleBtfFd(module).fd;
    if (this.fdArray.length === 0) this.fdArray.push(0);
    let i = this.fdArray.indexOf(fd, 1);
    if (i < 0) {
      i = this.fdArray.length;
      this.fdArray.push(fd);
    }
    return i;
  }

  // ---- BTF ----------------------------------------------------------------------------------

  private loadBtf(toLoad: ProgramSpec[]): void {
    const btf = this.spec.btf;
    if (btf === undefined) return;
    const fixups: BtfChange[] = [];
    const types = fixupBtf(
      btf,
      this.elf ? elfFacts(this.elf) : specFacts(this.spec),
      fixups,
      this.spec.externs,
    );
    const needed = toLoad.some((p) => p.type === ProgType.STRUCT_OPS);
    if (!this.features.btf) {
      if (needed)
        throw new LoadError('btf', 'the kernel does not support BTF, which struct_ops programs need', {
          ...this.loc,
          section: '.BTF',
        });
      this.trace({ kind: 'btf-skipped', reason: 'the kernel does not support BPF_BTF_LOAD (Linux 4.18)' });
      return;
    }
    const sanitized: BtfChange[] = [];
    const f = this.features.btfKinds;
    if (needsSanitizing(f)) types.push(...sanitizeTypes(types, btf.firstTypeId + types.length, f, sanitized));
    const bytes = buildBtf(btf, types);
    try {
      const { fd } = sys.btfLoad(bytes, undefined, 0, this.token?.fd);
      this.btfFd = this.made.fd(fd);
      this.trace({ kind: 'btf', fd: fd.fd, bytes: bytes.length, fixups, sanitized });
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      // As libbpf: BTF is optional unless something needs it; programs and maps load without it.
      const log = e.log?.trim();
      const why = `BPF_BTF_LOAD: ${e.code}${log ? `\n${log}` : ''}`;
      if (needed) {
        // The kernel's log ends at the type it refused: `[11] STRUCT tcp_congestion_ops ...`.
        const refused = [...(log ?? '').matchAll(/^\[(\d+)\] /gm)].pop()?.[1];
        throw new LoadError(
          'btf',
          `the kernel refused the object's BTF, which struct_ops needs: ${why}`,
          { ...this.loc, section: '.BTF', ...(refused !== undefined ? { typeId: Number(refused) } : {}) },
          { cause: e },
        );
      }
      this.trace({ kind: 'btf-skipped', reason: `the kernel refused it (${why}); continuing without BTF` });
    }
  }

  // ---- relocation ---------------------------------------------------------------------------

  /** The program's instructions with every map, data and kernel reference resolved. */
  private relocate(p: ProgramSpec, instructions: SpecInstruction[]): Instruction[] {
    return relocateInstructions(
      { name: p.name, instructions },
      {
        mapFd: (name) => this.mapLoader.maps.get(name)?.fd.fd,
        dataOffset: (name) => this.mapLoader.maps.get(name)?.arena?.globalsOffset ?? 0,
        ksym: (name) => this.ksyms.get(name),
        fdArrayIndex: (module) => this.fdArrayIndex(module),
        moduleBtfFd: (module) => this.moduleBtfFd(module).fd,
      },
      this.loc,
      (e) => this.trace(e),
    );
  }

  // ---- programs -----------------------------------------------------------------------------

  private structOps(toLoad: ProgramSpec[]): Map<string, StructOpsTarget> {
    if (!toLoad.some((p) => p.type === ProgType.STRUCT_OPS)) return new Map();
    return structOpsTargets(this.spec.maps, this.kernelBtf());
  }

  private applyCore(p: ProgramSpec, insns: SpecInstruction[]): void {
    // The CO-RE step (src/core) plugs in here: it patches field offsets, sizes, type ids and
    // enum values in the linked instructions before anything is encoded for the kernel.
    if (p.coreRelos.length === 0) return;
    if (this.spec.btf === undefined) {
      throw new LoadError('core', `${p.coreRelos.length} CO-RE relocations but the object has no BTF`, {
        ...this.loc,
        program: p.name,
      });
    }
    this.core ??= this.opts.core ?? coreRelocator();
    const core = this.core;
    let applied: AppliedCoreRelocation[] = [];
    const n = core({
      program: p,
      instructions: insns,
      btf: this.spec.btf,
      kernelBtf: () => this.kernelBtf(),
      programs: this.spec.programs,
      onApplied: (a) => {
        applied = a;
      },
    });
    this.coreApplied.set(p.name, applied);
    for (const r of applied) this.trace({ kind: 'core-relocation', program: p.name, relocation: r });
    this.trace({ kind: 'core', program: p.name, relocations: n });
  }

  /** The target of a freplace program: the program given in the options and its function's FUNC id. */
  private extensionTarget(p: ProgramSpec): ExtensionTarget {
    const at = { ...this.loc, program: p.name };
    const target = this.opts.attachTarget;
    if (target === undefined) {
      throw new LoadError(
        'program',
        'attach program FD is not set: a freplace program replaces a function of a loaded program, ' +
          'given as LoadOptions.attachTarget (ebpf load --freplace-target)',
        at,
      );
    }
    const func = target.function ?? p.attachTo;
    if (func === undefined || func === '') {
      throw new LoadError('program', `no function to replace is named in section '${p.sectionName}'`, at);
    }
    const t = findExtensionTarget(target, func, at);
    this.trace({ kind: 'attach-target', program: p.name, ...t });
    return t;
  }

  /**
   * A kprobe.multi / uprobe.multi program on a kernel without those links (or told so by the
   * features) is loaded for single probes, expected attach type 0, so that it can be attached one
   * probe per function (their attach functions fall back so): kernels with multi links refuse a
   * perf-event probe to a program loaded for a multi link.
   */
  private withoutMultiLinks(p: ProgramSpec, expected: number): number {
    if (p.type !== ProgType.KPROBE) return expected;
    const multi =
      expected === AttachType.TRACE_UPROBE_MULTI
        ? { has: this.features.uprobeMultiLink ?? haveFeature(UPROBE_MULTI_LINK), f: UPROBE_MULTI_LINK }
        : expected === AttachType.TRACE_KPROBE_MULTI
          ? { has: this.features.kprobeMultiLink ?? haveFeature(KPROBE_MULTI_LINK), f: KPROBE_MULTI_LINK }
          : undefined;
    if (multi === undefined || multi.has) return expected;
    this.trace({
      kind: 'warning',
      message: `prog '${p.name}': ${notSupportedMessage(multi.f)}; loaded for single probes, attached one per function`,
    });
    return 0;
  }

  /** The kernel BTF type a BTF-attached program names; a target newer than the kernel (an iterator) is a NotSupportedError. */
  private attachTargetOf(p: ProgramSpec, name: string, at: Location): AttachBtfTarget {
    try {
      return atStep(
        'program',
        at,
        () =>
          findAttachBtfId(
            this.kernelBtf(),
            p.expectedAttachType,
            name,
            // The modules' BTF only with the running kernel's (not a kernelBtf given instead).
            this.opts.kernelBtf === undefined ? kernelModuleBtfs() : [],
          ),
        { catches: 'ebpf' },
      );
    } catch (e) {
      if (e instanceof LoadError && e.cause instanceof NotSupportedError)
        throw new NotSupportedError(e.cause.message, at, { cause: e.cause });
      throw e;
    }
  }

  /**
   * The session feature a kprobe.session / uprobe.session program needs when this kernel lacks it.
   * Such a program has no single-probe fallback (its entry decides whether the return probe runs);
   * a kernel without sessions refuses it for the session kfuncs or the attach type, and the load
   * says which kernel it needs instead.
   */
  private missingSession(p: ProgramSpec, expected: number): Feature | undefined {
    if (p.type !== ProgType.KPROBE) return undefined;
    const f =
      expected === AttachType.TRACE_KPROBE_SESSION
        ? KPROBE_SESSION
        : expected === AttachType.TRACE_UPROBE_SESSION
          ? UPROBE_SESSION
          : undefined;
    return f !== undefined && !haveFeature(f) ? f : undefined;
  }

  private *loadProgram(p: ProgramSpec, structOps: StructOpsTarget | undefined): LoadSteps<void> {
    const at = { ...this.loc, program: p.name };
    if (p.type === ProgType.UNSPEC) {
      throw new LoadError('program', `missing BPF prog type, check ELF section name '${p.sectionName}'`, at);
    }
    const insnsSpec = p.instructions.map((i) => {
      const c = i.clone() as SpecInstruction;
      if (i.reference !== undefined) c.reference = i.reference;
      return c;
    });
    let attachBtfId: number | undefined;
    /** A module's BTF object, for a target in a module (fentry on a module's function). */
    let attachBtfObjFd: number | undefined;
    let attachModule: string | undefined;
    let extension: ExtensionTarget | undefined;
    let expectedAttachType = p.expectedAttachType;
    if (structOps !== undefined) {
      attachBtfId = structOps.attachBtfId;
      expectedAttachType = structOps.memberIndex;
    } else if (p.type === ProgType.EXT) {
      extension = this.extensionTarget(p);
      attachBtfId = extension.btfId;
    } else if (((p.section?.flags ?? 0) & SEC_ATTACH_BTF) !== 0) {
      if (p.attachTo === undefined || p.attachTo === '') {
        throw new LoadError(
          'program',
          `no BTF-based attach target is specified in section '${p.sectionName}'`,
          at,
        );
      }
      const name = p.attachTo;
      const found = this.attachTargetOf(p, name, at);
      attachBtfId = found.btfId;
      if (found.module !== undefined) {
        attachModule = found.module;
        attachBtfObjFd = atStep('program', at, () => this.moduleBtfFd(found.module!).fd, { catches: 'ebpf' });
      }
    }
    expectedAttachType = this.withoutMultiLinks(p, expectedAttachType);
    // libbpf resolves CO-RE before the attach target; CO-RE comes second here so that, until it
    // exists, an object with a missing target fails the way libbpf reports it.
    this.applyCore(p, insnsSpec);
    const insns = this.relocate(p, insnsSpec);
    try {
      this.checkInstructionFeatures(p, insns);
    } catch (e) {
      // A session program on a kernel without sessions: that is what it needs first (an atomic
      // refused on 5.10 would name 5.12 when the hook itself needs 6.10).
      const session = e instanceof NotSupportedError ? this.missingSession(p, expectedAttachType) : undefined;
      if (session !== undefined)
        throw new NotSupportedError(`section '${p.sectionName}': ${notSupportedMessage(session)}`, at, {
          cause: e,
        });
      throw e;
    }
    const withBtf = this.btfFd !== undefined && this.features.btfKinds.func;
    const funcInfo = withBtf && p.funcInfo.length > 0 ? marshalFuncInfo(p.funcInfo) : undefined;
    const lineInfo = withBtf && p.lineInfo.length > 0 ? marshalLineInfo(p.lineInfo) : undefined;
    const attr = {
      prog_type: p.type,
      expected_attach_type: expectedAttachType,
      kern_version: p.kernelVersion || this.spec.kernelVersion || hostKernelVersion(),
      prog_flags:
        (p.sleepable ? BPF_F_SLEEPABLE : 0) |
        (p.xdpFrags && p.type === ProgType.XDP ? BPF_F_XDP_HAS_FRAGS : 0) |
        (this.token !== undefined ? BPF_F_TOKEN_FD : 0),
      ...(this.token !== undefined ? { prog_token_fd: this.token.fd } : {}),
      ...(this.features.progName ? { prog_name: objName(p.name) } : {}),
      ...(attachBtfId !== undefined ? { attach_btf_id: attachBtfId } : {}),
      ...(attachBtfObjFd !== undefined ? { attach_btf_obj_fd: attachBtfObjFd } : {}),
      ...(extension !== undefined ? { attach_prog_fd: extension.progFd } : {}),
      ...(withBtf ? { prog_btf_fd: this.btfFd!.fd } : {}),
      ...(funcInfo ? { func_info_rec_size: FUNC_INFO_REC_SIZE, func_info_cnt: p.funcInfo.length } : {}),
      ...(lineInfo ? { line_info_rec_size: LINE_INFO_REC_SIZE, line_info_cnt: p.lineInfo.length } : {}),
    };
    const bufs = {
      insns: encode(insns, true, at),
      license: p.license || this.spec.license,
      ...(funcInfo ? { funcInfo } : {}),
      ...(lineInfo ? { lineInfo } : {}),
      ...(this.fdArray.length > 0 ? { fdArray: Int32Array.from(this.fdArray) } : {}),
    };
    const log = this.opts.logLevel
      ? { level: this.opts.logLevel, ...(this.opts.logSize ? { size: this.opts.logSize } : {}) }
      : undefined;
    let fd: Fd;
    try {
      const r = yield { attr, bufs, log };
      fd = this.made.fd(r.fd);
      if (r.log !== '') this.logs.set(p.name, r.log);
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      const session = this.missingSession(p, expectedAttachType);
      if (session !== undefined)
        throw new NotSupportedError(`section '${p.sectionName}': ${notSupportedMessage(session)}`, at, {
          cause: e,
        });
      if (e.log !== undefined && e.log.trim() !== '') {
        const failed = lastInstruction(e.log);
        throw new VerifierError(
          p.name,
          {
            code: e.code,
            errno: e.errno,
            log: e.log,
            failedInstruction: failed,
            source: failed !== undefined ? sourceOf(p.lineInfo, failed) : undefined,
            core: this.coreApplied.get(p.name),
            progType: progTypeShortName(p.type),
            license: bufs.license,
            kernel: release(),
          },
          { cause: e },
        );
      }
      // A kernel older than the program type refuses it with a bare EINVAL: say which kernel it needs.
      const since = PROG_TYPE_VERSIONS[p.type];
      if (since !== undefined && e.code === 'EINVAL' && !haveFeature(progTypeFeature(p.type, since))) {
        throw new NotSupportedError(`${progTypeName(p.type)} programs require Linux ${since} or later`, at, {
          cause: e,
        });
      }
      throw new LoadError('program', `BPF_PROG_LOAD: ${e.message.replace(/^BPF_PROG_LOAD: /, '')}`, at, {
        cause: e,
      });
    }
    const kernelName = decodeText(objName(p.name));
    this.programs.set(p.name, { spec: p, fd, kernelName, pinnedAt: undefined });
    this.trace({
      kind: 'program',
      name: p.name,
      kernelName,
      type: progTypeName(p.type),
      fd: fd.fd,
      insns: bufs.insns.length / 8,
      ...(attachBtfId !== undefined ? { attachBtfId } : {}),
      ...(attachModule !== undefined ? { attachModule } : {}),
    });
    // As libbpf: keep .rodata alive with every program, even one that does not read it; a
    // failure here does not fail the load.
    for (const rec of this.mapLoader.maps.values()) {
      if (rec.spec.source !== 'rodata' || rec.spec.sectionName !== '.rodata') continue;
      try {
        sys.progBindMap(fd.fd, rec.fd.fd);
      } catch (e) {
        if (!(e instanceof SyscallError)) throw e;
        this.trace({
          kind: 'warning',
          message: `prog '${p.name}': cannot bind map '${rec.spec.name}': ${e.code}`,
        });
      }
    }
  }

  /**
   * A kernel before 5.13 does not take a subprogram's address (the callbacks of bpf_loop,
   * bpf_for_each_map_elem, bpf_timer_set_callback): its verifier says only "number of funcs in
   * func_info doesn't match number of subprogs" (with BTF) or "unrecognized bpf_ld_imm64 insn".
   * libbpf passes the program on and fails there; here it is a NotSupportedError naming the
   * feature, the version and the instruction.
   */
  private checkInstructionFeatures(p: ProgramSpec, insns: readonly Instruction[]): void {
    let slot = 0;
    for (const insn of insns) {
      // (The feature is read only for a program that has a callback: its probe is lazy.)
      if (insn.opcode === BPF_LD_IMM64 && insn.src === BPF_PSEUDO_FUNC && !this.features.callbacks) {
        throw new NotSupportedError(
          `a subprogram passed as a callback: ${notSupportedMessage(CALLBACKS)} (this is ${release()})`,
          { ...this.loc, program: p.name, instruction: slot },
        );
      }
      // Likewise an atomic other than a plain add: before 5.12 the kernel says only "BPF_STX
      // uses reserved fields", and libbpf passes that on.
      if ((insn.opcode & 0xe7) === (BPF_STX | BPF_ATOMIC) && insn.imm !== BPF_ADD && !this.features.atomics) {
        throw new NotSupportedError(
          `atomic operation 0x${insn.imm.toString(16)}: ${notSupportedMessage(ATOMICS)} (this is ${release()})`,
          { ...this.loc, program: p.name, instruction: slot },
        );
      }
      slot += insn.opcode === BPF_LD_IMM64 ? 2 : 1;
    }
  }

  // ---- pins ---------------------------------------------------------------------------------

  /** Settles what loads killed while pinning left on the mounts this load pins on (see pin-set.ts). */
  private recoverPins(): void {
    const dirs = [this.opts.pinDir, this.opts.pinMaps];
    if (this.spec.maps.some((m) => this.mapLoader.pinPathOf(m) !== undefined))
      dirs.push(this.opts.pinRoot ?? DEFAULT_PIN_ROOT);
    const seen = new Set<string>();
    for (const d of dirs) {
      if (d === undefined || seen.has(d)) continue;
      seen.add(d);
      for (const r of recoverPins(d)) this.trace({ kind: 'pin-recovered', ...r });
    }
  }

  /** Every pin this load makes, committed as one set: all of them or none, even if killed. */
  private pinAll(toLoad: ProgramSpec[]): void {
    const requests: PinRequest[] = [];
    const mapAt = new Map<PinRequest, LoadedMapRecord>();
    for (const rec of this.mapLoader.maps.values()) {
      const byName = this.mapLoader.pinPathOf(rec.spec);
      let path: string | undefined;
      if (byName !== undefined && !rec.reused) path = byName;
      else if (this.opts.pinMaps !== undefined && rec.pinnedAt === undefined)
        path = join(this.opts.pinMaps, pinFileName(rec.spec.name));
      if (path === undefined) continue;
      const r: PinRequest = { what: 'map', name: rec.spec.name, fd: rec.fd, path };
      requests.push(r);
      mapAt.set(r, rec);
    }
    if (this.opts.pinDir !== undefined) {
      for (const p of toLoad) {
        const rec = this.programs.get(p.name)!;
        requests.push({
          what: 'program',
          name: p.name,
          fd: rec.fd,
          path: join(this.opts.pinDir, pinFileName(p.name)),
        });
      }
    }
    try {
      this.made.dirs.push(
        ...commitPins(requests, (r) => {
          this.made.pins.push(r.path);
          (mapAt.get(r) ?? this.programs.get(r.name)!).pinnedAt = r.path;
          this.trace({ kind: 'pin', what: r.what, name: r.name, path: r.path });
        }),
      );
    } catch (e) {
      if (!(e instanceof PinSetError)) throw e;
      const { what, name } = e.request;
      throw new LoadError(
        'pin',
        `cannot pin ${what}: ${e.message}`,
        { ...this.loc, [what === 'map' ? 'map' : 'program']: name },
        { cause: e.cause },
      );
    }
  }
}
