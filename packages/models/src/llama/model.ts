import type { Graph, Var } from '@autoround/core-tensor';
import {
  AutoRoundError,
  type BlockForwardOptions,
  type BlockGraphInject,
  type HFConfig,
  type KernelBackend,
  type LoadOptions,
  type ModelSpec,
  type PackedSequences,
  type PackingCausalLM,
  type WeightSource,
} from '@autoround/core';
import { applyRope, ropeInvFreq, ropeTables } from '../rope.js';
import { type BlockTensors, type FloatPositions, blockAttention, floatOps } from '../float-ops.js';
import { KvCacheDecoder, type LayerAttention, packedForward, windowedAttention } from '../kv-decoder.js';
import { DenseCausalLM } from '../dense-model.js';
import { type GraphBlockConfig, type GraphBlockOptions, graphOps } from '../graph-ops.js';
import type { BlockOps } from '../block-ops.js';
import { llamaBlock } from './block.js';
import { LLAMA, type LlamaDims, type LlamaVariant, llamaDims } from './dims.js';

/** One decoder block's float32 weights, by module name within the block. */
export type LlamaBlockWeights = BlockTensors;


/** Precomputed positional tables for a model. */
export interface RopeCache {
  cos: Float32Array;
  sin: Float32Array;
  rotDim: number;
  positions: number;
}

export function makeRope(config: HFConfig, dims: LlamaDims, file: string, positions = dims.maxPositions): RopeCache {
  const inv = ropeInvFreq(config, dims.headDim, file);
  const { cos, sin } = ropeTables(inv, positions, dims.headDim);
  return { cos, sin, rotDim: inv.length * 2, positions };
}

/** One decoder block, float32: x [T, hidden] → [T, hidden] (a new array). */
export function llamaBlockForward(
  be: KernelBackend,
  dims: LlamaDims,
  w: LlamaBlockWeights,
  rope: RopeCache,
  x: Float32Array,
  T: number,
  options: BlockForwardOptions = {},
  block: BlockFn = (ops, x) => llamaBlock(ops, dims, x),
): Float32Array {
  const { heads, kvHeads, headDim: hd, eps } = dims;
  if (T > rope.positions) throw new AutoRoundError('E_SEQLEN', `sequence of ${T} tokens exceeds max_position_embeddings ${rope.positions}`);
  const window = dims.slidingWindow ?? Infinity;
  const at = {
    rope: (x: Float32Array, n: number) => applyRope(x, T, n, hd, rope.cos, rope.sin, rope.rotDim),
    // Mistral's sliding window matters only for sequences longer than it (docs/models/sliding-window.md)
    attention: (q: Float32Array, k: Float32Array, v: Float32Array) =>
      T > window ? windowedAttention(q, k, v, T, heads, kvHeads, hd, { scale: 1 / Math.sqrt(hd), window, softcap: 0 }) : blockAttention(be, q, k, v, T, heads, kvHeads, hd),
  };
  return block(floatOps(be, w, eps, at, options), x);
}

/** A block over injected operations, bound to its shape (llamaBlock; a mixture-of-experts block, src/moe/). */
export type BlockFn = <X>(ops: BlockOps<X>, x: X) => X;

/** One decoder block on the autograd graph, x [batch·T, hidden] → [batch·T, hidden]. */
export function llamaBlockGraph(
  g: Graph,
  x: Var,
  dims: Pick<LlamaDims, 'heads' | 'kvHeads' | 'headDim' | 'eps' | 'qkNorm'> & { slidingWindow?: number | null },
  w: LlamaBlockWeights,
  rope: Pick<RopeCache, 'cos' | 'sin' | 'rotDim'>, inject: BlockGraphInject, batch: number, T: number, options?: GraphBlockOptions,
  block: BlockFn = (ops, x) => llamaBlock(ops, dims, x)): Var {
  const cfg: GraphBlockConfig = { heads: dims.heads, kvHeads: dims.kvHeads, headDim: dims.headDim, eps: dims.eps, cos: rope.cos, sin: rope.sin, rotDim: rope.rotDim };
  const window = dims.slidingWindow ?? Infinity;
  const opts = T > window && !options?.attentionMask ? { ...options, attentionMask: slidingWindowMask(batch, T, window) } : options;
  return block(graphOps(g, w, cfg, inject, batch, T, opts), x);
}

/** Additive mask [batch, T, T]: −∞ where key s is `window` or more positions before query t (the causal part is the attention's). */
export function slidingWindowMask(batch: number, T: number, window: number): Float32Array {
  const mask = new Float32Array(batch * T * T);
  for (let b = 0; b < batch; b++) for (let t = 0; t < T; t++) for (let s = 0; s <= t - window; s++) mask[(b * T + t) * T + s] = -Infinity;
  return mask;
}

/** A loaded LLaMA-family model: embeddings, blocks, final norm and head, all float32 in memory (DenseCausalLM). */
export class LlamaModel extends DenseCausalLM<LlamaDims> implements PackingCausalLM {
  readonly rope: RopeCache;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend, variant: LlamaVariant = LLAMA, options: LoadOptions = {}) {
    const file = 'config.json';
    const dims = llamaDims(spec.config, file, variant);
    // the config's rotary settings are checked before any weight is read
    const rope = makeRope(spec.config, dims, file);
    super(spec, dims, weights, backend, options);
    this.rope = rope;
  }

  layerAttention(): LayerAttention {
    const { cos, sin, rotDim } = this.rope;
    return { cos, sin, rotDim, scale: 1 / Math.sqrt(this.dims.headDim), window: this.dims.slidingWindow ?? Infinity, softcap: 0 };
  }

  runBlock(index: number, x: Float32Array, at: FloatPositions): Float32Array {
    return this.blockFn(index)(floatOps(this.be, this.block(index), this.dims.eps, at, this.blockOptions(index)), x);
  }

  blockForward(i: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array {
    return llamaBlockForward(this.be, this.dims, this.block(i), this.rope, x, T, this.blockOptions(i, options), this.blockFn(i));
  }

  blockGraph(g: Graph, x: Var, index: number, inject: BlockGraphInject, batch: number, T: number): Var {
    return llamaBlockGraph(g, x, this.dims, this.block(index), this.rope, inject, batch, T, undefined, this.blockFn(index));
  }

  /** Block `index` over injected operations: forward, tuning and decoding all run it (a subclass's block, src/moe/). */
  blockFn(index: number): BlockFn {
    void index;
    return (ops, x) => llamaBlock(ops, this.dims, x);
  }

  blockVector(index: number, local: string): Float32Array {
    const b = this.blockIfAny(index);
    const dot = local.lastIndexOf('.');
    const [name, kind] = [local.slice(0, dot), local.slice(dot + 1)];
    const v = kind === 'weight' ? b?.norms.get(name) : kind === 'bias' ? b?.linears.get(name)?.bias : undefined;
    if (!v) throw new AutoRoundError('E_UNSUPPORTED', `block ${index} has no norm weight or bias "${local}"`);
    return v;
  }

  /** Packed sequences sharing prefixes in one pass (packedForward). */
  forwardPacked(p: PackedSequences): Float32Array {
    return packedForward(this, p);
  }

  override decoder(maxLen: number, batch: number): LlamaDecoder {
    return new LlamaDecoder(this, maxLen, batch);
  }
}

/**
 * Token-by-token decoding with a key/value cache (KvCacheDecoder): the blocks are the forward's
 * (llamaBlock on the float32 operations); only where rows sit (a position offset) and what they attend
 * to (the cache, within Mistral's sliding window) differ.
 */
export class LlamaDecoder extends KvCacheDecoder {
  constructor(model: LlamaModel, maxLen = model.dims.maxPositions, batch = 1) {
    super(model, maxLen, batch);
  }
}
