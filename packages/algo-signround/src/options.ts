import type { AlgorithmOption } from '@autoround/core';

/** The most tuning iterations a block may go without improving before dynamic_max_gap stops it (the host's MAX_ITERS). */
const MAX_GAP = 1_000_000;
const INF = Number.POSITIVE_INFINITY;

/**
 * The options SignRound reads (signRoundOptions in loop.ts), the original's flags: the CLI generates
 * them and their help from this list, and the host and the CLI check their ranges (docs/options.md).
 * The host's own options (iters, nsamples, seqlen, batch_size, seed …) are declared by the host.
 */
export const signRoundOptionDeclarations: readonly AlgorithmOption[] = [
  { name: 'lr', flag: 'lr', type: 'number', help: 'learning rate (default 1/iters)', range: { min: 0, minExclusive: true, max: INF, maxExclusive: true } },
  { name: 'minmaxLr', flag: 'minmax_lr', type: 'number', help: 'min/max scale learning rate (default: lr)', range: { min: 0, minExclusive: true, max: INF, maxExclusive: true } },
  { name: 'gradientAccumulateSteps', flag: 'gradient_accumulate_steps', type: 'integer', default: 1, help: 'gradient accumulation steps', range: { min: 1, max: 1_000_000 } },
  {
    name: 'enableMinmaxTuning',
    flag: 'enable_minmax_tuning',
    type: 'boolean',
    default: true,
    help: 'tune min/max scales',
    negation: { flag: 'disable_minmax_tuning', help: 'do not tune min/max scales' },
  },
  {
    name: 'enableQuantedInput',
    flag: 'enable_quanted_input',
    type: 'boolean',
    default: true,
    help: 'feed quantized outputs of earlier blocks',
    negation: { flag: 'disable_quanted_input', help: 'feed full-precision block inputs' },
  },
  { name: 'notUseBestMse', flag: 'not_use_best_mse', type: 'boolean', default: false, help: 'keep the last iteration instead of the best' },
  // API only, as in the original's CLI
  { name: 'dynamicMaxGap', type: 'integer', default: -1, help: 'stop tuning a block when its best loss has not improved for this many iterations (≤ 0: never)', range: { min: -MAX_GAP, max: MAX_GAP } },
  {
    name: 'enableAlgExt',
    flag: 'enable_alg_ext',
    type: 'boolean',
    default: false,
    help: 'SignRoundV2 for symmetric int layers: scales start from the importance-weighted search, max_scale in [0, 2], below 4 bits the 0.1% largest errors left out of the loss',
  },
  { name: 'enableNormBiasTuning', flag: 'enable_norm_bias_tuning', type: 'boolean', default: false, help: 'tune norm weights and linear biases with an offset too (experimental, as in the original)' },
  { name: 'enableAdam', flag: 'enable_adam', type: 'boolean', default: false, help: 'AdamRound: AdamW instead of the sign step (lr 0.005 unless given)' },
  {
    name: 'minExpertTokens',
    flag: 'min_expert_tokens',
    type: 'integer',
    default: 64,
    help: 'a mixture-of-experts expert routed fewer calibration tokens than this is quantized with optimized RTN instead of tuned (docs/models/moe.md#tuning)',
    range: { min: 0, max: 1_000_000_000 },
  },
  { name: 'nblocks', flag: 'nblocks', type: 'integer', default: 1, help: 'consecutive blocks tuned together as one', range: { min: 1, max: 1_000_000 } },
  { name: 'momentum', flag: 'momentum', type: 'number', default: 0, help: 'momentum of the sign step', range: { min: 0, max: 1, maxExclusive: true } },
  {
    name: 'enableLfq',
    flag: 'enable_lfq',
    type: 'boolean',
    default: false,
    help: 'the last block tuned on the LM loss (cross-entropy through the final norm and lm_head) instead of its output MSE (experimental, as in the original)',
  },
];
