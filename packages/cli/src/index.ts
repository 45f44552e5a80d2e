export * from './args.js';
export * from './main.js';
