/**
 * `ebpf/core`: CO-RE: accessor specs, candidate search, compatibility and matching, resolution
 * to values, patching and poisoning, and the text and JSON that explain each relocation.
 * @module ebpf/core
 */
export * from '../core/index.js';
