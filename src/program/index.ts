// The program handle's public surface.
export * from './program.js';
export * from './info.js';
