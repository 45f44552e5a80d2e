import type { BlockOps } from '../block-ops.js';

/** Phi-3's operations: the common ones and the pieces of a fused projection. */
export interface Phi3BlockOps<X> extends BlockOps<X> {
  /** Columns from … from + width of each row of x, whose rows hold `rowWidth` values. */
  columns(x: X, rowWidth: number, from: number, width: number): X;
}

export interface Phi3BlockShape {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly intermediate: number;
}

/**
 * The Phi-3 decoder block (docs/models/phi3.md): LLaMA's, with q/k/v from one fused qkv_proj and gate/up from
 * one fused gate_up_proj (gate first), both quantized as the single linears they are:
 * h = x + o_proj(attn(rope(q), rope(k), v)), [q | k | v] = qkv_proj(input_layernorm(x));
 * out = h + down_proj(silu(g) · u), [g | u] = gate_up_proj(post_attention_layernorm(h)).
 */
export function phi3Block<X>(ops: Phi3BlockOps<X>, d: Phi3BlockShape, x: X): X {
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const qkv = ops.linear(ops.norm(x, 'input_layernorm'), 'self_attn.qkv_proj');
  const n = q + 2 * kv;
  const a = ops.attention(ops.rope(ops.columns(qkv, n, 0, q), d.heads), ops.rope(ops.columns(qkv, n, q, kv), d.kvHeads), ops.columns(qkv, n, q + kv, kv));
  const h = ops.add(x, ops.linear(a, 'self_attn.o_proj'));
  const gu = ops.linear(ops.norm(h, 'post_attention_layernorm'), 'mlp.gate_up_proj');
  const I = d.intermediate;
  const act = ops.swiglu(ops.columns(gu, 2 * I, 0, I), ops.columns(gu, 2 * I, I, I));
  return ops.add(h, ops.linear(act, 'mlp.down_proj'));
}
