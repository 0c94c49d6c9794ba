// The CO-RE step: accessor specs, candidate search, compatibility and matching, resolution to
// values, patching and poisoning, and explaining what was done.
export * from './errors.js';
export * from './kinds.js';
export * from './names.js';
export * from './spec.js';
export * from './compat.js';
export * from './match.js';
export * from './candidates.js';
export * from './target.js';
export * from './calc.js';
export * from './resolve.js';
export * from './patch.js';
export * from './apply.js';
export * from './describe-type.js';
export * from './describe.js';
export * from './verifier-log.js';
export * from './relocator.js';
