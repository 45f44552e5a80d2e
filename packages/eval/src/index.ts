import { definePlugin, type EvaluatorPlugin } from '@autoround/core';
import { klDivergence } from './kld.js';
import { evalWindows, perplexity, windowNllOf } from './perplexity.js';
import { llamaCppPerplexity } from './llama-cpp.js';

export { evalWindows, perplexity, windowNllOf, type PerplexityOptions, type PerplexityResult } from './perplexity.js';
export { llamaCppChunks, llamaCppFirstScored, llamaCppPerplexity } from './llama-cpp.js';
export { KlDivergence, klDivergence, type KlDivergenceResult, type KlDivergenceRun } from './kld.js';

/** Perplexity and KL divergence as the host finds them: through the registry, not by import. */
export const evaluator: EvaluatorPlugin = { name: 'perplexity', evalWindows, windowNll: windowNllOf, perplexity, klDivergence, llamaCppPerplexity };

export const evalPlugin = definePlugin({ name: '@autoround/eval', evaluators: [evaluator] });
export default evalPlugin;
