// The running kernel's symbol table (/proc/kallsyms), read once: typeless `__ksym` externs take
// their addresses from it, and probes ask it which symbols the kernel has.
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';

export interface KernelSymbol {
  address: bigint;
  /** nm-style type letter: T text, D data, B bss, R read-only... */
  type: string;
  /** The module that holds it, undefined for vmlinux. */
  module: string | undefined;
}

let cached: Map<string, KernelSymbol[]> | undefined;

/** Parses kallsyms text: `ffffffff81000000 T _stext [module]` per line. */
export function parseKallsyms(text: string): Map<string, KernelSymbol[]> {
  const out = new Map<string, KernelSymbol[]>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]+) (\S) (\S+)(?:\s+\[(\S+)\])?/.exec(line);
    if (m === null) continue;
    const sym: KernelSymbol = { address: BigInt(`0x${m[1]!}`), type: m[2]!, module: m[4] };
    const list = out.get(m[3]!);
    if (list === undefined) out.set(m[3]!, [sym]);
    else list.push(sym);
  }
  return out;
}

/**
 * Every kernel symbol by name (a name can be defined more than once, in vmlinux and modules).
 * Addresses read as 0 without CAP_SYSLOG or with kptr_restrict set.
 */
export function kallsyms(): Map<string, KernelSymbol[]> {
  cached ??= parseKallsyms(readFileSync('/proc/kallsyms', 'latin1'));
  return cached;
}

/** The architecture prefix of syscall wrappers (`__x64_sys_bpf`), as libbpf knows them. */
export function syscallPrefix(): string | undefined {
  switch (arch()) {
    case 'x64':
      return 'x64';
    case 'ia32':
      return 'ia32';
    case 'arm64':
      return 'arm64';
    case 's390x':
      return 's390x';
    case 'arm':
      return 'arm';
    case 'riscv64':
      return 'riscv';
    case 'ppc64':
      return 'powerpc';
    default:
      return undefined;
  }
}
