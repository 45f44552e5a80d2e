import type { HFConfig, ModelSpec } from '@autoround/core';
import { describeDense, llamaShapedLinears } from '../dense-spec.js';
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
    sizes: {
      hidden: [d.hidden, `hidden_size ${d.hidden}`],
      q: [d.heads * d.headDim, `num_attention_heads ${d.heads} × ${hd}`],
      kv: [d.kvHeads * d.headDim, `num_key_value_heads ${d.kvHeads} × ${hd}`],
      inter: [d.intermediate, `intermediate_size ${d.intermediate}`],
      vocab: [d.vocab, `vocab_size ${d.vocab}`],
      head: [d.headDim, hd],
    },
    linears,
    linearSizes,
    norms: ['input_layernorm', 'post_attention_layernorm', ...(d.qkNorm ? ['self_attn.q_norm', 'self_attn.k_norm'] : [])],
    textPrefix,
  });
}
