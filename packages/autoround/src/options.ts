import type { AlgorithmPlugin, AutoRoundPlugin, LayerConfigValue, Logger, OptionNaming, OptionRange, Registry, ScaleDType } from '@autoround/core';
import { AutoRoundError, checkAlgorithmOption, checkOptionRange, declaredOptions } from '@autoround/core';
import { parseByteSize } from '@autoround/core-tensor';

/** API options, named after the original's arguments (camelCase). */
export interface AutoRoundOptions {
  /** Preset name: W4A16 (default), W2A16, W3A16, W8A16, MXFP4, GGUF:Q4_K_M … */
  scheme?: string;
  bits?: number;
  groupSize?: number;
  sym?: boolean;
  dataType?: string;
  scaleDtype?: ScaleDType;
  /** 2-D weight blocks (FP8_BLOCK, the original's group_size (128, 128)); sets groupSize to its second entry. */
  groupShape?: readonly [number, number];
  /** Activation quantization (the scheme's act_* fields; docs/algorithms/fp-qdq.md#activations). */
  actBits?: number;
  actDataType?: string;
  actGroupSize?: number;
  actSym?: boolean;
  actDynamic?: boolean;
  /** 0 selects RTN; default 200 (SignRound). */
  iters?: number;
  nsamples?: number;
  seqlen?: number;
  batchSize?: number;
  seed?: number;
  dataset?: string;
  /** With iters 0: plain RTN instead of the importance-weighted search. */
  disableOptRtn?: boolean;
  algorithm?: string;
  // SignRound's options, declared with their ranges by @autoround/algo-signround (its src/options.ts),
  // typed here for the API's users; any other algorithm's go in `algorithmOptions`
  lr?: number;
  minmaxLr?: number;
  gradientAccumulateSteps?: number;
  enableMinmaxTuning?: boolean;
  enableQuantedInput?: boolean;
  notUseBestMse?: boolean;
  /** Stop tuning a block when its best loss has not improved for this many iterations (≤ 0, the default −1: never). */
  dynamicMaxGap?: number;
  /** SignRoundV2 for symmetric int layers (docs/algorithms/signround.md#signroundv2-enable-alg-ext): importance-searched initial scales, max_scale in [0, 2], outlier-suppressed loss below 4 bits. */
  enableAlgExt?: boolean;
  /** Momentum of the sign step, in [0, 1) (default 0). */
  momentum?: number;
  /** Consecutive blocks tuned together as one, the loss on the last one's output (default 1). */
  nblocks?: number;
  /** AdamRound: AdamW (torch defaults) instead of the sign step, lr 0.005 unless given. */
  enableAdam?: boolean;
  /** Tune the blocks' norm weights and linear biases with an additive offset too (experimental, as in the original). */
  enableNormBiasTuning?: boolean;
  /** The last block tuned on the LM loss through the final norm and lm_head instead of its output MSE (experimental, as in the original). */
  enableLfq?: boolean;
  /**
   * Options an installed algorithm declares (AlgorithmPlugin.options), by their API name: handed to the
   * algorithm in QuantizeOptions and checked against the declarations, like the CLI's generated flags.
   */
  algorithmOptions?: Readonly<Record<string, unknown>>;
  layerConfig?: Record<string, LayerConfigValue>;
  ignoreLayers?: string;
  quantLmHead?: boolean;
  /** Largest output shard: "5GB" (default), "500MB", or bytes. */
  maxShardSize?: string | number;
  /** Replace a non-empty output folder that looks like an earlier output of auto-round (docs/output-folders.md). */
  overwrite?: boolean;
  /** With `overwrite`: replace a non-empty output folder even when it does not look like an earlier output. */
  force?: boolean;
  /**
   * Continue an interrupted SignRound run into the same output from its last finished block
   * (docs/resume.md); the result is byte-identical to an uninterrupted run. Without it, the saved
   * state of an interrupted run into the same output is discarded.
   */
  resume?: boolean;
  /**
   * Skip the sanity probe: after quantizing, the output is read back and its perplexity on a few
   * windows compared with the source model's; more than 1.5× worse (3× below 4 bits) or not finite
   * fails the run, keeping the output (docs/sanity-probe.md).
   */
  skipSanityCheck?: boolean;
  /** Kernel backend: native, wasm, js (default: the fastest available). */
  backend?: string;
  threads?: number;
  /**
   * Plugins to use, as objects or package names; they win any name clash with discovered and built-in
   * ones. The dependencies of the nearest package.json are found automatically unless discoverPlugins is false.
   */
  plugins?: (AutoRoundPlugin | string)[];
  discoverPlugins?: boolean;
  /** Where plugins are looked for (default: the working directory). */
  pluginRoots?: string[];
  /** The built-in set (lowest precedence), e.g. a preset's list; default: @autoround/preset-default's base set when installed. */
  builtinPlugins?: readonly AutoRoundPlugin[];
  registry?: Registry;
  log?: Logger;
}

export const DEFAULTS = {
  scheme: 'W4A16',
  iters: 200,
  nsamples: 128,
  seqlen: 2048,
  batchSize: 8,
  seed: 42,
  maxShardSize: '5GB',
  dataset: 'NeelNanda/pile-10k',
} as const;

/** The recipes of the original's CLI entry points (docs/algorithms/schemes.md#recipes); they fill only flags the user did not pass. */
// Every recipe of the original uses seqlen 2048, DEFAULTS.seqlen: it is left out here so that a seqlen
// the user did not give can be recognised (and lowered to a smaller model's max_position_embeddings).
export const RECIPES: Record<string, Partial<AutoRoundOptions>> = {
  'auto-round': { batchSize: 8, iters: 200, nsamples: 128 },
  'auto-round-best': { batchSize: 8, iters: 1000, nsamples: 512 },
  'auto-round-light': { batchSize: 8, iters: 50, nsamples: 128, lr: 5e-3 },
  'auto-round-opt-rtn': { batchSize: 8, iters: 0, nsamples: 128, disableOptRtn: false },
  'auto-round-rtn': { batchSize: 8, iters: 0, nsamples: 1, disableOptRtn: true },
};

/** The most tuning iterations accepted (the original's heaviest recipe, auto-round-best, uses 1000). */
export const MAX_ITERS = 1_000_000;

const INF = Number.POSITIVE_INFINITY;
const range = (option: string, flag: string, integer: boolean, min: number, max: number, extra: Partial<OptionRange> = {}): OptionRange => ({ option, flag, integer, min, max, ...extra });

/**
 * The range of every numeric option the host reads (docs/options.md); an algorithm's options bring
 * theirs in their declarations (AlgorithmPlugin.options). A value outside it would silently cancel or
 * change the work (gradient_accumulate_steps 0 skipped tuning; a negative lr diverged so that the
 * best-iteration rule kept RTN), so it is an error before anything is read. evalSeqlen and evalMaxTokens
 * are the CLI's perplexity options (the API's EvalTextOptions seqlen and maxTokens, checked by @autoround/eval).
 */
export const OPTION_RANGES: readonly OptionRange[] = [
  range('bits', 'bits', true, 1, 16),
  range('groupSize', 'group_size', true, 1, 1 << 20, { special: { [-1]: 'one group per output channel', 0: 'one group per tensor' } }),
  range('actBits', 'act_bits', true, 1, 16),
  range('actGroupSize', 'act_group_size', true, 1, 1 << 20, { special: { [-1]: 'one group per token', 0: 'one group per tensor' } }),
  range('iters', 'iters', true, 0, MAX_ITERS),
  range('nsamples', 'nsamples', true, 1, 1_000_000),
  range('seqlen', 'seqlen', true, 1, 1 << 20),
  range('batchSize', 'batch_size', true, 1, 1_000_000),
  // the random streams (mulberry32, MT19937) take a 32-bit seed
  range('seed', 'seed', true, 0, 2 ** 32 - 1),
  range('threads', 'threads', true, 1, 4096),
  range('evalSeqlen', 'eval_seqlen', true, 2, 1 << 20),
  range('evalMaxTokens', 'eval_max_tokens', true, 1, INF),
];

/**
 * Checks every numeric option of `options` against OPTION_RANGES, maxShardSize (a size of at least one
 * byte), and the options `algorithms` declare (their types and ranges; given as an option or in
 * `algorithmOptions`). The AutoRound constructor runs it with option names for the host's options and,
 * once its registry is known, for the installed algorithms'; the CLI first, with flag names.
 */
export function validateOptions(
  options: Readonly<AutoRoundOptions & { evalSeqlen?: number; evalMaxTokens?: number }>,
  naming: OptionNaming = 'option',
  algorithms: readonly AlgorithmPlugin[] = [],
): void {
  const values = options as Readonly<Record<string, unknown>>;
  for (const r of OPTION_RANGES) checkOptionRange(r, values[r.option], naming);
  const given = { ...values, ...options.algorithmOptions };
  for (const { option } of declaredOptions(algorithms)) checkAlgorithmOption(option, given[option.name], naming);
  const shard = options.maxShardSize;
  if (shard !== undefined) {
    const name = naming === 'flag' ? '--max_shard_size' : 'maxShardSize';
    let bytes = Number.NaN;
    try {
      bytes = typeof shard === 'string' || typeof shard === 'number' ? parseByteSize(shard) : Number.NaN;
    } catch {
      /* reported below with the option's name */
    }
    if (!(Number.isSafeInteger(bytes) && bytes >= 1)) {
      throw new AutoRoundError('E_BAD_FLAG', `${name} must be a size of at least one byte (e.g. 5GB, 500MB, 1048576), got ${JSON.stringify(shard)}`, { subject: name });
    }
  }
}
