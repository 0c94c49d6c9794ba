// Maps: the BpfMap handle (typed through BTF codecs) and global variables over data maps.
export * from './map.js';
export * from './variables.js';
