import type { Graph, Var } from '@autoround/core-tensor';
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
import { applyRope, longRope, type LongRope, ropeInvFreq, ropeTables } from '../rope.js';
import { type BlockTensors, type FloatPositions, blockAttention, floatOps, rmsNorm } from '../float-ops.js';
import { graphOps } from '../graph-ops.js';
import { type CacheDecodable, KvCacheDecoder, type LayerAttention, windowedAttention } from '../kv-decoder.js';
import { loadBlockWeights, slidingWindowMask } from '../llama/model.js';
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
export class Phi3Model implements BlockTunableCausalLM, DecodingCausalLM, CacheDecodable {
  readonly spec: ModelSpec;
  readonly dims: Phi3Dims;
  readonly embed: Float32Array;
  readonly blocks: BlockTensors[];
  readonly finalNorm: Float32Array;
  readonly lmHead: Float32Array;
  private readonly be: KernelBackend;
  /** LongRoPE's tables, or null for a plain rotary embedding (`plain`). */
  private readonly long: LongRope | null;
  private readonly plain: { cos: Float32Array; sin: Float32Array; rotDim: number } | null;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend) {
    const file = 'config.json';
    this.spec = spec;
    this.be = backend;
    const d = (this.dims = phi3Dims(spec.config, file));
    this.long = longRope(spec.config, d.headDim, d.maxPositions, file);
    if (this.long) this.plain = null;
    else {
      const inv = ropeInvFreq(spec.config, d.headDim, file);
      this.plain = { ...ropeTables(inv, d.maxPositions, d.headDim), rotDim: inv.length * 2 };
    }
    const read = (name: string) => {
      const t = weights.readFloat32(name);
      checkTensorShape(spec, name, t.shape, 'model weights');
      return t.data;
    };
    this.embed = read(spec.embedding);
    this.blocks = spec.blocks.map((b) => loadBlockWeights(spec, b.index, weights));
    this.finalNorm = read(spec.finalNorm);
    const separate = weights.has(spec.lmHead) && (!spec.tiedEmbeddings || weights.separateOutput === true);
    this.lmHead = separate ? read(spec.lmHead) : this.embed;
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

  embedTokens(ids: Int32Array): Float32Array {
    const H = this.dims.hidden;
    const x = new Float32Array(ids.length * H);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t]!;
      if (id < 0 || id >= this.dims.vocab) throw new AutoRoundError('E_TOKEN', `token id ${id} is outside the vocabulary (0..${this.dims.vocab - 1}, vocab_size in config.json): the tokenizer gives ids the embedding does not have; does tokenizer.json belong to this model?`);
      x.set(this.embed.subarray(id * H, (id + 1) * H), t * H);
    }
    return x;
  }

  /** The rotary tables and window of a call whose last position is end − 1: LongRoPE's long tables past original_max_position_embeddings. */
  layerAttention(_block: number, end: number): LayerAttention {
    const r = this.long ? { ...(end > this.long.original ? this.long.long : this.long.short), rotDim: this.long.rotDim } : this.plain!;
    return { cos: r.cos, sin: r.sin, rotDim: r.rotDim, scale: 1 / Math.sqrt(this.dims.headDim), window: this.dims.slidingWindow ?? Infinity, softcap: 0 };
  }

  private ops(index: number, at: FloatPositions, options?: BlockForwardOptions): Phi3BlockOps<Float32Array> {
    return { ...floatOps(this.be, this.blocks[index]!, this.dims.eps, at, options), columns: columnsRaw };
  }

  runBlock(index: number, x: Float32Array, at: FloatPositions): Float32Array {
    return phi3Block(this.ops(index, at), this.dims, x);
  }

  blockForward(index: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array {
    const { heads, kvHeads, headDim: hd, maxPositions } = this.dims;
    if (T > maxPositions) throw new AutoRoundError('E_SEQLEN', `sequence of ${T} tokens exceeds max_position_embeddings ${maxPositions}`);
    const la = this.layerAttention(index, T);
    const at: FloatPositions = {
      rope: (x, n) => applyRope(x, T, n, hd, la.cos, la.sin, la.rotDim),
      attention: (q, k, v) => (T > la.window ? windowedAttention(q, k, v, T, heads, kvHeads, hd, la) : blockAttention(this.be, q, k, v, T, heads, kvHeads, hd)),
    };
    return phi3Block(this.ops(index, at, options), this.dims, x);
  }

  blockGraph(g: Graph, x: Var, index: number, inject: BlockGraphInject, batch: number, T: number): Var {
    const d = this.dims;
    const la = this.layerAttention(index, T);
    const cfg = { heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, eps: d.eps, cos: la.cos, sin: la.sin, rotDim: la.rotDim };
    const opts = T > la.window ? { attentionMask: slidingWindowMask(batch, T, la.window) } : {};
    const ops: Phi3BlockOps<Var> = { ...graphOps(g, this.blocks[index]!, cfg, inject, batch, T, opts), columns: (v, _n, from, width) => g.columns(v, from, width) };
    return phi3Block(ops, d, x);
  }

  blockVector(index: number, local: string): Float32Array {
    const b = this.blocks[index];
    const dot = local.lastIndexOf('.');
    const [name, kind] = [local.slice(0, dot), local.slice(dot + 1)];
    const v = kind === 'weight' ? b?.norms.get(name) : undefined;
    if (!v) throw new AutoRoundError('E_UNSUPPORTED', `block ${index} has no norm weight "${local}"`);
    return v;
  }

  head(x: Float32Array, T: number): Float32Array {
    const h = rmsNorm(x, T, this.dims.hidden, this.finalNorm, this.dims.eps);
    const logits = new Float32Array(T * this.dims.vocab);
    this.be.gemm(false, true, T, this.dims.vocab, this.dims.hidden, h, this.lmHead, logits);
    return logits;
  }

  headGraph(g: Graph, h: Var): Var {
    const { hidden: H, vocab } = this.dims;
    return g.linear(g.rmsNorm(h, g.input(this.finalNorm, [H]), this.dims.eps), g.input(this.lmHead, [vocab, H]));
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
