export * from './perplexity.js';
export * from './kld.js';
