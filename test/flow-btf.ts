// The BTF the map tests, the `ebpf map` tests and the map benchmark describe their maps with,
// built in one place: struct flow_key { u32 saddr, daddr; } and struct flow_stats { u64 packets,
// bytes; }, to which a caller adds its own types (records, variables) on the same builder.
import { BtfBuilder } from '../src/btf/builder.js';

/** A member at `bitsOffset`, not a bitfield. */
export const member = (name: string, type: number, bitsOffset: number) => ({
  name,
  type,
  bitsOffset,
  bitfieldSize: 0,
});

export interface FlowTypes {
  u32: number;
  u64: number;
  /** struct flow_key, 8 bytes. */
  key: number;
  /** struct flow_stats, 16 bytes. */
  stats: number;
}

/**
 * BTF bytes with the flow types first (ids 1 to 4), then whatever `more` adds; `ids` holds both
 * the flow types' ids and the ids `more` returns by name.
 */
export function flowBtf<M extends Record<string, number> = Record<never, number>>(
  more?: (b: BtfBuilder, flow: FlowTypes) => M,
): { bytes: Uint8Array; ids: FlowTypes & M } {
  const b = new BtfBuilder();
  const u32 = b.add({ kind: 'INT', name: 'unsigned int', size: 4, encoding: 0, bitsOffset: 0, bits: 32 });
  const u64 = b.add({
    kind: 'INT',
    name: 'unsigned long long',
    size: 8,
    encoding: 0,
    bitsOffset: 0,
    bits: 64,
  });
  const key = b.add({
    kind: 'STRUCT',
    name: 'flow_key',
    size: 8,
    kindFlag: false,
    members: [member('saddr', u32, 0), member('daddr', u32, 32)],
  });
  const stats = b.add({
    kind: 'STRUCT',
    name: 'flow_stats',
    size: 16,
    kindFlag: false,
    members: [member('packets', u64, 0), member('bytes', u64, 64)],
  });
  const flow: FlowTypes = { u32, u64, key, stats };
  const extra = more?.(b, flow) ?? ({} as M);
  return { bytes: b.build(), ids: { ...flow, ...extra } };
}

/** char, `char comm[commLen]` and `enum proto { TCP = 6, UDP = 17 }`, for the record types the tests add. */
export function addCommAndProto(
  b: BtfBuilder,
  u32: number,
  commLen: number,
): { char: number; comm: number; proto: number } {
  const char = b.add({ kind: 'INT', name: 'char', size: 1, encoding: 1, bitsOffset: 0, bits: 8 });
  const comm = b.add({ kind: 'ARRAY', name: '', type: char, indexType: u32, nelems: commLen });
  const proto = b.add({
    kind: 'ENUM',
    name: 'proto',
    size: 4,
    signed: false,
    values: [
      { name: 'TCP', value: 6n },
      { name: 'UDP', value: 17n },
    ],
  });
  return { char, comm, proto };
}
