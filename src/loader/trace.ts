// Trace events: what the loader did, step by step, for `ebpf load --trace` and for callers who
// want to see it (BTF loaded and what was sanitised, maps, relocations, CO-RE relocations as `ebpf core
// explain` shows them, freplace targets, programs, pins, rollback).
import type { AppliedCoreRelocation } from '../core/apply.js';
import { formatCoreRelocation } from '../core/describe.js';
import type { Reference } from '../object/index.js';
import type { BtfChange } from './btf-fixup.js';
import { checkArgument } from '../internal/options.js';

export type TraceEvent =
  | { kind: 'object'; name: string; file: string | undefined; programs: number; maps: number }
  | { kind: 'btf'; fd: number; bytes: number; fixups: BtfChange[]; sanitized: BtfChange[] }
  | { kind: 'btf-skipped'; reason: string }
  /** A BPF token made from the bpffs at `path`, given to every BTF, map and program load. */
  | { kind: 'token'; path: string; fd: number }
  | {
      kind: 'map';
      name: string;
      kernelName: string;
      type: string;
      fd: number;
      /** Created, reused from a pin, or an inner-map template. */
      how: 'created' | 'reused' | 'inner';
      withoutBtf?: boolean;
      pinnedAt?: string;
    }
  | { kind: 'extern'; name: string; what: string }
  | { kind: 'map-init'; name: string; what: string }
  | { kind: 'relocation'; program: string; insn: number; reference: Reference; before: string; after: string }
  /** One CO-RE relocation as applied; printed as `ebpf core explain` prints it. */
  | { kind: 'core-relocation'; program: string; relocation: AppliedCoreRelocation }
  | { kind: 'core'; program: string; relocations: number }
  /** A freplace program's target: FUNC `func` [btfId] in the BTF of program `progId` (fd `progFd`). */
  | { kind: 'attach-target'; program: string; progId: number; progFd: number; func: string; btfId: number }
  | {
      kind: 'program';
      name: string;
      kernelName: string;
      type: string;
      fd: number;
      insns: number;
      attachBtfId?: number;
      /** The module whose BTF has the attach target (none: vmlinux). */
      attachModule?: string;
    }
  | { kind: 'pin'; what: 'map' | 'program'; name: string; path: string }
  /** A load killed while pinning left a journal: its pins were completed, or removed (see pin-set.ts). */
  | { kind: 'pin-recovered'; journal: string; action: 'completed' | 'removed'; pins: string[] }
  | { kind: 'warning'; message: string }
  | { kind: 'rollback'; closed: number; unpinned: string[] };

function refText(r: Reference): string {
  switch (r.kind) {
    case 'map':
      return `map '${r.map}'`;
    case 'data':
      return `'${r.map}'+${r.offset}${r.symbol !== undefined ? ` (${r.symbol})` : ''}`;
    case 'call':
    case 'func':
      return `${r.kind} '${r.target}'`;
    case 'kconfig':
      return `kconfig '${r.name}'`;
    default:
      return `${r.kind} '${r.name}'`;
  }
}

/** One line (or a few) of text for an event, as `ebpf load --trace` prints it. */
export function formatTraceEvent(e: TraceEvent): string {
  checkArgument(
    'formatTraceEvent',
    'event',
    e,
    'a TraceEvent',
    typeof (e as { kind?: unknown } | null)?.kind === 'string',
  );
  switch (e.kind) {
    case 'object':
      return `object '${e.name}'${e.file !== undefined ? ` (${e.file})` : ''}: ${e.programs} programs, ${e.maps} maps`;
    case 'btf': {
      const lines = [
        `BTF loaded: fd ${e.fd}, ${e.bytes} bytes, ${e.fixups.length} fix-ups, ${e.sanitized.length} sanitised`,
      ];
      for (const c of e.fixups) lines.push(`  fix-up [${c.typeId}] ${c.what}`);
      for (const c of e.sanitized) lines.push(`  sanitised [${c.typeId}] ${c.what}`);
      return lines.join('\n');
    }
    case 'btf-skipped':
      return `BTF not loaded: ${e.reason}`;
    case 'token':
      return `BPF token: fd ${e.fd}, from the BPF filesystem at ${e.path}`;
    case 'map':
      return (
        `map '${e.name}' (${e.type}, kernel name '${e.kernelName}'): ${e.how} fd ${e.fd}` +
        (e.withoutBtf ? ', without BTF (kernel refused it)' : '') +
        (e.pinnedAt !== undefined ? `, pinned at ${e.pinnedAt}` : '')
      );
    case 'extern':
      return `extern '${e.name}': ${e.what}`;
    case 'map-init':
      return `map '${e.name}': ${e.what}`;
    case 'relocation':
      return `prog '${e.program}' insn ${e.insn}: ${refText(e.reference)}\n    before: ${e.before}\n    after:  ${e.after}`;
    case 'core-relocation':
      return formatCoreRelocation(e.relocation);
    case 'attach-target':
      return `prog '${e.program}': replaces FUNC '${e.func}' [${e.btfId}] of prog id ${e.progId} (fd ${e.progFd})`;
    case 'core':
      return `prog '${e.program}': ${e.relocations} CO-RE relocations applied`;
    case 'program':
      return (
        `prog '${e.name}' (${e.type}, kernel name '${e.kernelName}'): loaded fd ${e.fd}, ${e.insns} instructions` +
        (e.attachBtfId !== undefined
          ? `, attach_btf_id ${e.attachBtfId}${e.attachModule !== undefined ? ` in module '${e.attachModule}'` : ''}`
          : '')
      );
    case 'pin':
      return `${e.what} '${e.name}' pinned at ${e.path}`;
    case 'pin-recovered':
      return `pins of a killed load (${e.journal}) ${e.action}${e.pins.length ? `: ${e.pins.join(', ')}` : ''}`;
    case 'warning':
      return `warning: ${e.message}`;
    case 'rollback':
      return `rolled back: closed ${e.closed} descriptors${e.unpinned.length ? `, removed pins ${e.unpinned.join(', ')}` : ''}`;
  }
}
