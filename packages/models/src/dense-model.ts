import type { Graph, Var } from '@autoround/core-tensor';
import {
  AutoRoundError,
  checkTensorShape,
  type ActivationQdq,
  type BlockForwardOptions,
  type BlockGraphInject,
  type BlockTunableCausalLM,
  type DecodingCausalLM,
  type KernelBackend,
  type LoadOptions,
  type ModelSpec,
  type TransformerDims,
  type WeightSource,
} from '@autoround/core';
import { type BlockLinearTensors, type BlockTensors, type FloatPositions, rmsNorm } from './float-ops.js';
import { type CacheDecodable, KvCacheDecoder, type LayerAttention } from './kv-decoder.js';

/** What every decoder-only model's plumbing needs of its dims. */
export interface DenseDims extends TransformerDims {
  vocab: number;
}

/** How an architecture's embeddings, norms and head differ from LLaMA's (Gemma: all three). */
export interface DenseHeadRules {
  /** Applied to every norm weight on load (Gemma's RMSNorm multiplies by 1 + w). */
  norm?: (w: Float32Array) => Float32Array;
  /** Embedding rows are multiplied by this float32 factor (Gemma's √hidden); undefined: copied as they are. */
  embedScale?: number;
  /** final_logit_softcapping: logits become c·tanh(logits / c); 0 or undefined for none. */
  finalSoftcap?: number;
}

/**
 * A tensor as float32, checked against the shape config.json implies: a checkpoint opened by a
 * format's reader (GGUF, packed folders) is checked here, where the forward would otherwise index
 * past its data or fail deep inside a kernel.
 */
export function readChecked(spec: ModelSpec, weights: WeightSource, name: string): Float32Array {
  const t = weights.readFloat32(name);
  checkTensorShape(spec, name, t.shape, 'model weights');
  return t.data;
}

/** One decoder block's float32 weights (norms by name, linears by name), checked against config.json. */
export function loadBlockWeights(spec: ModelSpec, block: number, weights: WeightSource): BlockTensors {
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

/** Hidden states [ids, hidden]: the embedding's rows for token ids, times `scale` in float32 when given. */
export function embedRows(embed: Float32Array, ids: Int32Array, hidden: number, vocab: number, scale?: number): Float32Array {
  const x = new Float32Array(ids.length * hidden);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t]!;
    if (id < 0 || id >= vocab) throw new AutoRoundError('E_TOKEN', `token id ${id} is outside the vocabulary (0..${vocab - 1}, vocab_size in config.json): the tokenizer gives ids the embedding does not have; does tokenizer.json belong to this model?`);
    if (scale === undefined) x.set(embed.subarray(id * hidden, (id + 1) * hidden), t * hidden);
    else for (let i = 0; i < hidden; i++) x[t * hidden + i] = embed[id * hidden + i]! * scale;
  }
  return x;
}

/**
 * The plumbing every decoder-only model shares: embeddings, per-block float32 weights, final norm and
 * lm_head (tied or not), the load's activation quantization, the forward over the blocks and the key/value
 * cache decoder. An architecture adds its block (blockForward, runBlock, blockGraph), its attention
 * (layerAttention) and which of its vectors are tunable (blockVector).
 */
export abstract class DenseCausalLM<D extends DenseDims> implements BlockTunableCausalLM, DecodingCausalLM, CacheDecodable {
  /**
   * Each block's weights; with LoadOptions.lazyBlocks a block is read when it first runs and dropped by
   * releaseBlock (undefined until then), otherwise all are read at load. Read them through block(i).
   */
  readonly blocks: (BlockTensors | undefined)[];
  readonly finalNorm: Float32Array;
  protected readonly be: KernelBackend;
  /** Per block: the activation quantization of its linears by local name (LoadOptions.activations), if any. */
  protected readonly acts: (ActivationQdq | undefined)[];
  private readonly embedScale: number | undefined;
  private readonly finalSoftcap: number;
  private readonly norm: ((w: Float32Array) => Float32Array) | undefined;
  /** Where the weights are read from: at load, or as they are needed when the model loads lazily. */
  private readonly source: WeightSource;
  private readonly lazy: boolean;
  private readonly separateHead: boolean;
  private embedData: Float32Array | undefined;
  private headData: Float32Array | undefined;

  protected constructor(
    readonly spec: ModelSpec,
    readonly dims: D,
    weights: WeightSource,
    backend: KernelBackend,
    options: LoadOptions = {},
    rules: DenseHeadRules = {},
  ) {
    this.be = backend;
    const act = options.activations;
    this.acts = spec.blocks.map((b) => (act ? (local: string, x: Float32Array, rows: number, inF: number) => act(`${b.prefix}.${local}`, x, rows, inF) : undefined));
    this.source = weights;
    this.lazy = options.lazyBlocks === true;
    this.norm = rules.norm;
    // loaded whole: read in checkpoint order (the first bad tensor is the one an error names)
    if (!this.lazy) this.embedData = readChecked(spec, weights, spec.embedding);
    this.blocks = spec.blocks.map((b) => (this.lazy ? undefined : this.readBlock(b.index, weights)));
    const finalNorm = readChecked(spec, weights, spec.finalNorm);
    this.finalNorm = this.norm ? this.norm(finalNorm) : finalNorm;
    this.separateHead = weights.has(spec.lmHead) && (!spec.tiedEmbeddings || weights.separateOutput === true);
    if (!this.lazy && this.separateHead) this.headData = readChecked(spec, weights, spec.lmHead);
    this.embedScale = rules.embedScale;
    this.finalSoftcap = rules.finalSoftcap ?? 0;
  }

  /** The token embedding [vocab, hidden] (read when first needed if the model loads lazily). */
  get embed(): Float32Array {
    return (this.embedData ??= readChecked(this.spec, this.source, this.spec.embedding));
  }

  /** The output projection [vocab, hidden]: the embedding when tied. */
  get lmHead(): Float32Array {
    return this.separateHead ? (this.headData ??= readChecked(this.spec, this.source, this.spec.lmHead)) : this.embed;
  }

  /** Block `index`'s weights from `weights`, norms as the architecture keeps them (rules.norm). */
  private readBlock(index: number, weights: WeightSource): BlockTensors {
    const w = loadBlockWeights(this.spec, index, weights);
    const norm = this.norm;
    return norm ? { linears: w.linears, norms: new Map([...w.norms].map(([k, v]) => [k, norm(v)])) } : w;
  }

  /**
   * Block `index` read when the model loads lazily. An architecture with more tensors per block (a mixture-of-experts
   * router) adds them here and to the blocks read at load, after its constructor's super call (src/moe/model.ts).
   */
  protected loadBlock(index: number, weights: WeightSource): BlockTensors {
    return this.readBlock(index, weights);
  }

  /** Block `i`'s weights, read now if the model loads its blocks lazily. */
  block(i: number): BlockTensors {
    const b = this.blocks[i];
    if (b) return b;
    if (!this.lazy || !Number.isInteger(i) || i < 0 || i >= this.blocks.length) throw new AutoRoundError('E_UNSUPPORTED', `the model has no block ${i} (${this.blocks.length} blocks)`);
    return (this.blocks[i] = this.loadBlock(i, this.source));
  }

  /** Block `i`'s weights, or undefined when the model has no block `i`. */
  protected blockIfAny(i: number): BlockTensors | undefined {
    return Number.isInteger(i) && i >= 0 && i < this.blocks.length ? this.block(i) : undefined;
  }

  /**
   * Drops block `i`'s weights when the model loads its blocks lazily (a block-by-block algorithm done with it:
   * docs/perf/whole-model.md#peak-rss); it is read again if it runs later. A model loaded whole keeps them.
   */
  releaseBlock(i: number): void {
    if (this.lazy) this.blocks[i] = undefined;
  }

  /**
   * Drops the embedding (and a separate lm_head) when the model loads lazily: block-by-block tuning needs them only
   * to embed the calibration samples (docs/perf/whole-model.md#peak-rss); they are read again if used later.
   */
  releaseEmbeddings(): void {
    if (this.lazy) this.embedData = this.headData = undefined;
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

  abstract layerAttention(block: number, end: number): LayerAttention;
  abstract runBlock(index: number, x: Float32Array, at: FloatPositions): Float32Array;
  abstract blockForward(index: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array;
  abstract blockGraph(g: Graph, x: Var, index: number, inject: BlockGraphInject, batch: number, T: number): Var;
  abstract blockVector(index: number, local: string): Float32Array;

  /** Hidden states [T, hidden] for token ids. */
  embedTokens(ids: Int32Array): Float32Array {
    return embedRows(this.embed, ids, this.dims.hidden, this.dims.vocab, this.embedScale);
  }

  /** Final norm, lm_head and the final soft-cap, if any: logits [T, vocab]. */
  head(x: Float32Array, T: number): Float32Array {
    const { hidden: H, vocab, eps } = this.dims;
    // scalar RMSNorm: the logits every perplexity and golden figure was measured with
    const h = rmsNorm(x, T, H, this.finalNorm, eps);
    const logits = new Float32Array(T * vocab);
    this.be.gemm(false, true, T, vocab, H, h, this.lmHead, logits);
    const c = this.finalSoftcap;
    if (c > 0) for (let i = 0; i < logits.length; i++) logits[i] = c * Math.tanh(logits[i]! / c);
    return logits;
  }

  headGraph(g: Graph, h: Var): Var {
    const { hidden: H, vocab, eps } = this.dims;
    const logits = g.linear(g.rmsNorm(h, g.input(this.finalNorm, [H]), eps), g.input(this.lmHead, [vocab, H]));
    return this.finalSoftcap > 0 ? g.softcap(logits, this.finalSoftcap) : logits;
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

  /**
   * The float operations' options for block `i`: the caller's, with the load's activation quantization unless
   * the caller brings its own (the load's applies when decoding too: docs/formats/fp-weights.md).
   */
  protected blockOptions(i: number, options?: BlockForwardOptions): BlockForwardOptions | undefined {
    const act = this.acts[i];
    return act && !options?.activations ? { ...options, activations: act } : options;
  }

  decoder(maxLen: number, batch: number): KvCacheDecoder {
    return new KvCacheDecoder(this, maxLen, batch);
  }

  kvCacheBytes(positions: number): number {
    return positions * this.dims.kvHeads * this.dims.headDim * this.blocks.length * 2 * 4;
  }
}
