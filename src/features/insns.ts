// The bytes of the few programs the probes load: src/asm's instructions in this host's byte order.
import { encode, type Instruction } from '../asm/index.js';
import { HOST_LITTLE_ENDIAN } from '../host.js';

const LE = HOST_LITTLE_ENDIAN;

/** Instructions encoded for bpf(BPF_PROG_LOAD) on this machine. */
export function program(...insns: Instruction[]): Uint8Array {
  return encode(insns, LE);
}
