// The scheme-planner contribution (docs/autoscheme.md): a plugin that, before quantization proper, picks each
// layer's scheme out of a list of options under an average-bit budget (the original's AutoScheme). The host asks
// the registry's planner and merges the answer into --layer_config, so the chosen schemes then flow through RTN,
// optimized RTN or SignRound and every exporter exactly as a hand-written layer_config would.

import type { Checkpoint, KernelBackend } from '@autoround/core-tensor';
import type { Logger } from './log.js';
import type { ModelSpec } from './model-spec.js';
import type { CausalLM } from './plugin.js';
import type { QuantScheme } from './scheme.js';

/** What the user asked AutoScheme for (the original's `AutoScheme(avg_bits, options, …)`). */
export interface AutoSchemeRequest {
  /** `--avg_bits` / `--target_bits`: the average bits per quantized weight to meet. */
  readonly avgBits: number;
  /** `--options`: the schemes to choose from, as written ("W2A16", "gguf:q4_k_s"). */
  readonly options: readonly string[];
  /** `--shared_layers`: groups of layer-name patterns that, within one block, get one scheme together. */
  readonly sharedLayers?: readonly (readonly string[])[];
  /** `--ignore_scale_zp_bits`: count weights' bits only, no scale or zero-point bits. */
  readonly ignoreScaleZpBits?: boolean;
  /** Scoring data: samples, their length, the batch (defaults 16 × 256, batch 1) and the dataset (default the run's). */
  readonly nsamples?: number;
  readonly seqlen?: number;
  readonly batchSize?: number;
  readonly dataset?: string;
  /** Where scores are cached (default: the user's cache folder); false turns the cache off. */
  readonly cacheDir?: string | false;
}

/** What a planner plans from. */
export interface SchemePlanContext {
  readonly request: AutoSchemeRequest;
  readonly modelDir: string;
  readonly spec: ModelSpec;
  readonly checkpoint: Checkpoint;
  /** The run's layer selection before planning: layers with a scheme are the ones to plan, except `fixed`. */
  readonly layerSchemes: ReadonlyMap<string, QuantScheme | null>;
  /** Layers the user's --layer_config already decides: their bits count against the budget, their scheme stays. */
  readonly fixed: ReadonlySet<string>;
  /** The run's formats; `formatProblem` says why one of them cannot write a scheme (null when all can). */
  readonly formats: readonly string[];
  formatProblem(scheme: QuantScheme): string | null;
  readonly backend: KernelBackend;
  readonly log: Logger;
  /** The float model (scoring runs it forward and backward). */
  loadModel(): CausalLM;
  /** Tokenized calibration samples of `seqlen` tokens from `dataset` (the run's when undefined). */
  calibration(nsamples: number, seqlen: number, dataset?: string): Promise<Int32Array[]>;
}

/** One line of a plan: a unit (a layer, or layers sharing a scheme) and what it got. */
export interface SchemePlanRow {
  readonly unit: string;
  readonly layers: readonly string[];
  /** The chosen option as written, and its scheme. */
  readonly option: string;
  readonly params: number;
  /** The unit's bits as the budget counts them. */
  readonly bits: number;
  /** The estimated loss increase (delta-loss score) of this choice. */
  readonly score: number;
}

export interface SchemePlan {
  /** Layer-name pattern → preset name, merged over the user's --layer_config. */
  readonly layerConfig: Readonly<Record<string, string>>;
  readonly rows: readonly SchemePlanRow[];
  /** The average bits achieved, as the budget counts them (fixed layers included). */
  readonly achievedBits: number;
  /** What quantization_config records under "autoscheme". */
  readonly record: Readonly<Record<string, unknown>>;
}

export interface SchemePlannerPlugin {
  readonly name: string;
  readonly description: string;
  /** Checks the request before anything is read (bad options, an unreachable budget for the option list alone). */
  validate?(request: AutoSchemeRequest): void;
  plan(ctx: SchemePlanContext): Promise<SchemePlan>;
}
