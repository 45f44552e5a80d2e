import type { BlockSpec, ExpectedShape, HFConfig, LinearSpec, ModelSpec, TransformerDims } from '@autoround/core';

/** A size and the config.json fields it comes from, worded as a shape error names them. */
export type SizeFrom = readonly [size: number, from: string];

/** What a decoder-only architecture's spec is made of; describeDense derives the rest. */
export interface DenseSpecParts {
  config: HFConfig;
  /** model_type when config.json has none. */
  family: string;
  layers: number;
  tied: boolean;
  /** Named sizes: at least `hidden` and `vocab`, and `head` where a block has q/k norms. */
  sizes: Record<string, SizeFrom>;
  /** Every block's linears, in the checkpoint's order. */
  linears: readonly LinearSpec[];
  /** Each linear's [out, in] as keys of `sizes`. */
  linearSizes: Record<string, readonly [string, string]>;
  /** Every block's norms, in the checkpoint's order: self_attn.* ones (q/k norms) are head_dim wide, the rest hidden. */
  norms: readonly string[];
  /** Where the decoder's tensors live: "model." (…ForCausalLM), "model.language_model." (a newer VLM checkpoint). */
  textPrefix?: string;
}

/** The ModelSpec of a decoder-only model: blocks, their tensors, and the shape config.json implies for each tensor the forward reads. */
export function describeDense(p: DenseSpecParts): ModelSpec {
  const prefix0 = p.textPrefix ?? 'model.';
  const of = (...keys: string[]): ExpectedShape => ({ shape: keys.map((k) => p.sizes[k]![0]), from: keys.map((k) => p.sizes[k]![1]).join(', ') });
  const shapes: Record<string, ExpectedShape> = {
    [`${prefix0}embed_tokens.weight`]: of('vocab', 'hidden'),
    'lm_head.weight': of('vocab', 'hidden'),
    [`${prefix0}norm.weight`]: of('hidden'),
  };
  const norms = [...p.norms];
  const linears = [...p.linears];
  const blocks: BlockSpec[] = [];
  for (let i = 0; i < p.layers; i++) {
    const prefix = `${prefix0}layers.${i}`;
    const tensors = norms.map((n) => `${prefix}.${n}.weight`);
    for (const n of norms) shapes[`${prefix}.${n}.weight`] = n.startsWith('self_attn.') ? of('head') : of('hidden');
    for (const l of linears) {
      const [out, inp] = p.linearSizes[l.name]!;
      tensors.push(`${prefix}.${l.name}.weight`);
      shapes[`${prefix}.${l.name}.weight`] = of(out, inp);
      if (l.bias) {
        tensors.push(`${prefix}.${l.name}.bias`);
        shapes[`${prefix}.${l.name}.bias`] = of(out);
      }
    }
    blocks.push({ index: i, prefix, linears, norms, tensors });
  }
  return {
    shapes,
    architecture: p.config.architectures![0]!,
    modelType: String(p.config.model_type ?? p.family),
    config: p.config,
    hiddenSize: p.sizes.hidden![0],
    vocabSize: p.sizes.vocab![0],
    blockListName: `${prefix0}layers`,
    blocks,
    embedding: `${prefix0}embed_tokens.weight`,
    finalNorm: `${prefix0}norm.weight`,
    lmHead: 'lm_head.weight',
    tiedEmbeddings: p.tied,
  };
}

/** The seven linears of a LLaMA-shaped block (q/k/v/o, gate/up/down) and their sizes' keys. */
export function llamaShapedLinears(hidden: number, q: number, kv: number, intermediate: number, bias: { qkv: boolean; o: boolean; mlp: boolean }): { linears: LinearSpec[]; linearSizes: Record<string, readonly [string, string]> } {
  return {
    linears: [
      { name: 'self_attn.q_proj', inFeatures: hidden, outFeatures: q, bias: bias.qkv },
      { name: 'self_attn.k_proj', inFeatures: hidden, outFeatures: kv, bias: bias.qkv },
      { name: 'self_attn.v_proj', inFeatures: hidden, outFeatures: kv, bias: bias.qkv },
      { name: 'self_attn.o_proj', inFeatures: q, outFeatures: hidden, bias: bias.o },
      { name: 'mlp.gate_proj', inFeatures: hidden, outFeatures: intermediate, bias: bias.mlp },
      { name: 'mlp.up_proj', inFeatures: hidden, outFeatures: intermediate, bias: bias.mlp },
      { name: 'mlp.down_proj', inFeatures: intermediate, outFeatures: hidden, bias: bias.mlp },
    ],
    linearSizes: {
      'self_attn.q_proj': ['q', 'hidden'],
      'self_attn.k_proj': ['kv', 'hidden'],
      'self_attn.v_proj': ['kv', 'hidden'],
      'self_attn.o_proj': ['hidden', 'q'],
      'mlp.gate_proj': ['inter', 'hidden'],
      'mlp.up_proj': ['inter', 'hidden'],
      'mlp.down_proj': ['hidden', 'inter'],
    },
  };
}

/** The sizes a LLaMA-shaped block's shapes name; `hd` words head_dim as config.json gives it (or derives it). */
export function llamaShapedSizes(d: TransformerDims & { vocab: number }, hd: string): Record<string, SizeFrom> {
  return {
    hidden: [d.hidden, `hidden_size ${d.hidden}`],
    q: [d.heads * d.headDim, `num_attention_heads ${d.heads} × ${hd}`],
    kv: [d.kvHeads * d.headDim, `num_key_value_heads ${d.kvHeads} × ${hd}`],
    inter: [d.intermediate, `intermediate_size ${d.intermediate}`],
    vocab: [d.vocab, `vocab_size ${d.vocab}`],
    head: [d.headDim, hd],
  };
}
