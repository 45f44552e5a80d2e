export * from './pack.js';
export * from './session.js';
export * from './read.js';
