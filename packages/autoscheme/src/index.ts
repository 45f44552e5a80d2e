import { definePlugin } from '@autoround/core';
import { autoSchemePlanner } from './plan.js';

export { layerBits, groupCount, ggufBits, type BitCount } from './bits.js';
export { solveKnapsack, type Choice, type KnapsackResult } from './knapsack.js';
export { resolveOptions, splitOptions, validateRequest, type SchemeOption } from './options.js';
export { deltaLoss, deltaLossScores, lossGradients, meanLoss, type GradientSink, type ScoreReduction, type ScoreResult, type ScoringData, type ScoringModel } from './score.js';
export { unitsOf, type Unit } from './units.js';
export { AUTOSCHEME_DEFAULTS, autoSchemePlanner, bitCountOf, exactPattern, planAutoScheme, rtnQdq } from './plan.js';
export { defaultCacheDir } from './cache.js';

export const autoSchemePlugin = definePlugin({ name: '@autoround/autoscheme', planners: [autoSchemePlanner] });
export default autoSchemePlugin;
