import type { BlockSpec, ExpectedShape, HFConfig, LinearSpec, ModelSpec } from '@autoround/core';
import { phi3Dims } from './dims.js';

export function describePhi3(config: HFConfig, file: string): ModelSpec {
  const d = phi3Dims(config, file);
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const linears: LinearSpec[] = [
    { name: 'self_attn.qkv_proj', inFeatures: d.hidden, outFeatures: q + 2 * kv, bias: false },
    { name: 'self_attn.o_proj', inFeatures: q, outFeatures: d.hidden, bias: false },
    { name: 'mlp.gate_up_proj', inFeatures: d.hidden, outFeatures: 2 * d.intermediate, bias: false },
    { name: 'mlp.down_proj', inFeatures: d.intermediate, outFeatures: d.hidden, bias: false },
  ];
  const norms = ['input_layernorm', 'post_attention_layernorm'];
  const blocks: BlockSpec[] = [];
  const hd = `head_dim ${d.headDim}`;
  const from: Record<string, string> = {
    'self_attn.qkv_proj': `(num_attention_heads ${d.heads} + 2 × num_key_value_heads ${d.kvHeads}) × ${hd}, hidden_size ${d.hidden}`,
    'self_attn.o_proj': `hidden_size ${d.hidden}, num_attention_heads ${d.heads} × ${hd}`,
    'mlp.gate_up_proj': `2 × intermediate_size ${d.intermediate}, hidden_size ${d.hidden}`,
    'mlp.down_proj': `hidden_size ${d.hidden}, intermediate_size ${d.intermediate}`,
  };
  const shapes: Record<string, ExpectedShape> = {
    'model.embed_tokens.weight': { shape: [d.vocab, d.hidden], from: `vocab_size ${d.vocab}, hidden_size ${d.hidden}` },
    'lm_head.weight': { shape: [d.vocab, d.hidden], from: `vocab_size ${d.vocab}, hidden_size ${d.hidden}` },
    'model.norm.weight': { shape: [d.hidden], from: `hidden_size ${d.hidden}` },
  };
  for (let i = 0; i < d.layers; i++) {
    const prefix = `model.layers.${i}`;
    const tensors = norms.map((n) => `${prefix}.${n}.weight`);
    for (const n of norms) shapes[`${prefix}.${n}.weight`] = { shape: [d.hidden], from: `hidden_size ${d.hidden}` };
    for (const l of linears) {
      tensors.push(`${prefix}.${l.name}.weight`);
      shapes[`${prefix}.${l.name}.weight`] = { shape: [l.outFeatures, l.inFeatures], from: from[l.name]! };
    }
    blocks.push({ index: i, prefix, linears, norms, tensors });
  }
  return {
    shapes,
    architecture: config.architectures![0]!,
    modelType: String(config.model_type ?? 'phi3'),
    config,
    hiddenSize: d.hidden,
    vocabSize: d.vocab,
    blockListName: 'model.layers',
    blocks,
    embedding: 'model.embed_tokens.weight',
    finalNorm: 'model.norm.weight',
    lmHead: 'lm_head.weight',
    tiedEmbeddings: d.tied,
  };
}
