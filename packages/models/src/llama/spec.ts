import type { HFConfig, ModelSpec } from '@autoround/core';
import { describeDense, llamaShapedLinears, llamaShapedSizes } from '../dense-spec.js';
import { LLAMA, type LlamaVariant, llamaDims } from './dims.js';

/**
 * `textPrefix` is where the decoder's tensors live: "model." (…ForCausalLM), or "model.language_model." for a
 * vision-language checkpoint saved by newer transformers (src/qwen2vl/).
 */
export function describeLlama(config: HFConfig, file: string, variant: LlamaVariant = LLAMA, textPrefix = 'model.'): ModelSpec {
  const d = llamaDims(config, file, variant);
  const hd = config.head_dim === undefined || config.head_dim === null ? `head_dim ${d.headDim} = hidden_size / num_attention_heads` : `head_dim ${d.headDim}`;
  const { linears, linearSizes } = llamaShapedLinears(d.hidden, d.heads * d.headDim, d.kvHeads * d.headDim, d.intermediate, { qkv: d.qkvBias, o: d.oBias, mlp: d.mlpBias });
  return describeDense({
    config,
    family: d.family,
    layers: d.layers,
    tied: d.tied,
    sizes: llamaShapedSizes(d, hd),
    linears,
    linearSizes,
    norms: ['input_layernorm', 'post_attention_layernorm', ...(d.qkNorm ? ['self_attn.q_norm', 'self_attn.k_norm'] : [])],
    textPrefix,
  });
}
