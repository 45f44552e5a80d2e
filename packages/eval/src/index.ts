export * from './perplexity.js';
export * from './kld.js';
export * from './nonfinite.js';
