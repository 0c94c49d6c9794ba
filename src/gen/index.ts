// Code generation from an object's BTF: the JS shapes its codecs produce, and TypeScript types for them.
export * from './shape.js';
export * from './object-shapes.js';
export * from './typescript.js';
export * from './typed.js';
