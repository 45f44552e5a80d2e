import { type Graph, type Var, geluTanh } from '@autoround/core-tensor';
import {
  AutoRoundError,
  type BlockForwardOptions,
  type BlockGraphInject,
  type KernelBackend,
  type LoadOptions,
  type ModelSpec,
  type WeightSource,
} from '@autoround/core';
import { applyRope, ropeInvFreq, ropeTables } from '../rope.js';
import { type FloatPositions, floatOps } from '../float-ops.js';
import { graphOps } from '../graph-ops.js';
import { type LayerAttention, windowedAttention } from '../kv-decoder.js';
import { DenseCausalLM } from '../dense-model.js';
import { slidingWindowMask } from '../llama/model.js';
import { type GemmaBlockOps, gemmaBlock } from './block.js';
import { type GemmaDims, type GemmaVariant, gemmaDims } from './dims.js';

/** 1 + w in float32: Gemma's RMSNorm multiplies by (1.0 + weight.float()) (docs/models/gemma.md). */
function onePlus(w: Float32Array): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = 1 + w[i]!;
  return out;
}

/** gelu_tanh(g)·u in float32 (a new array). */
function gegluRaw(g: Float32Array, u: Float32Array): Float32Array {
  const out = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = Math.fround(geluTanh(g[i]!)) * u[i]!;
  return out;
}

interface GemmaRope {
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  readonly rotDim: number;
}

/**
 * A loaded Gemma 2 / Gemma 3 text model: embeddings (scaled by √hidden), blocks, final norm, head and
 * final soft-cap, all float32 in memory. The block is gemmaBlock on the float32 operations (forward,
 * calibration, decoding) and on the autograd graph (tuning).
 */
export class GemmaModel extends DenseCausalLM<GemmaDims> {
  private readonly globalRope: GemmaRope;
  private readonly localRope: GemmaRope;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend, variant: GemmaVariant, options: LoadOptions = {}) {
    const file = 'config.json';
    const d = gemmaDims(spec.config, file, variant);
    const rope = (config: typeof spec.config): GemmaRope => {
      const inv = ropeInvFreq(config, d.headDim, file);
      return { ...ropeTables(inv, d.maxPositions, d.headDim), rotDim: inv.length * 2 };
    };
    const globalRope = rope({ ...spec.config, rope_theta: d.ropeTheta });
    // the sliding layers' rotary embedding: rope_local_base_freq, no scaling (transformers' Gemma3 rotary_emb_local)
    const localRope = d.ropeLocalTheta === d.ropeTheta && !spec.config.rope_scaling ? globalRope : rope({ ...spec.config, rope_theta: d.ropeLocalTheta, rope_scaling: null });
    // transformers: torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype); norms hold 1 + w
    super(spec, d, weights, backend, options, { norm: onePlus, embedScale: Math.fround(Math.sqrt(d.hidden)), finalSoftcap: d.finalSoftcap });
    this.globalRope = globalRope;
    this.localRope = localRope;
  }

  /** Layer `index`'s rotary tables, window, score scale and soft-cap. */
  layerAttention(index: number): LayerAttention {
    const d = this.dims;
    const sliding = d.sliding[index] === true;
    const r = sliding ? this.localRope : this.globalRope;
    return { cos: r.cos, sin: r.sin, rotDim: r.rotDim, scale: d.queryScale, window: sliding ? d.slidingWindow : Infinity, softcap: d.attnSoftcap };
  }

  private ops(index: number, at: FloatPositions, options?: BlockForwardOptions): GemmaBlockOps<Float32Array> {
    return { ...floatOps(this.be, this.block(index), this.dims.eps, at, options), geglu: gegluRaw };
  }

  runBlock(index: number, x: Float32Array, at: FloatPositions): Float32Array {
    return gemmaBlock(this.ops(index, at, this.blockOptions(index)), this.dims, x);
  }

  blockForward(index: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array {
    const { heads, kvHeads, headDim: hd, maxPositions } = this.dims;
    if (T > maxPositions) throw new AutoRoundError('E_SEQLEN', `sequence of ${T} tokens exceeds max_position_embeddings ${maxPositions}`);
    const la = this.layerAttention(index);
    const at: FloatPositions = {
      rope: (x, n) => applyRope(x, T, n, hd, la.cos, la.sin, la.rotDim),
      attention: (q, k, v) => windowedAttention(q, k, v, T, heads, kvHeads, hd, la),
    };
    return gemmaBlock(this.ops(index, at, this.blockOptions(index, options)), this.dims, x);
  }

  blockGraph(g: Graph, x: Var, index: number, inject: BlockGraphInject, batch: number, T: number): Var {
    const d = this.dims;
    const la = this.layerAttention(index);
    const cfg = { heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, eps: d.eps, cos: la.cos, sin: la.sin, rotDim: la.rotDim };
    const base = graphOps(g, this.block(index), cfg, inject, batch, T);
    const mask = T > la.window ? slidingWindowMask(batch, T, la.window) : undefined;
    const ops: GemmaBlockOps<Var> = {
      ...base,
      attention: (q, k, v) =>
        g.attention(q, k, v, {
          batch,
          seqLen: T,
          numHeads: d.heads,
          numKvHeads: d.kvHeads,
          headDim: d.headDim,
          scale: la.scale,
          ...(la.softcap > 0 ? { softcap: la.softcap } : {}),
          ...(mask ? { mask } : {}),
        }),
      geglu: (gate, up) => g.geglu(gate, up),
    };
    return gemmaBlock(ops, d, x);
  }

  blockVector(index: number, local: string): Float32Array {
    const dot = local.lastIndexOf('.');
    const [name, kind] = [local.slice(0, dot), local.slice(dot + 1)];
    if (kind === 'weight' && this.blockIfAny(index)?.norms.has(name)) {
      // the block holds 1 + w; a tuned vector would be written back as the checkpoint's w
      throw new AutoRoundError('E_UNSUPPORTED', `norm tuning (--enable_norm_bias_tuning) is not supported for ${this.dims.family}: its norms multiply by 1 + ${local}`, { subject: local });
    }
    const v = kind === 'bias' ? this.blockIfAny(index)?.linears.get(name)?.bias : undefined;
    if (!v) throw new AutoRoundError('E_UNSUPPORTED', `block ${index} has no bias "${local}"`);
    return v;
  }
}
