import type { Graph, Var } from '@autoround/core-tensor';
import {
  AutoRoundError,
  type BlockForwardOptions,
  type BlockGraphInject,
  type KernelBackend,
  type LoadOptions,
  type ModelSpec,
  type WeightSource,
} from '@autoround/core';
import { applyRope, longRope, type LongRope, ropeInvFreq, ropeTables } from '../rope.js';
import { type FloatPositions, blockAttention, floatOps } from '../float-ops.js';
import { graphOps } from '../graph-ops.js';
import { type LayerAttention, windowedAttention } from '../kv-decoder.js';
import { DenseCausalLM } from '../dense-model.js';
import { slidingWindowMask } from '../llama/model.js';
import { type Phi3BlockOps, phi3Block } from './block.js';
import { type Phi3Dims, phi3Dims } from './dims.js';

/** Columns from … from + width of each row of x (a new array). */
function columnsRaw(x: Float32Array, n: number, from: number, width: number): Float32Array {
  const rows = x.length / n;
  const y = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) y.set(x.subarray(r * n + from, r * n + from + width), r * width);
  return y;
}

/**
 * A loaded Phi-3 model, float32 in memory: phi3Block on the float32 operations (forward, calibration,
 * decoding) and on the autograd graph (tuning), LongRoPE's short or long tables by the sequence length.
 */
export class Phi3Model extends DenseCausalLM<Phi3Dims> {
  /** LongRoPE's tables, or null for a plain rotary embedding (`plain`). */
  private readonly long: LongRope | null;
  private readonly plain: { cos: Float32Array; sin: Float32Array; rotDim: number } | null;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend, options: LoadOptions = {}) {
    const file = 'config.json';
    const d = phi3Dims(spec.config, file);
    const long = longRope(spec.config, d.headDim, d.maxPositions, file);
    let plain: Phi3Model['plain'] = null;
    if (!long) {
      const inv = ropeInvFreq(spec.config, d.headDim, file);
      plain = { ...ropeTables(inv, d.maxPositions, d.headDim), rotDim: inv.length * 2 };
    }
    super(spec, d, weights, backend, options);
    this.long = long;
    this.plain = plain;
  }

  /** The rotary tables and window of a call whose last position is end − 1: LongRoPE's long tables past original_max_position_embeddings. */
  layerAttention(_block: number, end: number): LayerAttention {
    const r = this.long ? { ...(end > this.long.original ? this.long.long : this.long.short), rotDim: this.long.rotDim } : this.plain!;
    return { cos: r.cos, sin: r.sin, rotDim: r.rotDim, scale: 1 / Math.sqrt(this.dims.headDim), window: this.dims.slidingWindow ?? Infinity, softcap: 0 };
  }

  private ops(index: number, at: FloatPositions, options?: BlockForwardOptions): Phi3BlockOps<Float32Array> {
    return { ...floatOps(this.be, this.block(index), this.dims.eps, at, options), columns: columnsRaw };
  }

  runBlock(index: number, x: Float32Array, at: FloatPositions): Float32Array {
    return phi3Block(this.ops(index, at, this.blockOptions(index)), this.dims, x);
  }

  blockForward(index: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array {
    const { heads, kvHeads, headDim: hd, maxPositions } = this.dims;
    if (T > maxPositions) throw new AutoRoundError('E_SEQLEN', `sequence of ${T} tokens exceeds max_position_embeddings ${maxPositions}`);
    const la = this.layerAttention(index, T);
    const at: FloatPositions = {
      rope: (x, n) => applyRope(x, T, n, hd, la.cos, la.sin, la.rotDim),
      attention: (q, k, v) => (T > la.window ? windowedAttention(q, k, v, T, heads, kvHeads, hd, la) : blockAttention(this.be, q, k, v, T, heads, kvHeads, hd)),
    };
    return phi3Block(this.ops(index, at, this.blockOptions(index, options)), this.dims, x);
  }

  blockGraph(g: Graph, x: Var, index: number, inject: BlockGraphInject, batch: number, T: number): Var {
    const d = this.dims;
    const la = this.layerAttention(index, T);
    const cfg = { heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, eps: d.eps, cos: la.cos, sin: la.sin, rotDim: la.rotDim };
    const opts = T > la.window ? { attentionMask: slidingWindowMask(batch, T, la.window) } : {};
    const ops: Phi3BlockOps<Var> = { ...graphOps(g, this.block(index), cfg, inject, batch, T, opts), columns: (v, _n, from, width) => g.columns(v, from, width) };
    return phi3Block(ops, d, x);
  }

  blockVector(index: number, local: string): Float32Array {
    const b = this.blockIfAny(index);
    const dot = local.lastIndexOf('.');
    const [name, kind] = [local.slice(0, dot), local.slice(dot + 1)];
    const v = kind === 'weight' ? b?.norms.get(name) : undefined;
    if (!v) throw new AutoRoundError('E_UNSUPPORTED', `block ${index} has no norm weight "${local}"`);
    return v;
  }
}
