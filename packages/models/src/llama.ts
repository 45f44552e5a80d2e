import {
  AutoRoundError,
  checkTensorShape,
  type ArchitecturePlugin,
  type BlockForwardOptions,
  type BlockSpec,
  type BlockwiseCausalLM,
  type ExpectedShape,
  type HFConfig,
  type KernelBackend,
  type LinearSpec,
  type ModelSpec,
  type WeightSource,
} from '@autoround/core';
import { intField, numField } from './config.js';
import { applyRope, ropeInvFreq, ropeTables } from './rope.js';

type Family = 'llama' | 'mistral' | 'qwen2' | 'qwen3';

const FAMILIES: Record<string, Family> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
};

/** The hyper-parameters a LLaMA-family forward needs, read once from config.json. */
export interface LlamaDims {
  family: Family;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  maxPositions: number;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  qkNorm: boolean;
  tied: boolean;
}

export function llamaDims(config: HFConfig, file: string): LlamaDims {
  const arch = config.architectures?.[0] ?? '';
  const family = FAMILIES[arch];
  if (!family) throw new AutoRoundError('E_UNKNOWN_ARCH', `${file}: architecture "${arch}" is not a LLaMA-family model`, { subject: file });
  const hidden = intField(config, 'hidden_size', file);
  const heads = intField(config, 'num_attention_heads', file);
  const act = config.hidden_act ?? 'silu';
  if (act !== 'silu') throw new AutoRoundError('E_UNSUPPORTED', `${file}: hidden_act "${String(act)}" is not supported (only silu)`, { subject: file });
  const attnBias = config.attention_bias === true;
  // without head_dim, each head takes hidden_size / num_attention_heads: it has to divide evenly
  if ((config.head_dim === undefined || config.head_dim === null) && hidden % heads !== 0) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "hidden_size" ${hidden} is not divisible by "num_attention_heads" ${heads}, and "head_dim" is not given`, { subject: file });
  }
  const headDim = intField(config, 'head_dim', file, hidden / heads);
  const kvHeads = intField(config, 'num_key_value_heads', file, heads);
  // grouped-query attention: each key/value head serves the same number of query heads
  if (heads % kvHeads !== 0) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "num_attention_heads" ${heads} is not a multiple of "num_key_value_heads" ${kvHeads}`, { subject: file });
  }
  return {
    family,
    hidden,
    intermediate: intField(config, 'intermediate_size', file),
    layers: layerCount(config, file),
    heads,
    kvHeads,
    headDim,
    vocab: intField(config, 'vocab_size', file),
    eps: numField(config, 'rms_norm_eps', 1e-6),
    maxPositions: intField(config, 'max_position_embeddings', file, 2048),
    qkvBias: family === 'qwen2' ? true : attnBias,
    oBias: family === 'qwen2' ? false : attnBias,
    mlpBias: config.mlp_bias === true,
    qkNorm: family === 'qwen3',
    tied: config.tie_word_embeddings === true,
  };
}

/** More layers than any real model has (the largest have a few hundred). */
const MAX_LAYERS = 10_000;

/**
 * num_hidden_layers, bounded: a damaged config.json (found by tools/fuzz: 4294967296) would otherwise have
 * describeLlama build billions of block descriptions, long before the checkpoint could disagree with it.
 */
function layerCount(config: HFConfig, file: string): number {
  const n = intField(config, 'num_hidden_layers', file);
  if (n > MAX_LAYERS) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "num_hidden_layers" ${n} is not a plausible layer count (at most ${MAX_LAYERS})`, { subject: file });
  return n;
}

export function describeLlama(config: HFConfig, file: string): ModelSpec {
  const d = llamaDims(config, file);
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const linears: LinearSpec[] = [
    { name: 'self_attn.q_proj', inFeatures: d.hidden, outFeatures: q, bias: d.qkvBias },
    { name: 'self_attn.k_proj', inFeatures: d.hidden, outFeatures: kv, bias: d.qkvBias },
    { name: 'self_attn.v_proj', inFeatures: d.hidden, outFeatures: kv, bias: d.qkvBias },
    { name: 'self_attn.o_proj', inFeatures: q, outFeatures: d.hidden, bias: d.oBias },
    { name: 'mlp.gate_proj', inFeatures: d.hidden, outFeatures: d.intermediate, bias: d.mlpBias },
    { name: 'mlp.up_proj', inFeatures: d.hidden, outFeatures: d.intermediate, bias: d.mlpBias },
    { name: 'mlp.down_proj', inFeatures: d.intermediate, outFeatures: d.hidden, bias: d.mlpBias },
  ];
  const blocks: BlockSpec[] = [];
  for (let i = 0; i < d.layers; i++) {
    const prefix = `model.layers.${i}`;
    const tensors = [`${prefix}.input_layernorm.weight`, `${prefix}.post_attention_layernorm.weight`];
    if (d.qkNorm) tensors.push(`${prefix}.self_attn.q_norm.weight`, `${prefix}.self_attn.k_norm.weight`);
    for (const l of linears) {
      tensors.push(`${prefix}.${l.name}.weight`);
      if (l.bias) tensors.push(`${prefix}.${l.name}.bias`);
    }
    blocks.push({ index: i, prefix, linears, tensors });
  }
  return {
    shapes: llamaShapes(config, d, blocks),
    architecture: config.architectures![0]!,
    modelType: String(config.model_type ?? d.family),
    config,
    hiddenSize: d.hidden,
    vocabSize: d.vocab,
    blockListName: 'model.layers',
    blocks,
    embedding: 'model.embed_tokens.weight',
    finalNorm: 'model.norm.weight',
    lmHead: 'lm_head.weight',
    tiedEmbeddings: d.tied,
  };
}

/** The shape config.json implies for every tensor the forward reads, each with the fields it comes from. */
function llamaShapes(config: HFConfig, d: LlamaDims, blocks: readonly BlockSpec[]): Record<string, ExpectedShape> {
  const hd = config.head_dim === undefined || config.head_dim === null ? `head_dim ${d.headDim} = hidden_size / num_attention_heads` : `head_dim ${d.headDim}`;
  const dim: Record<string, [number, string]> = {
    hidden: [d.hidden, `hidden_size ${d.hidden}`],
    q: [d.heads * d.headDim, `num_attention_heads ${d.heads} × ${hd}`],
    kv: [d.kvHeads * d.headDim, `num_key_value_heads ${d.kvHeads} × ${hd}`],
    inter: [d.intermediate, `intermediate_size ${d.intermediate}`],
    vocab: [d.vocab, `vocab_size ${d.vocab}`],
    head: [d.headDim, hd],
  };
  const of = (...keys: string[]): ExpectedShape => ({ shape: keys.map((k) => dim[k]![0]), from: keys.map((k) => dim[k]![1]).join(', ') });
  const linearDims: Record<string, [string, string]> = {
    'self_attn.q_proj': ['q', 'hidden'],
    'self_attn.k_proj': ['kv', 'hidden'],
    'self_attn.v_proj': ['kv', 'hidden'],
    'self_attn.o_proj': ['hidden', 'q'],
    'mlp.gate_proj': ['inter', 'hidden'],
    'mlp.up_proj': ['inter', 'hidden'],
    'mlp.down_proj': ['hidden', 'inter'],
  };
  const shapes: Record<string, ExpectedShape> = {
    'model.embed_tokens.weight': of('vocab', 'hidden'),
    'lm_head.weight': of('vocab', 'hidden'),
    'model.norm.weight': of('hidden'),
  };
  for (const b of blocks) {
    shapes[`${b.prefix}.input_layernorm.weight`] = of('hidden');
    shapes[`${b.prefix}.post_attention_layernorm.weight`] = of('hidden');
    if (d.qkNorm) shapes[`${b.prefix}.self_attn.q_norm.weight`] = shapes[`${b.prefix}.self_attn.k_norm.weight`] = of('head');
    for (const l of b.linears) {
      const [out, inp] = linearDims[l.name]!;
      shapes[`${b.prefix}.${l.name}.weight`] = of(out, inp);
      if (l.bias) shapes[`${b.prefix}.${l.name}.bias`] = of(out);
    }
  }
  return shapes;
}

/** One decoder block's float32 weights, [out, in] row-major. */
export interface LlamaBlockWeights {
  inputNorm: Float32Array;
  postNorm: Float32Array;
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  /** keyed by linear name ("self_attn.q_proj"): weight and optional bias */
  linears: Map<string, { weight: Float32Array; bias?: Float32Array }>;
}

export function loadBlockWeights(spec: ModelSpec, dims: LlamaDims, block: number, weights: WeightSource): LlamaBlockWeights {
  const b = spec.blocks[block]!;
  const p = b.prefix;
  const read = (n: string) => readChecked(spec, weights, n);
  const linears = new Map<string, { weight: Float32Array; bias?: Float32Array }>();
  for (const l of b.linears) {
    const w = weights.readFloat32(`${p}.${l.name}.weight`);
    checkTensorShape(spec, `${p}.${l.name}.weight`, w.shape, 'model weights');
    if (w.shape[0] !== l.outFeatures || w.shape[1] !== l.inFeatures) {
      throw new AutoRoundError('E_SHAPE', `${p}.${l.name}.weight has shape [${w.shape.join(', ')}], expected [${l.outFeatures}, ${l.inFeatures}] from config.json`, { subject: `${p}.${l.name}.weight` });
    }
    linears.set(l.name, l.bias ? { weight: w.data, bias: read(`${p}.${l.name}.bias`) } : { weight: w.data });
  }
  const out: LlamaBlockWeights = { inputNorm: read(`${p}.input_layernorm.weight`), postNorm: read(`${p}.post_attention_layernorm.weight`), linears };
  if (dims.qkNorm) {
    out.qNorm = read(`${p}.self_attn.q_norm.weight`);
    out.kNorm = read(`${p}.self_attn.k_norm.weight`);
  }
  return out;
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

/** y[T, out] = x[T, in] · Wᵀ + b */
export function linearRaw(be: KernelBackend, x: Float32Array, T: number, w: { weight: Float32Array; bias?: Float32Array }, inF: number, outF: number): Float32Array {
  const y = new Float32Array(T * outF);
  be.gemm(false, true, T, outF, inF, x, w.weight, y);
  if (w.bias) for (let t = 0; t < T; t++) for (let o = 0; o < outF; o++) y[t * outF + o] += w.bias[o]!;
  return y;
}

/** HF LlamaRMSNorm over rows of length n. */
export function rmsNorm(x: Float32Array, rows: number, n: number, w: Float32Array, eps: number, out: Float32Array = new Float32Array(rows * n)): Float32Array {
  for (let r = 0; r < rows; r++) {
    const o = r * n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += x[o + i]! * x[o + i]!;
    const inv = 1 / Math.sqrt(Math.fround(ss / n) + eps);
    for (let i = 0; i < n; i++) out[o + i] = w[i]! * Math.fround(x[o + i]! * inv);
  }
  return out;
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
export function llamaBlockForward(be: KernelBackend, dims: LlamaDims, w: LlamaBlockWeights, rope: RopeCache, x: Float32Array, T: number, options: BlockForwardOptions = {}): Float32Array {
  const { hidden: H, heads, kvHeads, headDim: hd, intermediate: I, eps } = dims;
  if (T > rope.positions) throw new AutoRoundError('E_SEQLEN', `sequence of ${T} tokens exceeds max_position_embeddings ${rope.positions}`);
  const over = options.weights;
  const hook = options.onLinearInput;
  const lin = (name: string) => {
    const base = w.linears.get(name)!;
    const rep = over?.get(name);
    return rep ? (base.bias ? { weight: rep, bias: base.bias } : { weight: rep }) : base;
  };
  const linear = (x: Float32Array, T: number, name: string, inF: number, outF: number) => {
    hook?.(name, x, T, inF);
    return linearRaw(be, x, T, lin(name), inF, outF);
  };
  const h1 = blockNorm(be, x, T, H, w.inputNorm, eps);
  let q = linear(h1, T, 'self_attn.q_proj', H, heads * hd);
  let k = linear(h1, T, 'self_attn.k_proj', H, kvHeads * hd);
  const v = linear(h1, T, 'self_attn.v_proj', H, kvHeads * hd);
  if (w.qNorm) q = blockNorm(be, q, T * heads, hd, w.qNorm, eps);
  if (w.kNorm) k = blockNorm(be, k, T * kvHeads, hd, w.kNorm, eps);
  applyRope(q, T, heads, hd, rope.cos, rope.sin, rope.rotDim);
  applyRope(k, T, kvHeads, hd, rope.cos, rope.sin, rope.rotDim);
  const attn = blockAttention(be, q, k, v, T, heads, kvHeads, hd);
  const o = linear(attn, T, 'self_attn.o_proj', heads * hd, H);
  const r1 = new Float32Array(T * H);
  for (let i = 0; i < r1.length; i++) r1[i] = x[i]! + o[i]!;
  const h2 = blockNorm(be, r1, T, H, w.postNorm, eps);
  const g = linear(h2, T, 'mlp.gate_proj', H, I);
  const u = linear(h2, T, 'mlp.up_proj', H, I);
  let act = g;
  if (be.swigluForward) {
    act = new Float32Array(g.length);
    be.swigluForward(g, u, act);
  } else {
    for (let i = 0; i < g.length; i++) {
      const a = g[i]!;
      g[i] = (a / (1 + Math.exp(-a))) * u[i]!;
    }
  }
  const dn = linear(act, T, 'mlp.down_proj', I, H);
  for (let i = 0; i < r1.length; i++) r1[i] += dn[i]!;
  return r1;
}

/**
 * RMSNorm through the backend's element kernel where it has one (the float32 roundings of the
 * autograd's RMSNorm, as PyTorch computes it), else the scalar loop; always a new array.
 */
function blockNorm(be: KernelBackend, x: Float32Array, rows: number, n: number, w: Float32Array, eps: number): Float32Array {
  if (!be.rmsNormForward) return rmsNorm(x, rows, n, w, eps);
  const out = new Float32Array(rows * n);
  be.rmsNormForward(x, w, out, new Float32Array(rows), eps);
  return out;
}

/**
 * Causal attention through the backend's fused kernel where it has one: the calibration passes run
 * this for every sample of every block, and the scalar loop below was most of a small model's run.
 */
function blockAttention(be: KernelBackend, q: Float32Array, k: Float32Array, v: Float32Array, T: number, nh: number, nkv: number, d: number): Float32Array {
  if (!be.attentionForward) return causalAttention(q, k, v, T, nh, nkv, d);
  const out = new Float32Array(T * nh * d);
  const lse = new Float32Array(nh * T);
  be.attentionForward(q, k, v, out, lse, { batch: 1, seqLen: T, numHeads: nh, numKvHeads: nkv, headDim: d, causal: true, scale: 1 / Math.sqrt(d) });
  return out;
}

/** softmax(q·kᵀ/√d + causal mask)·v with grouped-query heads; q [T, nh, d], k/v [T, nkv, d]. */
export function causalAttention(q: Float32Array, k: Float32Array, v: Float32Array, T: number, nh: number, nkv: number, d: number): Float32Array {
  const out = new Float32Array(T * nh * d);
  const scores = new Float64Array(T);
  const row = nh * d;
  // token t attends to positions 0…t exactly as a decoding step at position t does
  for (let t = 0; t < T; t++) decodeAttention(q.subarray(t * row, (t + 1) * row), k, v, out.subarray(t * row, (t + 1) * row), t, nh, nh / nkv, d, nkv * d, 1 / Math.sqrt(d), scores);
  return out;
}

/** A loaded LLaMA-family model: embeddings, blocks, final norm and head, all float32 in memory. */
export class LlamaModel implements BlockwiseCausalLM {
  readonly spec: ModelSpec;
  readonly dims: LlamaDims;
  readonly rope: RopeCache;
  readonly embed: Float32Array;
  readonly blocks: LlamaBlockWeights[];
  readonly finalNorm: Float32Array;
  readonly lmHead: Float32Array;
  private readonly be: KernelBackend;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend) {
    const file = 'config.json';
    this.spec = spec;
    this.be = backend;
    this.dims = llamaDims(spec.config, file);
    this.rope = makeRope(spec.config, this.dims, file);
    this.embed = readChecked(spec, weights, spec.embedding);
    this.blocks = spec.blocks.map((b) => loadBlockWeights(spec, this.dims, b.index, weights));
    this.finalNorm = readChecked(spec, weights, spec.finalNorm);
    const separate = weights.has(spec.lmHead) && (!spec.tiedEmbeddings || weights.separateOutput === true);
    this.lmHead = separate ? readChecked(spec, weights, spec.lmHead) : this.embed;
  }

  get backend(): KernelBackend {
    return this.be;
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

  blockForward(i: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array {
    return llamaBlockForward(this.be, this.dims, this.blocks[i]!, this.rope, x, T, options);
  }

  /** Final norm and lm_head: logits [T, vocab]. */
  head(x: Float32Array, T: number): Float32Array {
    const h = rmsNorm(x, T, this.dims.hidden, this.finalNorm, this.dims.eps);
    const logits = new Float32Array(T * this.dims.vocab);
    this.be.gemm(false, true, T, this.dims.vocab, this.dims.hidden, h, this.lmHead, logits);
    return logits;
  }

  forward(ids: Int32Array): Float32Array {
    let x = this.embedTokens(ids);
    for (let i = 0; i < this.blocks.length; i++) x = this.blockForward(i, x, ids.length);
    return this.head(x, ids.length);
  }
}

export const llamaArchitecture: ArchitecturePlugin = {
  name: 'llama',
  hfArchitectures: Object.keys(FAMILIES),
  describe: describeLlama,
  load: (spec, weights, backend) => new LlamaModel(spec, weights, backend),
};

/**
 * One new token's attention over the cached keys/values of positions 0…t (q [heads·hd], caches
 * [positions, kvw]); adds into out [heads·hd]. A small function of its own so that V8 optimizes it.
 */
function decodeAttention(q: Float32Array, kc: Float32Array, vc: Float32Array, out: Float32Array, t: number, heads: number, group: number, hd: number, kvw: number, scale: number, scores: Float64Array): void {
  for (let h = 0; h < heads; h++) {
    const qo = h * hd;
    const ko = Math.floor(h / group) * hd;
    let max = -Infinity;
    for (let s = 0; s <= t; s++) {
      const kb = s * kvw + ko;
      let dot = 0;
      for (let i = 0; i < hd; i++) dot += q[qo + i]! * kc[kb + i]!;
      const sc = dot * scale;
      scores[s] = sc;
      if (sc > max) max = sc;
    }
    let sum = 0;
    for (let s = 0; s <= t; s++) sum += scores[s] = Math.exp(scores[s]! - max);
    for (let s = 0; s <= t; s++) {
      const p = scores[s]! / sum;
      const vb = s * kvw + ko;
      for (let i = 0; i < hd; i++) out[qo + i] += p * vc[vb + i]!;
    }
  }
}

/**
 * Token-by-token decoding with a key/value cache: each step costs one token's worth of work,
 * so sampling long texts (e.g. data-free calibration) stays linear in their length.
 */
export class LlamaDecoder {
  private pos = 0;
  private readonly kCache: Float32Array[];
  private readonly vCache: Float32Array[];

  /**
   * `batch` sequences decoded in lockstep (one token each per step, all at the same position): the
   * linears of a step become one product over the batch instead of `batch` vector products.
   */
  constructor(
    private readonly model: LlamaModel,
    readonly maxLen = model.dims.maxPositions,
    readonly batch = 1,
  ) {
    if (!Number.isInteger(batch) || batch < 1) throw new AutoRoundError('E_ARG', `decoder batch must be a positive integer, got ${batch}`);
    const kvw = model.dims.kvHeads * model.dims.headDim;
    this.kCache = model.blocks.map(() => new Float32Array(batch * maxLen * kvw));
    this.vCache = model.blocks.map(() => new Float32Array(batch * maxLen * kvw));
  }

  get position(): number {
    return this.pos;
  }

  /** Feeds one token (a decoder of batch 1); returns the logits for the next one. */
  step(token: number): Float32Array {
    return this.stepBatch(Int32Array.of(token));
  }

  /** Feeds one token per sequence; returns the logits for the next ones, [batch, vocab]. */
  stepBatch(tokens: Int32Array): Float32Array {
    const B = this.batch;
    if (tokens.length !== B) throw new AutoRoundError('E_ARG', `stepBatch: ${tokens.length} tokens for a decoder of batch ${B}`);
    if (this.pos >= this.maxLen) throw new AutoRoundError('E_SEQLEN', `decoding past ${this.maxLen} positions`);
    const m = this.model;
    const d = m.dims;
    const { hidden: H, heads, kvHeads, headDim: hd, intermediate: I, eps, maxPositions } = d;
    const be = m.backend;
    let x = m.embedTokens(tokens);
    const t = this.pos;
    if (t >= maxPositions) throw new AutoRoundError('E_SEQLEN', `decoding past max_position_embeddings ${maxPositions}`);
    const kvw = kvHeads * hd;
    const group = heads / kvHeads;
    const scale = 1 / Math.sqrt(hd);
    const scores = new Float64Array(t + 1);
    for (let b = 0; b < m.blocks.length; b++) {
      const w = m.blocks[b]!;
      const lin = (n: string) => w.linears.get(n)!;
      const h1 = rmsNorm(x, B, H, w.inputNorm, eps);
      const q = linearRaw(be, h1, B, lin('self_attn.q_proj'), H, heads * hd);
      const k = linearRaw(be, h1, B, lin('self_attn.k_proj'), H, kvw);
      const v = linearRaw(be, h1, B, lin('self_attn.v_proj'), H, kvw);
      if (w.qNorm) rmsNorm(q, B * heads, hd, w.qNorm, eps, q);
      if (w.kNorm) rmsNorm(k, B * kvHeads, hd, w.kNorm, eps, k);
      const attn = new Float32Array(B * heads * hd);
      for (let r = 0; r < B; r++) {
        const qr = q.subarray(r * heads * hd, (r + 1) * heads * hd);
        const kr = k.subarray(r * kvw, (r + 1) * kvw);
        applyRope(qr, 1, heads, hd, m.rope.cos, m.rope.sin, m.rope.rotDim, t);
        applyRope(kr, 1, kvHeads, hd, m.rope.cos, m.rope.sin, m.rope.rotDim, t);
        const base = r * this.maxLen * kvw;
        const kc = this.kCache[b]!.subarray(base, base + this.maxLen * kvw);
        const vc = this.vCache[b]!.subarray(base, base + this.maxLen * kvw);
        kc.set(kr, t * kvw);
        vc.set(v.subarray(r * kvw, (r + 1) * kvw), t * kvw);
        decodeAttention(qr, kc, vc, attn.subarray(r * heads * hd, (r + 1) * heads * hd), t, heads, group, hd, kvw, scale, scores);
      }
      const o = linearRaw(be, attn, B, lin('self_attn.o_proj'), heads * hd, H);
      const r1 = new Float32Array(B * H);
      for (let i = 0; i < r1.length; i++) r1[i] = x[i]! + o[i]!;
      const h2 = rmsNorm(r1, B, H, w.postNorm, eps);
      const g = linearRaw(be, h2, B, lin('mlp.gate_proj'), H, I);
      const u = linearRaw(be, h2, B, lin('mlp.up_proj'), H, I);
      for (let i = 0; i < g.length; i++) g[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
      const dn = linearRaw(be, g, B, lin('mlp.down_proj'), I, H);
      for (let i = 0; i < r1.length; i++) r1[i] += dn[i]!;
      x = r1;
    }
    this.pos++;
    return m.head(x, B);
  }
}
