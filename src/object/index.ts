// The object step of the pipeline: ELF object → ObjectSpec (programs, maps, global variables).
export * from './spec.js';
export * from './errors.js';
export * from './sections.js';
export { loadObjectSpec, objectSpecFromElf, objectName, specElf, type LoadObjectOptions } from './object.js';
export { internalMapName } from './globals.js';
export { LIBBPF_PIN_NONE, LIBBPF_PIN_BY_NAME, ringbufSize } from './btf-maps.js';
export { PIN_NONE, PIN_OBJECT_NS, PIN_GLOBAL_NS } from './legacy-maps.js';
export { collectExterns } from './externs.js';
