export * from './perplexity.js';
