import type { Graph, Var } from '@autoround/core-tensor';
import type { BlockGraphInject } from '@autoround/core';
import type { BlockOps } from './block-ops.js';
import type { BlockTensors } from './float-ops.js';

/** What the graph's rope and attention need of the model. */
export interface GraphBlockConfig {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly eps: number;
  /** cos/sin tables [positions, headDim] (rotate_half layout) and the rotated dims per head. */
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  readonly rotDim: number;
}

/** Options of the graph's rope and attention beyond a plain causal batch (tests; not used by tuning). */
export interface GraphBlockOptions {
  /** Table row per token (length batch·T); default: the token's index within its sequence. */
  readonly positions?: Int32Array | readonly number[];
  /** Additive attention mask [batch, T, T] on top of the causal one. */
  readonly attentionMask?: Float32Array;
  /** Attention query tile rows (AttentionOptions.blockRows). */
  readonly attentionBlockRows?: number;
}

/**
 * The block operations on the autograd graph (SignRound's tuning): the model's tensors enter as
 * constant inputs unless `inject` supplies a weight, bias or norm (a QDQ of tuned parameters, a leaf,
 * a tuned vector). x is [batch·T, hidden].
 */
export function graphOps(g: Graph, w: BlockTensors, cfg: GraphBlockConfig, inject: BlockGraphInject, batch: number, T: number, opts: GraphBlockOptions = {}): BlockOps<Var> {
  const { headDim, eps } = cfg;
  return {
    linear(x, local) {
      const l = w.linears.get(local)!;
      const shape = [l.outFeatures, l.inFeatures] as const;
      const weight = inject.weight?.(g, local, l.weight, shape) ?? g.input(l.weight, shape);
      const bias = l.bias ? (inject.bias?.(g, local, l.bias) ?? g.input(l.bias, [l.outFeatures])) : null;
      // activation quantization, straight-through (docs/algorithms/fp-qdq.md#activations)
      return g.linear(inject.input?.(g, local, x) ?? x, weight, bias);
    },
    norm(x, local) {
      const own = w.norms.get(local)!;
      return g.rmsNorm(x, inject.norm?.(g, local, own) ?? g.input(own, [own.length]), eps);
    },
    rope(x, heads) {
      return g.rope(x, cfg.cos, cfg.sin, { headDim, rotaryDim: cfg.rotDim, seqLen: T, numHeads: heads, ...(opts.positions ? { positions: opts.positions } : {}) });
    },
    attention(q, k, v) {
      return g.attention(q, k, v, {
        batch,
        seqLen: T,
        numHeads: cfg.heads,
        numKvHeads: cfg.kvHeads,
        headDim,
        ...(opts.attentionMask ? { mask: opts.attentionMask } : {}),
        ...(opts.attentionBlockRows !== undefined ? { blockRows: opts.attentionBlockRows } : {}),
      });
    },
    add: (a, b) => g.add(a, b),
    swiglu: (gate, up) => g.swiglu(gate, up),
  };
}
