import { AutoRoundError, type HFConfig, intField } from '@autoround/core';
import { type LlamaDims, type LlamaVariant, llamaDims } from '../llama/dims.js';
import { ropeInvFreq } from '../rope.js';

// The mixture-of-experts families (docs/models/moe.md): LLaMA's attention, and in some or all blocks a sparse
// MLP — a full-precision router, top-k of its softmax, each token through its k experts' SwiGLU MLPs, the outputs
// summed with the routing weights (renormalised to 1 where the family does), and for Qwen2-MoE a shared expert
// gated by sigmoid(shared_expert_gate(x)).

/** Where a family keeps its sparse MLP's tensors and what its config.json calls its fields. */
export interface MoeVariant {
  readonly name: string;
  readonly hfArchitectures: readonly string[];
  /** The attention's differences from LLaMA (q/k norms, q/k/v biases), as a LLaMA-family variant's. */
  readonly attention?: LlamaVariant['adjust'];
  /** The sparse MLP's module in a block: "mlp" (Qwen), "block_sparse_moe" (Mixtral). */
  readonly module: string;
  /** An expert's gate, up and down projections: gate_proj/up_proj/down_proj, or Mixtral's w1/w3/w2. */
  readonly projections: readonly [gate: string, up: string, down: string];
  /** The family's MoE fields of config.json. */
  read(config: HFConfig, file: string, layers: number): MoeFields;
}

export interface MoeFields {
  readonly experts: number;
  readonly topK: number;
  /** Routing weights of a token's k experts divided by their sum. */
  readonly normTopK: boolean;
  readonly expertIntermediate: number;
  /** Qwen2-MoE's shared expert's intermediate size; 0 when the family has none. */
  readonly sharedIntermediate: number;
  /** Per block: a sparse MLP (true) or the dense one of intermediate_size. */
  readonly sparse: readonly boolean[];
}

export interface MoeDims extends LlamaDims, MoeFields {}

/** A boolean field of config.json (`fallback` when absent); anything else is an error naming it. */
export function boolField(config: HFConfig, key: string, file: string, fallback: boolean): boolean {
  const v = config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new AutoRoundError('E_BAD_CONFIG', `${file}: "${key}" must be true or false, got ${JSON.stringify(v)}`, { subject: file });
  return v;
}

/**
 * Qwen's placement of the sparse blocks (Qwen2MoeDecoderLayer, Qwen3MoeDecoderLayer): block i is sparse unless it is
 * in mlp_only_layers, when num_experts > 0 and (i + 1) is a multiple of decoder_sparse_step.
 */
export function qwenSparseLayers(config: HFConfig, file: string, layers: number): boolean[] {
  const step = intField(config, 'decoder_sparse_step', file, 1);
  const only = config.mlp_only_layers ?? [];
  if (!Array.isArray(only) || !only.every((i) => Number.isInteger(i) && (i as number) >= 0 && (i as number) < layers)) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "mlp_only_layers" must be a list of block indices 0..${layers - 1}, got ${JSON.stringify(only)}`, { subject: file });
  }
  const dense = new Set(only as number[]);
  return Array.from({ length: layers }, (_, i) => !dense.has(i) && (i + 1) % step === 0);
}

/** The expert count and top-k, checked against each other. */
export function expertCounts(config: HFConfig, file: string, expertsKey: string): { experts: number; topK: number } {
  const experts = intField(config, expertsKey, file);
  const topK = intField(config, 'num_experts_per_tok', file);
  if (topK > experts) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "num_experts_per_tok" ${topK} exceeds "${expertsKey}" ${experts}`, { subject: file });
  return { experts, topK };
}

export function moeDims(config: HFConfig, file: string, variant: MoeVariant): MoeDims {
  const attention: LlamaVariant = { name: variant.name, hfArchitectures: variant.hfArchitectures, ...(variant.attention ? { adjust: variant.attention } : {}) };
  const d = llamaDims(config, file, attention);
  // fields of routing we do not implement are refused by name rather than ignored
  for (const key of ['moe_layer_freq', 'n_shared_experts', 'topk_method', 'scoring_func', 'routed_scaling_factor']) {
    if (config[key] !== undefined && config[key] !== null) throw new AutoRoundError('E_UNSUPPORTED', `${file}: "${key}" is not implemented for ${variant.name}`, { subject: file });
  }
  if (config.use_sliding_window === true) throw new AutoRoundError('E_UNSUPPORTED', `${file}: "use_sliding_window" true is not implemented (sliding-window attention)`, { subject: file });
  // rope_scaling is read when describing, not first when loading: plain RTN never loads the model
  ropeInvFreq(config, d.headDim, file);
  return { ...d, ...variant.read(config, file, d.layers) };
}
