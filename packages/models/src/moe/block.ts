import type { BlockOps, ScatterPart } from '../block-ops.js';
import { type LlamaBlockShape, llamaAttention, llamaMlp } from '../llama/block.js';
import type { MoeDims, MoeVariant } from './dims.js';

/** What one block's shape depends on: the attention's, whether its MLP is sparse, and the routing. */
export interface MoeBlockShape extends LlamaBlockShape {
  readonly sparse: boolean;
  readonly hidden: number;
  readonly experts: number;
  readonly topK: number;
  readonly normTopK: boolean;
  readonly sharedExpert: boolean;
  readonly module: string;
  readonly projections: readonly [string, string, string];
}

export function moeBlockShape(d: MoeDims, v: MoeVariant, index: number): MoeBlockShape {
  return {
    heads: d.heads,
    kvHeads: d.kvHeads,
    qkNorm: d.qkNorm,
    sparse: d.sparse[index] === true,
    hidden: d.hidden,
    experts: d.experts,
    topK: d.topK,
    normTopK: d.normTopK,
    sharedExpert: d.sharedIntermediate > 0,
    module: v.module,
    projections: v.projections,
  };
}

/** Each token's k experts (row-major [rows, k], descending probability) and their routing weights. */
export interface Routing {
  readonly experts: Int32Array;
  readonly weights: Float32Array;
}

/**
 * transformers' routing (Qwen2MoeSparseMoeBlock, Qwen3MoeSparseMoeBlock, MixtralSparseMoeBlock): softmax of the
 * router logits in float32, the top k (ties: lower index first), divided by their sum when `normTopK`.
 */
export function routeTokens(logits: Float32Array, rows: number, experts: number, topK: number, normTopK: boolean): Routing {
  const ex = new Int32Array(rows * topK);
  const wt = new Float32Array(rows * topK);
  const p = new Float32Array(experts);
  for (let r = 0; r < rows; r++) {
    const l = logits.subarray(r * experts, (r + 1) * experts);
    let max = -Infinity;
    for (let e = 0; e < experts; e++) if (l[e]! > max) max = l[e]!;
    let sum = 0;
    for (let e = 0; e < experts; e++) sum += p[e] = Math.exp(l[e]! - max);
    for (let e = 0; e < experts; e++) p[e] = p[e]! / sum;
    const taken = new Uint8Array(experts);
    let kept = 0;
    for (let k = 0; k < topK; k++) {
      let best = -1;
      for (let e = 0; e < experts; e++) if (!taken[e] && (best < 0 || p[e]! > p[best]!)) best = e;
      taken[best] = 1;
      ex[r * topK + k] = best;
      wt[r * topK + k] = p[best]!;
      kept += p[best]!;
    }
    if (normTopK) for (let k = 0; k < topK; k++) wt[r * topK + k] = Math.fround(wt[r * topK + k]! / Math.fround(kept));
  }
  return { experts: ex, weights: wt };
}

/**
 * The mixture-of-experts decoder block, written once over the injected operations (docs/adr/0018): LLaMA's
 * attention half, then either the dense MLP or the sparse one — the router (full precision), each expert's
 * SwiGLU MLP on the rows routed to it (experts in index order, as transformers' loop), their outputs weighted and
 * summed, plus Qwen2-MoE's shared expert weighted by sigmoid(shared_expert_gate(n)).
 */
export function moeBlock<X>(ops: BlockOps<X>, d: MoeBlockShape, x: X): X {
  const h = llamaAttention(ops, d, x);
  const n = ops.norm(h, 'post_attention_layernorm');
  if (!d.sparse) return llamaMlp(ops, h, n);
  const m = d.module;
  const [gate, up, down] = d.projections;
  const logits = ops.routerLogits(n, `${m}.gate`);
  const rows = logits.length / d.experts;
  const { experts, weights } = routeTokens(logits, rows, d.experts, d.topK, d.normTopK);
  const parts: ScatterPart<X>[] = [];
  for (let e = 0; e < d.experts; e++) {
    let count = 0;
    for (let i = 0; i < experts.length; i++) if (experts[i] === e) count++;
    if (count === 0) continue;
    const idx = new Int32Array(count);
    const w = new Float32Array(count);
    let c = 0;
    for (let i = 0; i < experts.length; i++) if (experts[i] === e) (idx[c] = Math.floor(i / d.topK)), (w[c++] = weights[i]!);
    const xe = ops.gatherRows(n, idx, d.hidden);
    const p = `${m}.experts.${e}`;
    const act = ops.swiglu(ops.linear(xe, `${p}.${gate}`), ops.linear(xe, `${p}.${up}`));
    parts.push({ y: ops.linear(act, `${p}.${down}`), rows: idx, weights: w });
  }
  if (d.sharedExpert) {
    const g = ops.routerLogits(n, `${m}.shared_expert_gate`);
    const w = Float32Array.from(g, (v) => 1 / (1 + Math.exp(-v)));
    const act = ops.swiglu(ops.linear(n, `${m}.shared_expert.gate_proj`), ops.linear(n, `${m}.shared_expert.up_proj`));
    parts.push({ y: ops.linear(act, `${m}.shared_expert.down_proj`), rows: Int32Array.from({ length: rows }, (_, i) => i), weights: w });
  }
  return ops.add(h, ops.scatterRows(parts, rows, d.hidden));
}
