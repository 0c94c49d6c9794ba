// Which BTF type a ring buffer's or perf buffer's records have. libbpf records no type for them:
// what an object says is the size its programs pass to bpf_ringbuf_reserve(), bpf_ringbuf_output()
// or bpf_perf_event_output() with the map, when that size is a constant. The type is then the one
// named struct (or union) of the object's BTF with that size, if exactly one has it.
import type { Btf } from '../btf/btf.js';
import type { ObjectSpec } from '../object/spec.js';

/** Helper ids (uapi linux/bpf.h) and the argument registers of their map and size. */
const SENDERS: ReadonlyMap<number, { map: number; size: number }> = new Map([
  [25, { map: 2, size: 5 }], // bpf_perf_event_output(ctx, map, flags, data, size)
  [130, { map: 1, size: 3 }], // bpf_ringbuf_output(ringbuf, data, size, flags)
  [131, { map: 1, size: 2 }], // bpf_ringbuf_reserve(ringbuf, size, flags)
]);

const BPF_CALL = 0x85;
const BPF_LD_IMM64 = 0x18;
const BPF_MOV64_K = 0xb7;
const BPF_MOV32_K = 0xb4;
const BPF_MOV64_X = 0xbf;
/** Instruction classes that write their dst register: LD, LDX, ALU, ALU64. */
const WRITES_DST = new Set([0, 1, 4, 7]);

type RegValue = { map: string } | { constant: number } | undefined;

/**
 * The constant sizes each map's records are sent with by the object's programs, found by
 * following registers through straight-line code before each helper call (a value that comes
 * through a branch or memory is unknown, and left out).
 */
export function recordSizes(spec: ObjectSpec): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const p of spec.programs) {
    const regs: RegValue[] = new Array<RegValue>(11).fill(undefined);
    for (const insn of p.instructions) {
      const op = insn.opcode;
      if (op === BPF_CALL && insn.src === 0) {
        const s = SENDERS.get(insn.imm);
        if (s !== undefined) {
          const map = regs[s.map];
          const size = regs[s.size];
          if (map !== undefined && 'map' in map && size !== undefined && 'constant' in size) {
            let sizes = out.get(map.map);
            if (sizes === undefined) out.set(map.map, (sizes = new Set()));
            sizes.add(size.constant);
          }
        }
        // Calls clobber r0-r5.
        for (let r = 0; r <= 5; r++) regs[r] = undefined;
        continue;
      }
      if (!WRITES_DST.has(op & 7)) continue;
      const ref = insn.reference;
      if (op === BPF_LD_IMM64 && ref?.kind === 'map') regs[insn.dst] = { map: ref.map };
      else if (op === BPF_MOV64_K || op === BPF_MOV32_K) regs[insn.dst] = { constant: insn.imm };
      else if (op === BPF_MOV64_X) regs[insn.dst] = regs[insn.src];
      else regs[insn.dst] = undefined;
    }
  }
  return out;
}

/** What recordType() found for a map. */
export type RecordTypeGuess =
  | { typeId: number; name: string; size: number }
  /** No single type: the sizes seen and the types of those sizes, for the message. */
  | { typeId?: undefined; sizes: number[]; candidates: string[] };

/** The named struct or union types of `btf` (its own, not a base's) of each size in `sizes`. */
function typesOfSize(btf: Btf, sizes: ReadonlySet<number>): { id: number; name: string; size: number }[] {
  const out: { id: number; name: string; size: number }[] = [];
  for (const t of btf.types()) {
    if ((t.kind === 'STRUCT' || t.kind === 'UNION') && t.name !== '' && sizes.has(t.size))
      out.push({ id: t.id, name: `${t.kind === 'STRUCT' ? 'struct' : 'union'} ${t.name}`, size: t.size });
  }
  return out;
}

/**
 * The BTF type of the records of map `map`, as far as the object's programs tell (see above):
 * one named struct or union of the size they send, or what stood in the way.
 */
export function recordType(spec: ObjectSpec, map: string, sizes = recordSizes(spec)): RecordTypeGuess {
  const seen = sizes.get(map) ?? new Set<number>();
  const candidates = spec.btf !== undefined && seen.size === 1 ? typesOfSize(spec.btf, seen) : [];
  if (candidates.length === 1) {
    const c = candidates[0]!;
    return { typeId: c.id, name: c.name, size: c.size };
  }
  return { sizes: [...seen].sort((a, b) => a - b), candidates: candidates.map((c) => c.name) };
}
