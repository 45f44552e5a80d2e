import type { Graph, Var } from '@autoround/core-tensor';
import {
  AutoRoundError,
  checkTensorShape,
  type ActivationQdq,
  type BlockForwardOptions,
  type BlockGraphInject,
  type BlockTunableCausalLM,
  type CausalDecoder,
  type DecodingCausalLM,
  type HFConfig,
  type KernelBackend,
  type LoadOptions,
  type ModelSpec,
  type WeightSource,
} from '@autoround/core';
import { applyRope, ropeInvFreq, ropeTables } from '../rope.js';
import { type BlockLinearTensors, type BlockTensors, type FloatPositions, blockAttention, floatOps, rmsNorm } from '../float-ops.js';
import { type CacheDecodable, KvCacheDecoder, type LayerAttention, windowedAttention } from '../kv-decoder.js';
import { type GraphBlockConfig, type GraphBlockOptions, graphOps } from '../graph-ops.js';
import type { BlockOps } from '../block-ops.js';
import { llamaBlock } from './block.js';
import { LLAMA, type LlamaDims, type LlamaVariant, llamaDims } from './dims.js';

/** One decoder block's float32 weights, by module name within the block. */
export type LlamaBlockWeights = BlockTensors;

export function loadBlockWeights(spec: ModelSpec, block: number, weights: WeightSource): LlamaBlockWeights {
  const b = spec.blocks[block]!;
  const p = b.prefix;
  const read = (n: string) => readChecked(spec, weights, n);
  const norms = new Map<string, Float32Array>();
  for (const n of b.norms ?? []) norms.set(n, read(`${p}.${n}.weight`));
  const linears = new Map<string, BlockLinearTensors>();
  for (const l of b.linears) {
    const w = weights.readFloat32(`${p}.${l.name}.weight`);
    checkTensorShape(spec, `${p}.${l.name}.weight`, w.shape, 'model weights');
    if (w.shape[0] !== l.outFeatures || w.shape[1] !== l.inFeatures) {
      throw new AutoRoundError('E_SHAPE', `${p}.${l.name}.weight has shape [${w.shape.join(', ')}], expected [${l.outFeatures}, ${l.inFeatures}] from config.json`, { subject: `${p}.${l.name}.weight` });
    }
    const shape = { inFeatures: l.inFeatures, outFeatures: l.outFeatures };
    linears.set(l.name, l.bias ? { weight: w.data, bias: read(`${p}.${l.name}.bias`), ...shape } : { weight: w.data, ...shape });
  }
  return { norms, linears };
}

/**
 * A tensor as float32, checked against the shape config.json implies: a checkpoint opened by a
 * format's reader (GGUF, packed folders) is checked here, where the forward would otherwise index
 * past its data or fail deep inside a kernel.
 */
function readChecked(spec: ModelSpec, weights: WeightSource, name: string): Float32Array {
  const t = weights.readFloat32(name);
  checkTensorShape(spec, name, t.shape, 'model weights');
  return t.data;
}

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

/** A loaded LLaMA-family model: embeddings, blocks, final norm and head, all float32 in memory. */
export class LlamaModel implements BlockTunableCausalLM, DecodingCausalLM, CacheDecodable {
  readonly spec: ModelSpec;
  readonly dims: LlamaDims;
  readonly rope: RopeCache;
  /**
   * Each block's weights; with LoadOptions.lazyBlocks a block is read when it first runs and dropped by
   * releaseBlock (undefined until then), otherwise all are read at load.
   */
  readonly blocks: (LlamaBlockWeights | undefined)[];
  readonly finalNorm: Float32Array;
  private readonly be: KernelBackend;
  /** Per block: the activation quantization of its linears by local name (LoadOptions.activations), if any. */
  private readonly acts: (ActivationQdq | undefined)[];
  /** The source a lazily loaded model reads its blocks from (LoadOptions.lazyBlocks), else null. */
  private readonly lazySource: WeightSource | null;
  private readonly source: WeightSource;
  private readonly separateHead: boolean;
  private embedData: Float32Array | undefined;
  private headData: Float32Array | undefined;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend, variant: LlamaVariant = LLAMA, options: LoadOptions = {}) {
    const file = 'config.json';
    this.spec = spec;
    this.be = backend;
    const act = options.activations;
    this.acts = spec.blocks.map((b) => (act ? (local: string, x: Float32Array, rows: number, inF: number) => act(`${b.prefix}.${local}`, x, rows, inF) : undefined));
    this.dims = llamaDims(spec.config, file, variant);
    this.rope = makeRope(spec.config, this.dims, file);
    this.lazySource = options.lazyBlocks ? weights : null;
    this.source = weights;
    // loaded whole: read in the order of before lazy loading (the first bad tensor is the one named)
    if (!options.lazyBlocks) this.embedData = readChecked(spec, weights, spec.embedding);
    this.blocks = spec.blocks.map((b) => (options.lazyBlocks ? undefined : loadBlockWeights(spec, b.index, weights)));
    this.finalNorm = readChecked(spec, weights, spec.finalNorm);
    this.separateHead = weights.has(spec.lmHead) && (!spec.tiedEmbeddings || weights.separateOutput === true);
    if (!options.lazyBlocks && this.separateHead) this.headData = readChecked(spec, weights, spec.lmHead);
  }

  /** The token embedding [vocab, hidden] (read when first needed if the model loads lazily). */
  get embed(): Float32Array {
    return (this.embedData ??= readChecked(this.spec, this.source, this.spec.embedding));
  }

  /** The output projection [vocab, hidden]: the embedding when tied. */
  get lmHead(): Float32Array {
    return this.separateHead ? (this.headData ??= readChecked(this.spec, this.source, this.spec.lmHead)) : this.embed;
  }

  /**
   * Drops the embedding (and a separate lm_head) when the model loads lazily: block-by-block tuning needs them only
   * to embed the calibration samples (docs/perf/whole-model.md#peak-rss); they are read again if used later.
   */
  releaseEmbeddings(): void {
    if (this.lazySource) this.embedData = this.headData = undefined;
  }

  get backend(): KernelBackend {
    return this.be;
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

  layerAttention(): LayerAttention {
    const { cos, sin, rotDim } = this.rope;
    return { cos, sin, rotDim, scale: 1 / Math.sqrt(this.dims.headDim), window: this.dims.slidingWindow ?? Infinity, softcap: 0 };
  }

  runBlock(index: number, x: Float32Array, at: FloatPositions): Float32Array {
    // the load's activation quantization applies when decoding too (docs/formats/fp-weights.md)
    const act = this.acts[index];
    return this.blockFn(index)(floatOps(this.be, this.block(index), this.dims.eps, at, act ? { activations: act } : {}), x);
  }

  /** Hidden states [T, hidden] for token ids. */
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

  get numBlocks(): number {
    return this.blocks.length;
  }

  /** Block `i`'s weights, read now if the model loads its blocks lazily. */
  block(i: number): LlamaBlockWeights {
    const b = this.blocks[i];
    if (b) return b;
    if (!this.lazySource || i < 0 || i >= this.blocks.length) throw new AutoRoundError('E_UNSUPPORTED', `the model has no block ${i} (${this.blocks.length} blocks)`);
    return (this.blocks[i] = loadBlockWeights(this.spec, i, this.lazySource));
  }

  /**
   * Drops block `i`'s weights when the model loads its blocks lazily (a block-by-block algorithm done with it:
   * docs/perf/whole-model.md#peak-rss); it is read again if it runs later. A model loaded whole keeps them.
   */
  releaseBlock(i: number): void {
    if (this.lazySource) this.blocks[i] = undefined;
  }

  blockForward(i: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array {
    // the load's activation quantization unless the caller brings its own
    const act = this.acts[i];
    const o = act && !options?.activations ? { ...options, activations: act } : options;
    return llamaBlockForward(this.be, this.dims, this.block(i), this.rope, x, T, o, this.blockFn(i));
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
    const b = index >= 0 && index < this.blocks.length ? this.block(index) : undefined;
    const dot = local.lastIndexOf('.');
    const [name, kind] = [local.slice(0, dot), local.slice(dot + 1)];
    const v = kind === 'weight' ? b?.norms.get(name) : kind === 'bias' ? b?.linears.get(name)?.bias : undefined;
    if (!v) throw new AutoRoundError('E_UNSUPPORTED', `block ${index} has no norm weight or bias "${local}"`);
    return v;
  }

  /** Final norm and lm_head: logits [T, vocab]. */
  head(x: Float32Array, T: number): Float32Array {
    // scalar RMSNorm: the logits every perplexity and golden figure was measured with
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

  /** The load's activation quantization of block `i` (by local linear name), if any. */
  activationsOf(i: number): ActivationQdq | undefined {
    return this.acts[i];
  }

  decoder(maxLen: number, batch: number): LlamaDecoder {
    return new LlamaDecoder(this, maxLen, batch);
  }

  kvCacheBytes(positions: number): number {
    return positions * this.dims.kvHeads * this.dims.headDim * this.blocks.length * 2 * 4;
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
