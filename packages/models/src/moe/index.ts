import type { ArchitecturePlugin } from '@autoround/core';
import { loadTokenizer } from '../tokenizer.js';
import { boolField, expertCounts, type MoeVariant, qwenSparseLayers } from './dims.js';
import { MoeModel } from './model.js';
import { describeMoe } from './spec.js';
import { intField } from '@autoround/core';

export * from './block.js';
export * from './dims.js';
export * from './model.js';
export * from './spec.js';

/** Qwen3-MoE (Qwen3MoeForCausalLM): Qwen3's attention (q/k norms), routed experts without a shared one. */
export const QWEN3_MOE: MoeVariant = {
  name: 'qwen3_moe',
  hfArchitectures: ['Qwen3MoeForCausalLM'],
  attention: (d) => ({ ...d, qkNorm: true }),
  module: 'mlp',
  projections: ['gate_proj', 'up_proj', 'down_proj'],
  read: (config, file, layers) => ({
    ...expertCounts(config, file, 'num_experts'),
    normTopK: boolField(config, 'norm_topk_prob', file, false),
    expertIntermediate: intField(config, 'moe_intermediate_size', file),
    sharedIntermediate: 0,
    sparse: qwenSparseLayers(config, file, layers),
  }),
};

/** Qwen2-MoE (Qwen2MoeForCausalLM): Qwen2's attention (q/k/v biases), routed experts plus a sigmoid-gated shared expert. */
export const QWEN2_MOE: MoeVariant = {
  name: 'qwen2_moe',
  hfArchitectures: ['Qwen2MoeForCausalLM'],
  attention: (d) => ({ ...d, qkvBias: true, oBias: false }),
  module: 'mlp',
  projections: ['gate_proj', 'up_proj', 'down_proj'],
  read: (config, file, layers) => ({
    ...expertCounts(config, file, 'num_experts'),
    normTopK: boolField(config, 'norm_topk_prob', file, false),
    expertIntermediate: intField(config, 'moe_intermediate_size', file),
    sharedIntermediate: intField(config, 'shared_expert_intermediate_size', file),
    sparse: qwenSparseLayers(config, file, layers),
  }),
};

/** Mixtral (MixtralForCausalLM): LLaMA's attention, every block sparse, experts w1/w3/w2, top-k always renormalised. */
export const MIXTRAL: MoeVariant = {
  name: 'mixtral',
  hfArchitectures: ['MixtralForCausalLM'],
  module: 'block_sparse_moe',
  projections: ['w1', 'w3', 'w2'],
  read: (config, file, layers) => ({
    ...expertCounts(config, file, 'num_local_experts'),
    normTopK: true,
    expertIntermediate: intField(config, 'intermediate_size', file),
    sharedIntermediate: 0,
    sparse: Array.from({ length: layers }, () => true),
  }),
};

export function moeArchitecture(variant: MoeVariant): ArchitecturePlugin {
  return {
    name: variant.name,
    hfArchitectures: variant.hfArchitectures,
    describe: (config, file) => describeMoe(config, file, variant),
    load: (spec, weights, backend, options) => new MoeModel(spec, weights, backend, variant, options),
    tokenizer: loadTokenizer,
  };
}

export const qwen3MoeArchitecture = moeArchitecture(QWEN3_MOE);
export const qwen2MoeArchitecture = moeArchitecture(QWEN2_MOE);
export const mixtralArchitecture = moeArchitecture(MIXTRAL);
