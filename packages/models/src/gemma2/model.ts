import { type Graph, type Var, geluTanh } from '@autoround/core-tensor';
import {
  AutoRoundError,
  checkTensorShape,
  type BlockForwardOptions,
  type BlockGraphInject,
  type BlockTunableCausalLM,
  type DecodingCausalLM,
  type KernelBackend,
  type ModelSpec,
  type WeightSource,
} from '@autoround/core';
import { applyRope, ropeInvFreq, ropeTables } from '../rope.js';
import { type BlockTensors, type FloatPositions, floatOps, rmsNorm } from '../float-ops.js';
import { graphOps } from '../graph-ops.js';
import { type CacheDecodable, KvCacheDecoder, type LayerAttention, windowedAttention } from '../kv-decoder.js';
import { loadBlockWeights, slidingWindowMask } from '../llama/model.js';
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
export class GemmaModel implements BlockTunableCausalLM, DecodingCausalLM, CacheDecodable {
  readonly spec: ModelSpec;
  readonly dims: GemmaDims;
  readonly embed: Float32Array;
  /** Norm weights hold 1 + w. */
  readonly blocks: BlockTensors[];
  readonly finalNorm: Float32Array;
  readonly lmHead: Float32Array;
  private readonly be: KernelBackend;
  private readonly globalRope: GemmaRope;
  private readonly localRope: GemmaRope;
  private readonly normalizer: number;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend, variant: GemmaVariant) {
    const file = 'config.json';
    this.spec = spec;
    this.be = backend;
    const d = (this.dims = gemmaDims(spec.config, file, variant));
    const rope = (config: typeof spec.config): GemmaRope => {
      const inv = ropeInvFreq(config, d.headDim, file);
      return { ...ropeTables(inv, d.maxPositions, d.headDim), rotDim: inv.length * 2 };
    };
    this.globalRope = rope({ ...spec.config, rope_theta: d.ropeTheta });
    // the sliding layers' rotary embedding: rope_local_base_freq, no scaling (transformers' Gemma3 rotary_emb_local)
    this.localRope = d.ropeLocalTheta === d.ropeTheta && !spec.config.rope_scaling ? this.globalRope : rope({ ...spec.config, rope_theta: d.ropeLocalTheta, rope_scaling: null });
    const read = (name: string) => {
      const t = weights.readFloat32(name);
      checkTensorShape(spec, name, t.shape, 'model weights');
      return t.data;
    };
    this.embed = read(spec.embedding);
    this.blocks = spec.blocks.map((b) => {
      const w = loadBlockWeights(spec, b.index, weights);
      return { linears: w.linears, norms: new Map([...w.norms].map(([k, v]) => [k, onePlus(v)])) };
    });
    this.finalNorm = onePlus(read(spec.finalNorm));
    const separate = weights.has(spec.lmHead) && (!spec.tiedEmbeddings || weights.separateOutput === true);
    this.lmHead = separate ? read(spec.lmHead) : this.embed;
    // transformers: torch.tensor(hidden_size ** 0.5, dtype=hidden_states.dtype)
    this.normalizer = Math.fround(Math.sqrt(d.hidden));
  }

  get backend(): KernelBackend {
    return this.be;
  }
  get numBlocks(): number {
    return this.blocks.length;
  }
  get heads(): number {
    return this.dims.heads;
  }
  get kvHeads(): number {
    return this.dims.kvHeads;
  }
  get headDim(): number {
    return this.dims.headDim;
  }
  get maxPositions(): number {
    return this.dims.maxPositions;
  }

  /** Hidden states [T, hidden] for token ids: the embedding rows times √hidden. */
  embedTokens(ids: Int32Array): Float32Array {
    const H = this.dims.hidden;
    const x = new Float32Array(ids.length * H);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t]!;
      if (id < 0 || id >= this.dims.vocab) throw new AutoRoundError('E_TOKEN', `token id ${id} is outside the vocabulary (0..${this.dims.vocab - 1}, vocab_size in config.json): the tokenizer gives ids the embedding does not have; does tokenizer.json belong to this model?`);
      for (let i = 0; i < H; i++) x[t * H + i] = this.embed[id * H + i]! * this.normalizer;
    }
    return x;
  }

  /** Layer `index`'s rotary tables, window, score scale and soft-cap. */
  layerAttention(index: number): LayerAttention {
    const d = this.dims;
    const sliding = d.sliding[index] === true;
    const r = sliding ? this.localRope : this.globalRope;
    return { cos: r.cos, sin: r.sin, rotDim: r.rotDim, scale: d.queryScale, window: sliding ? d.slidingWindow : Infinity, softcap: d.attnSoftcap };
  }

  private ops(index: number, at: FloatPositions, options?: BlockForwardOptions): GemmaBlockOps<Float32Array> {
    return { ...floatOps(this.be, this.blocks[index]!, this.dims.eps, at, options), geglu: gegluRaw };
  }

  runBlock(index: number, x: Float32Array, at: FloatPositions): Float32Array {
    return gemmaBlock(this.ops(index, at), this.dims, x);
  }

  blockForward(index: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array {
    const { heads, kvHeads, headDim: hd, maxPositions } = this.dims;
    if (T > maxPositions) throw new AutoRoundError('E_SEQLEN', `sequence of ${T} tokens exceeds max_position_embeddings ${maxPositions}`);
    const la = this.layerAttention(index);
    const at: FloatPositions = {
      rope: (x, n) => applyRope(x, T, n, hd, la.cos, la.sin, la.rotDim),
      attention: (q, k, v) => windowedAttention(q, k, v, T, heads, kvHeads, hd, la),
    };
    return gemmaBlock(this.ops(index, at, options), this.dims, x);
  }

  blockGraph(g: Graph, x: Var, index: number, inject: BlockGraphInject, batch: number, T: number): Var {
    const d = this.dims;
    const la = this.layerAttention(index);
    const cfg = { heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, eps: d.eps, cos: la.cos, sin: la.sin, rotDim: la.rotDim };
    const base = graphOps(g, this.blocks[index]!, cfg, inject, batch, T);
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
    if (kind === 'weight' && this.blocks[index]?.norms.has(name)) {
      // the block holds 1 + w; a tuned vector would be written back as the checkpoint's w
      throw new AutoRoundError('E_UNSUPPORTED', `norm tuning (--enable_norm_bias_tuning) is not supported for ${this.dims.family}: its norms multiply by 1 + ${local}`, { subject: local });
    }
    const v = kind === 'bias' ? this.blocks[index]?.linears.get(name)?.bias : undefined;
    if (!v) throw new AutoRoundError('E_UNSUPPORTED', `block ${index} has no bias "${local}"`);
    return v;
  }

  /** Final norm, lm_head and final_logit_softcapping: logits [T, vocab]. */
  head(x: Float32Array, T: number): Float32Array {
    const { hidden: H, vocab, eps, finalSoftcap: c } = this.dims;
    const h = rmsNorm(x, T, H, this.finalNorm, eps);
    const logits = new Float32Array(T * vocab);
    this.be.gemm(false, true, T, vocab, H, h, this.lmHead, logits);
    if (c > 0) for (let i = 0; i < logits.length; i++) logits[i] = c * Math.tanh(logits[i]! / c);
    return logits;
  }

  headGraph(g: Graph, h: Var): Var {
    const { hidden: H, vocab, eps, finalSoftcap: c } = this.dims;
    const logits = g.linear(g.rmsNorm(h, g.input(this.finalNorm, [H]), eps), g.input(this.lmHead, [vocab, H]));
    return c > 0 ? g.softcap(logits, c) : logits;
  }

  forward(ids: Int32Array): Float32Array {
    let x = this.embedTokens(ids);
    for (let i = 0; i < this.blocks.length; i++) x = this.blockForward(i, x, ids.length);
    return this.head(x, ids.length);
  }

  decoder(maxLen: number, batch: number): KvCacheDecoder {
    return new KvCacheDecoder(this, maxLen, batch);
  }

  kvCacheBytes(positions: number): number {
    return positions * this.dims.kvHeads * this.dims.headDim * this.blocks.length * 2 * 4;
  }
}
