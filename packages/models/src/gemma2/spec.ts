import type { HFConfig, ModelSpec } from '@autoround/core';
import { describeDense, llamaShapedLinears, llamaShapedSizes } from '../dense-spec.js';
import { type GemmaVariant, gemmaDims } from './dims.js';

/** The norms of a Gemma block, in the order the checkpoint lists them. */
export function gemmaNorms(qkNorm: boolean): string[] {
  return ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm', ...(qkNorm ? ['self_attn.q_norm', 'self_attn.k_norm'] : [])];
}

export function describeGemma(config: HFConfig, file: string, variant: GemmaVariant): ModelSpec {
  const d = gemmaDims(config, file, variant);
  const { linears, linearSizes } = llamaShapedLinears(d.hidden, d.heads * d.headDim, d.kvHeads * d.headDim, d.intermediate, { qkv: d.attnBias, o: d.attnBias, mlp: false });
  return describeDense({
    config,
    family: d.family,
    layers: d.layers,
    tied: d.tied,
    sizes: llamaShapedSizes(d, `head_dim ${d.headDim}`),
    linears,
    linearSizes,
    norms: gemmaNorms(d.qkNorm),
  });
}
