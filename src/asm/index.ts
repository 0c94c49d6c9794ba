// The instruction step of the pipeline: the Instruction type, decode/encode, text, builder.
export * from './opcodes.js';
export * from './instruction.js';
export * from './format.js';
export * from './disasm.js';
export * from './builder.js';
