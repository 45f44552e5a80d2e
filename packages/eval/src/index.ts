import { definePlugin, type EvaluatorPlugin } from '@autoround/core';
import { klDivergence } from './kld.js';
import { evalWindows, perplexity, windowNllOf } from './perplexity.js';

export * from './perplexity.js';
export * from './kld.js';
export * from './nonfinite.js';

/** Perplexity and KL divergence as the host finds them: through the registry, not by import. */
export const evaluator: EvaluatorPlugin = { name: 'perplexity', evalWindows, windowNll: windowNllOf, perplexity, klDivergence };

export const evalPlugin = definePlugin({ name: '@autoround/eval', evaluators: [evaluator] });
export default evalPlugin;
