// USDT argument specs for x86-64, as gcc and clang write them into stapsdt notes (the operand of
// an `asm` input in AT&T syntax, with a size prefix): `-4@%eax` (a register), `8@-8(%rbp)` (memory
// at register + offset), `8@(%rdx,%rax,8)` (base + index * scale), `-4@$5` (a constant). Each is
// turned into what libbpf's <bpf/usdt.bpf.h> reads: a kind, a struct pt_regs offset, an offset or
// value, and the shift that narrows the 8 bytes read to the argument's size and sign.
import { EbpfError } from '../errors.js';

/** enum __bpf_usdt_arg_type of <bpf/usdt.bpf.h>; SIB since libbpf 1.7. */
export const UsdtArgType = { CONST: 0, REG: 1, REG_DEREF: 2, SIB: 3 } as const;
export type UsdtArgType = (typeof UsdtArgType)[keyof typeof UsdtArgType];

/** One argument, parsed. */
export interface UsdtArg {
  /** The spec text it came from. */
  spec: string;
  type: UsdtArgType;
  /** The argument's size in bytes: 1, 2, 4 or 8. */
  size: number;
  signed: boolean;
  /** CONST: the value; REG_DEREF and SIB: the displacement; REG: 0. */
  valOff: bigint;
  /** The (base) register's offset in struct pt_regs; 0 for CONST. */
  regOff: number;
  /** SIB: the index register's offset in struct pt_regs. */
  idxRegOff: number;
  /** SIB: log2 of the scale (0..3). */
  scaleShift: number;
  /** Bits the program clears (and sign-extends) above the argument: 64 - 8 * size. */
  bitshift: number;
}

/**
 * struct pt_regs as the kernel hands it to uprobe programs on x86-64 (uapi asm/ptrace.h): byte
 * offset of the slot of each register an argument can be in (orig_rax, cs, eflags, ss left out).
 */
export const X86_64_PT_REGS: Readonly<Record<string, number>> = {
  r15: 0,
  r14: 8,
  r13: 16,
  r12: 24,
  rbp: 32,
  rbx: 40,
  r11: 48,
  r10: 56,
  r9: 64,
  r8: 72,
  rax: 80,
  rcx: 88,
  rdx: 96,
  rsi: 104,
  rdi: 112,
  rip: 128,
  rsp: 152,
};

/** Every name of the low 8/16/32/64 bits of a general register, to its 64-bit register. */
const REGISTERS: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  for (const r of ['ax', 'bx', 'cx', 'dx']) {
    for (const n of [`r${r}`, `e${r}`, r, `${r[0]!}l`]) m.set(n, `r${r}`);
  }
  for (const r of ['si', 'di', 'bp', 'sp']) {
    for (const n of [`r${r}`, `e${r}`, r, `${r}l`]) m.set(n, `r${r}`);
  }
  for (let i = 8; i <= 15; i++) for (const s of ['', 'd', 'w', 'b']) m.set(`r${i}${s}`, `r${i}`);
  m.set('rip', 'rip');
  m.set('eip', 'rip');
  return m;
})();

const NUMBER = /^[-+]?(0x[0-9a-fA-F]+|\d+)$/;

const toBigInt = (s: string): bigint => {
  const neg = s.startsWith('-');
  const body = s.replace(/^[-+]/, '');
  const v = BigInt(body);
  return neg ? -v : v;
};

/** Wraps a possibly negative value into the u64 the spec map holds. */
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);

/**
 * Parses one argument spec (`-4@%eax`, `8@-8(%rbp)`, `8@(%rdx,%rax,8)`, `-4@$5`). Without a size
 * prefix (old sdt.h) the argument is taken as 8 bytes, unsigned. Throws an EbpfError saying what
 * it cannot read: a high-byte register (%ah), a symbol-relative address (`x(%rip)` with a name), ...
 */
export function parseUsdtArg(spec: string): UsdtArg {
  const fail = (why: string): EbpfError => new EbpfError(`USDT argument '${spec}': ${why}`);
  let size = 8;
  let signed = false;
  let operand = spec;
  const at = /^(-?)(\d+)@(.*)$/.exec(spec);
  if (at !== null) {
    signed = at[1] === '-';
    size = Number(at[2]);
    operand = at[3]!;
    if (![1, 2, 4, 8].includes(size)) throw fail(`size ${size} is not 1, 2, 4 or 8`);
  }
  const register = (name: string): number => {
    const full = REGISTERS.get(name);
    if (full === undefined) {
      throw fail(
        /^[abcd]h$/.test(name)
          ? `%${name} is a high-byte register, which a pt_regs slot cannot give`
          : `unknown x86-64 register %${name}`,
      );
    }
    return X86_64_PT_REGS[full]!;
  };
  const base = { spec, size, signed, bitshift: 64 - size * 8, idxRegOff: 0, scaleShift: 0 };
  let m: RegExpExecArray | null;
  if ((m = /^\$(.+)$/.exec(operand)) !== null) {
    if (!NUMBER.test(m[1]!)) throw fail(`constant '${m[1]!}' is not a number`);
    return { ...base, type: UsdtArgType.CONST, valOff: u64(toBigInt(m[1]!)), regOff: 0 };
  }
  if ((m = /^%([a-z0-9]+)$/.exec(operand)) !== null) {
    return { ...base, type: UsdtArgType.REG, valOff: 0n, regOff: register(m[1]!) };
  }
  if ((m = /^([^(]*)\(\s*%([a-z0-9]+)\s*\)$/.exec(operand)) !== null) {
    const disp = m[1]!;
    if (disp !== '' && !NUMBER.test(disp))
      throw fail(`a symbol-relative address ('${disp}') is not supported`);
    return {
      ...base,
      type: UsdtArgType.REG_DEREF,
      valOff: u64(disp === '' ? 0n : toBigInt(disp)),
      regOff: register(m[2]!),
    };
  }
  if ((m = /^([^(]*)\(\s*(%[a-z0-9]+)?\s*,\s*%([a-z0-9]+)\s*(?:,\s*(\d+)\s*)?\)$/.exec(operand)) !== null) {
    const disp = m[1]!;
    if (disp !== '' && !NUMBER.test(disp))
      throw fail(`a symbol-relative address ('${disp}') is not supported`);
    if (m[2] === undefined) throw fail('an index without a base register is not supported');
    const scale = Number(m[4] ?? 1);
    const scaleShift = [1, 2, 4, 8].indexOf(scale);
    if (scaleShift < 0) throw fail(`scale ${scale} is not 1, 2, 4 or 8`);
    return {
      ...base,
      type: UsdtArgType.SIB,
      valOff: u64(disp === '' ? 0n : toBigInt(disp)),
      regOff: register(m[2].slice(1)),
      idxRegOff: register(m[3]!),
      scaleShift,
    };
  }
  throw fail('not a register, memory operand or constant');
}

/** libbpf's limit, BPF_USDT_MAX_ARG_CNT: the spec map's args array has 12 slots. */
export const USDT_MAX_ARGS = 12;

/** Parses a note's space-separated argument specs. */
export function parseUsdtArgs(args: string): UsdtArg[] {
  const specs = args.split(/\s+/).filter((s) => s !== '');
  if (specs.length > USDT_MAX_ARGS)
    throw new EbpfError(`USDT probe has ${specs.length} arguments, more than ${USDT_MAX_ARGS}`);
  return specs.map(parseUsdtArg);
}
