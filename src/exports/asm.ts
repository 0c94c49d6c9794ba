/**
 * `ebpf/asm`: BPF instructions: the `Instruction` type, opcode tables, decode and encode, the
 * llvm-objdump-compatible disassembler and text formatter, and a builder for hand-written programs.
 * @module ebpf/asm
 */
export * from '../asm/index.js';
