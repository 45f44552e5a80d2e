import type { BlockOps } from '../block-ops.js';

/** Gemma's operations: the common ones and its MLP's gate. */
export interface GemmaBlockOps<X> extends BlockOps<X> {
  /** gelu_tanh(gate) · up. */
  geglu(gate: X, up: X): X;
}

/** What the block's shape depends on beyond its tensors. */
export interface GemmaBlockShape {
  readonly heads: number;
  readonly kvHeads: number;
  /** Gemma 3: RMSNorm of each query and key head before the rotary embedding. */
  readonly qkNorm: boolean;
}

/**
 * The Gemma 2 / Gemma 3 decoder block (docs/models/gemma.md), written once for every implementation of
 * the operations; the norms compute x·(1 + w) (the implementations are given 1 + w), and the layer's
 * rotary base, window, score scale and soft-cap are the operations' (they differ by layer):
 * h = x + post_attention_layernorm(o_proj(attn(rope(q_norm(q)), rope(k_norm(k)), v))) over input_layernorm(x);
 * out = h + post_feedforward_layernorm(down_proj(gelu_tanh(gate_proj(n)) · up_proj(n))) with
 * n = pre_feedforward_layernorm(h).
 */
export function gemmaBlock<X>(ops: GemmaBlockOps<X>, d: GemmaBlockShape, x: X): X {
  const h1 = ops.norm(x, 'input_layernorm');
  let q = ops.linear(h1, 'self_attn.q_proj');
  let k = ops.linear(h1, 'self_attn.k_proj');
  const v = ops.linear(h1, 'self_attn.v_proj');
  if (d.qkNorm) {
    q = ops.norm(q, 'self_attn.q_norm');
    k = ops.norm(k, 'self_attn.k_norm');
  }
  q = ops.rope(q, d.heads);
  k = ops.rope(k, d.kvHeads);
  const a = ops.attention(q, k, v);
  const h = ops.add(x, ops.norm(ops.linear(a, 'self_attn.o_proj'), 'post_attention_layernorm'));
  const n = ops.norm(h, 'pre_feedforward_layernorm');
  const act = ops.geglu(ops.linear(n, 'mlp.gate_proj'), ops.linear(n, 'mlp.up_proj'));
  return ops.add(h, ops.norm(ops.linear(act, 'mlp.down_proj'), 'post_feedforward_layernorm'));
}
