import type { BlockOps } from '../block-ops.js';

/** What the block's shape depends on beyond its tensors. */
export interface LlamaBlockShape {
  readonly heads: number;
  readonly kvHeads: number;
  /** Qwen3: RMSNorm of each query and key head before the rotary embedding. */
  readonly qkNorm: boolean;
}

/**
 * The LLaMA-family decoder block, written once for every implementation of the operations (float32
 * forward, autograd tuning, KV-cache decoding); Qwen2 and Qwen3 differ only in their tensors (q/k/v
 * biases) and `qkNorm`:
 * h = x + o_proj(attn(rope(q_norm(q)), rope(k_norm(k)), v)) over input_layernorm(x);
 * out = h + down_proj(silu(gate_proj(n)) · up_proj(n)) with n = post_attention_layernorm(h).
 */
export function llamaBlock<X>(ops: BlockOps<X>, d: LlamaBlockShape, x: X): X {
  const h = llamaAttention(ops, d, x);
  return llamaMlp(ops, h, ops.norm(h, 'post_attention_layernorm'));
}

/** The block's first half: h = x + o_proj(attn(…)) over input_layernorm(x) (shared by the mixture-of-experts blocks, src/moe/). */
export function llamaAttention<X>(ops: BlockOps<X>, d: LlamaBlockShape, x: X): X {
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
  return ops.add(x, ops.linear(a, 'self_attn.o_proj'));
}

/** The dense MLP's residual: h + down_proj(silu(gate_proj(n)) · up_proj(n)), `prefix` its module ("mlp"). */
export function llamaMlp<X>(ops: BlockOps<X>, h: X, n: X, prefix = 'mlp'): X {
  const act = ops.swiglu(ops.linear(n, `${prefix}.gate_proj`), ops.linear(n, `${prefix}.up_proj`));
  return ops.add(h, ops.linear(act, `${prefix}.down_proj`));
}
