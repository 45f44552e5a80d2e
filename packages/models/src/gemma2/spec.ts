import type { BlockSpec, ExpectedShape, HFConfig, LinearSpec, ModelSpec } from '@autoround/core';
import { type GemmaDims, type GemmaVariant, gemmaDims } from './dims.js';

/** The norms of a Gemma block, in the order the checkpoint lists them. */
export function gemmaNorms(qkNorm: boolean): string[] {
  return ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm', ...(qkNorm ? ['self_attn.q_norm', 'self_attn.k_norm'] : [])];
}

export function describeGemma(config: HFConfig, file: string, variant: GemmaVariant): ModelSpec {
  const d = gemmaDims(config, file, variant);
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const linears: LinearSpec[] = [
    { name: 'self_attn.q_proj', inFeatures: d.hidden, outFeatures: q, bias: d.attnBias },
    { name: 'self_attn.k_proj', inFeatures: d.hidden, outFeatures: kv, bias: d.attnBias },
    { name: 'self_attn.v_proj', inFeatures: d.hidden, outFeatures: kv, bias: d.attnBias },
    { name: 'self_attn.o_proj', inFeatures: q, outFeatures: d.hidden, bias: d.attnBias },
    { name: 'mlp.gate_proj', inFeatures: d.hidden, outFeatures: d.intermediate, bias: false },
    { name: 'mlp.up_proj', inFeatures: d.hidden, outFeatures: d.intermediate, bias: false },
    { name: 'mlp.down_proj', inFeatures: d.intermediate, outFeatures: d.hidden, bias: false },
  ];
  const norms = gemmaNorms(d.qkNorm);
  const blocks: BlockSpec[] = [];
  for (let i = 0; i < d.layers; i++) {
    const prefix = `model.layers.${i}`;
    const tensors = norms.map((n) => `${prefix}.${n}.weight`);
    for (const l of linears) {
      tensors.push(`${prefix}.${l.name}.weight`);
      if (l.bias) tensors.push(`${prefix}.${l.name}.bias`);
    }
    blocks.push({ index: i, prefix, linears, norms, tensors });
  }
  return {
    shapes: gemmaShapes(d, blocks),
    architecture: config.architectures![0]!,
    modelType: String(config.model_type ?? d.family),
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

/** The shape config.json implies for every tensor the forward reads, each with the fields it comes from. */
function gemmaShapes(d: GemmaDims, blocks: readonly BlockSpec[]): Record<string, ExpectedShape> {
  const dim: Record<string, [number, string]> = {
    hidden: [d.hidden, `hidden_size ${d.hidden}`],
    q: [d.heads * d.headDim, `num_attention_heads ${d.heads} × head_dim ${d.headDim}`],
    kv: [d.kvHeads * d.headDim, `num_key_value_heads ${d.kvHeads} × head_dim ${d.headDim}`],
    inter: [d.intermediate, `intermediate_size ${d.intermediate}`],
    vocab: [d.vocab, `vocab_size ${d.vocab}`],
    head: [d.headDim, `head_dim ${d.headDim}`],
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
    'model.embed_tokens.weight': of('vocab', 'hidden'),
    'lm_head.weight': of('vocab', 'hidden'),
    'model.norm.weight': of('hidden'),
  };
  for (const b of blocks) {
    for (const n of b.norms ?? []) shapes[`${b.prefix}.${n}.weight`] = n.startsWith('self_attn.') ? of('head') : of('hidden');
    for (const l of b.linears) {
      const [out, inp] = linearDims[l.name]!;
      shapes[`${b.prefix}.${l.name}.weight`] = of(out, inp);
      if (l.bias) shapes[`${b.prefix}.${l.name}.bias`] = of(out);
    }
  }
  return shapes;
}
