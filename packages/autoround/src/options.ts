import type { AutoRoundPlugin, LayerConfigValue, Logger, Registry, ScaleDType } from '@autoround/core';

/** API options, named after the original's arguments (camelCase). */
export interface AutoRoundOptions {
  /** Preset name: W4A16 (default), W2A16, W3A16, W8A16, MXFP4, GGUF:Q4_K_M … */
  scheme?: string;
  bits?: number;
  groupSize?: number;
  sym?: boolean;
  dataType?: string;
  scaleDtype?: ScaleDType;
  /** 0 selects RTN; default 200 (SignRound). */
  iters?: number;
  lr?: number;
  minmaxLr?: number;
  nsamples?: number;
  seqlen?: number;
  batchSize?: number;
  gradientAccumulateSteps?: number;
  seed?: number;
  dataset?: string;
  /** With iters 0: plain RTN instead of the importance-weighted search. */
  disableOptRtn?: boolean;
  algorithm?: string;
  enableMinmaxTuning?: boolean;
  enableQuantedInput?: boolean;
  notUseBestMse?: boolean;
  /** Stop tuning a block when its best loss has not improved for this many iterations (≤ 0, the default −1: never). */
  dynamicMaxGap?: number;
  /** SignRoundV2 for symmetric int layers (spec §5): importance-searched initial scales, max_scale in [0, 2], outlier-suppressed loss below 4 bits. */
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
  layerConfig?: Record<string, LayerConfigValue>;
  ignoreLayers?: string;
  quantLmHead?: boolean;
  /** Largest output shard: "5GB" (default), "500MB", or bytes. */
  maxShardSize?: string | number;
  /** Replace a non-empty output folder that looks like an earlier output of auto-round (docs/output-folders.md). */
  overwrite?: boolean;
  /** With `overwrite`: replace a non-empty output folder even when it does not look like an earlier output. */
  force?: boolean;
  /** Kernel backend: native, wasm, js (default: the fastest available). */
  backend?: string;
  threads?: number;
  /** Extra plugins; installed ones are found automatically unless discoverPlugins is false. */
  plugins?: AutoRoundPlugin[];
  discoverPlugins?: boolean;
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
  gradientAccumulateSteps: 1,
  maxShardSize: '5GB',
  dataset: 'NeelNanda/pile-10k',
} as const;

/** The recipes of the original's CLI entry points (spec §6); they fill only flags the user did not pass. */
export const RECIPES: Record<string, Partial<AutoRoundOptions>> = {
  'auto-round': { batchSize: 8, iters: 200, seqlen: 2048, nsamples: 128 },
  'auto-round-best': { batchSize: 8, iters: 1000, seqlen: 2048, nsamples: 512 },
  'auto-round-light': { batchSize: 8, iters: 50, seqlen: 2048, nsamples: 128, lr: 5e-3 },
  'auto-round-opt-rtn': { batchSize: 8, iters: 0, seqlen: 2048, nsamples: 128, disableOptRtn: false },
  'auto-round-rtn': { batchSize: 8, iters: 0, seqlen: 2048, nsamples: 1, disableOptRtn: true },
};
