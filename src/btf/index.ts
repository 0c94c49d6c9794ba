// The types step of the pipeline: BTF model, parser, builder, .BTF.ext, formatters, kernel BTF.
export * from './types.js';
export * from './btf.js';
export * from './builder.js';
export * from './strings.js';
export * from './ext.js';
export * from './format-raw.js';
export * from './format-tree.js';
export * from './format-c.js';
export * from './from-elf.js';
export * from './kernel.js';
export * from './c-name.js';
