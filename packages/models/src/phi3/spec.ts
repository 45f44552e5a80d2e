import type { HFConfig, ModelSpec } from '@autoround/core';
import { describeDense } from '../dense-spec.js';
import { phi3Dims } from './dims.js';

export function describePhi3(config: HFConfig, file: string): ModelSpec {
  const d = phi3Dims(config, file);
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const hd = `head_dim ${d.headDim}`;
  return describeDense({
    config,
    family: 'phi3',
    layers: d.layers,
    tied: d.tied,
    sizes: {
      hidden: [d.hidden, `hidden_size ${d.hidden}`],
      qkv: [q + 2 * kv, `(num_attention_heads ${d.heads} + 2 × num_key_value_heads ${d.kvHeads}) × ${hd}`],
      q: [q, `num_attention_heads ${d.heads} × ${hd}`],
      gateUp: [2 * d.intermediate, `2 × intermediate_size ${d.intermediate}`],
      inter: [d.intermediate, `intermediate_size ${d.intermediate}`],
      vocab: [d.vocab, `vocab_size ${d.vocab}`],
    },
    // fused q/k/v and gate/up, no biases
    linears: [
      { name: 'self_attn.qkv_proj', inFeatures: d.hidden, outFeatures: q + 2 * kv, bias: false },
      { name: 'self_attn.o_proj', inFeatures: q, outFeatures: d.hidden, bias: false },
      { name: 'mlp.gate_up_proj', inFeatures: d.hidden, outFeatures: 2 * d.intermediate, bias: false },
      { name: 'mlp.down_proj', inFeatures: d.intermediate, outFeatures: d.hidden, bias: false },
    ],
    linearSizes: {
      'self_attn.qkv_proj': ['qkv', 'hidden'],
      'self_attn.o_proj': ['hidden', 'q'],
      'mlp.gate_up_proj': ['gateUp', 'hidden'],
      'mlp.down_proj': ['hidden', 'inter'],
    },
    norms: ['input_layernorm', 'post_attention_layernorm'],
  });
}
