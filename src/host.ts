// Facts about the machine this runs on that every layer may use, decided once.
import { endianness } from 'node:os';

/** Whether this machine stores integers little endian (x86, arm64, most of riscv) rather than big. */
export const HOST_LITTLE_ENDIAN = endianness() === 'LE';
