import type { BlockSpec, ExpectedShape, HFConfig, LinearSpec, ModelSpec } from '@autoround/core';
import { LLAMA, type LlamaDims, type LlamaVariant, llamaDims } from './dims.js';

/**
 * `textPrefix` is where the decoder's tensors live: "model." (…ForCausalLM), or "model.language_model." for a
 * vision-language checkpoint saved by newer transformers (src/qwen2vl/).
 */
export function describeLlama(config: HFConfig, file: string, variant: LlamaVariant = LLAMA, textPrefix = 'model.'): ModelSpec {
  const d = llamaDims(config, file, variant);
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const linears: LinearSpec[] = [
    { name: 'self_attn.q_proj', inFeatures: d.hidden, outFeatures: q, bias: d.qkvBias },
    { name: 'self_attn.k_proj', inFeatures: d.hidden, outFeatures: kv, bias: d.qkvBias },
    { name: 'self_attn.v_proj', inFeatures: d.hidden, outFeatures: kv, bias: d.qkvBias },
    { name: 'self_attn.o_proj', inFeatures: q, outFeatures: d.hidden, bias: d.oBias },
    { name: 'mlp.gate_proj', inFeatures: d.hidden, outFeatures: d.intermediate, bias: d.mlpBias },
    { name: 'mlp.up_proj', inFeatures: d.hidden, outFeatures: d.intermediate, bias: d.mlpBias },
    { name: 'mlp.down_proj', inFeatures: d.intermediate, outFeatures: d.hidden, bias: d.mlpBias },
  ];
  const norms = ['input_layernorm', 'post_attention_layernorm', ...(d.qkNorm ? ['self_attn.q_norm', 'self_attn.k_norm'] : [])];
  const blocks: BlockSpec[] = [];
  for (let i = 0; i < d.layers; i++) {
    const prefix = `${textPrefix}layers.${i}`;
    const tensors = norms.map((n) => `${prefix}.${n}.weight`);
    for (const l of linears) {
      tensors.push(`${prefix}.${l.name}.weight`);
      if (l.bias) tensors.push(`${prefix}.${l.name}.bias`);
    }
    blocks.push({ index: i, prefix, linears, norms, tensors });
  }
  return {
    shapes: llamaShapes(config, d, blocks, textPrefix),
    architecture: config.architectures![0]!,
    modelType: String(config.model_type ?? d.family),
    config,
    hiddenSize: d.hidden,
    vocabSize: d.vocab,
    blockListName: `${textPrefix}layers`,
    blocks,
    embedding: `${textPrefix}embed_tokens.weight`,
    finalNorm: `${textPrefix}norm.weight`,
    lmHead: 'lm_head.weight',
    tiedEmbeddings: d.tied,
  };
}

/** The shape config.json implies for every tensor the forward reads, each with the fields it comes from. */
function llamaShapes(config: HFConfig, d: LlamaDims, blocks: readonly BlockSpec[], textPrefix: string): Record<string, ExpectedShape> {
  const hd = config.head_dim === undefined || config.head_dim === null ? `head_dim ${d.headDim} = hidden_size / num_attention_heads` : `head_dim ${d.headDim}`;
  const dim: Record<string, [number, string]> = {
    hidden: [d.hidden, `hidden_size ${d.hidden}`],
    q: [d.heads * d.headDim, `num_attention_heads ${d.heads} × ${hd}`],
    kv: [d.kvHeads * d.headDim, `num_key_value_heads ${d.kvHeads} × ${hd}`],
    inter: [d.intermediate, `intermediate_size ${d.intermediate}`],
    vocab: [d.vocab, `vocab_size ${d.vocab}`],
    head: [d.headDim, hd],
  };
  const of = (...keys: string[]): ExpectedShape => ({ shape: keys.map((k) => dim[k]![0]), from: keys.map((k) => dim[k]![1]).join(', ') });
  const linearDims: Record<string, [string, string]> = {
    'self_attn.q_proj': ['q', 'hidden'],
    'self_attn.k_proj': ['kv', 'hidden'],
    'self_attn.v_proj': ['kv', 'hidden'],
    'self_attn.o_proj': ['hidden', 'q'],
    'mlp.gate_proj': ['inter', 'hidden'],
    'mlp.up_proj': ['inter', 'hidden'],
    'mlp.down_proj': ['hidden', 'inter'],
  };
  const shapes: Record<string, ExpectedShape> = {
    [`${textPrefix}embed_tokens.weight`]: of('vocab', 'hidden'),
    'lm_head.weight': of('vocab', 'hidden'),
    [`${textPrefix}norm.weight`]: of('hidden'),
  };
  for (const b of blocks) {
    shapes[`${b.prefix}.input_layernorm.weight`] = of('hidden');
    shapes[`${b.prefix}.post_attention_layernorm.weight`] = of('hidden');
    if (d.qkNorm) shapes[`${b.prefix}.self_attn.q_norm.weight`] = shapes[`${b.prefix}.self_attn.k_norm.weight`] = of('head');
    for (const l of b.linears) {
      const [out, inp] = linearDims[l.name]!;
      shapes[`${b.prefix}.${l.name}.weight`] = of(out, inp);
      if (l.bias) shapes[`${b.prefix}.${l.name}.bias`] = of(out);
    }
  }
  return shapes;
}
