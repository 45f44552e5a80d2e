import type { Graph, Var } from './graph.js';
import type { QdqParams } from './qdq.js';
import type { TunedVector } from './tuned-vector.js';

/** A linear layer of a block: frozen weight [out, in] (+ bias), optionally quantized with tunable state. */
export interface BlockLinear {
  weight: Float32Array;
  outFeatures: number;
  inFeatures: number;
  bias?: Float32Array;
  /** When present the layer runs on QDQ(weight; quant) and gradients reach quant's params. */
  quant?: QdqParams;
  /** enable_norm_bias_tuning: the bias with its tunable offset (replaces `bias`). */
  tunedBias?: TunedVector;
}

/** The norm weights of a decoder block, by field name of DecoderBlockWeights. */
export type BlockNormName = 'inputNorm' | 'postNorm' | 'qNorm' | 'kNorm';

/** Weights of a LLaMA / Qwen2 / Qwen3 decoder block (HF module names in comments). */
export interface DecoderBlockWeights {
  inputNorm: Float32Array; // input_layernorm.weight
  postNorm: Float32Array; // post_attention_layernorm.weight
  q: BlockLinear; // self_attn.q_proj
  k: BlockLinear; // self_attn.k_proj
  v: BlockLinear; // self_attn.v_proj
  o: BlockLinear; // self_attn.o_proj
  gate: BlockLinear; // mlp.gate_proj
  up: BlockLinear; // mlp.up_proj
  down: BlockLinear; // mlp.down_proj
  qNorm?: Float32Array; // self_attn.q_norm.weight (Qwen3)
  kNorm?: Float32Array; // self_attn.k_norm.weight (Qwen3)
  /** enable_norm_bias_tuning: norm weights with tunable offsets (each replaces the array of the same name). */
  tunedNorms?: Partial<Record<BlockNormName, TunedVector>>;
}

export interface DecoderBlockConfig {
  hidden: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediate: number;
  eps: number;
  /** Rotated dims per head (default headDim). */
  rotaryDim?: number;
}

export interface BlockInputs {
  batch: number;
  seqLen: number;
  /** cos/sin tables [positions, headDim] (rotate_half layout). */
  cos: Float32Array;
  sin: Float32Array;
  /** Table row per token (length batch·seqLen); default: the token's index within its sequence. */
  positions?: Int32Array | readonly number[];
  /** Optional additive attention mask [batch, seqLen, seqLen] on top of the causal one. */
  attentionMask?: Float32Array;
  /** Attention query tile rows (see AttentionOptions.blockRows). */
  attentionBlockRows?: number;
}

/** x·Wᵀ + b where W is the frozen weight or its QDQ when the layer is quantized. */
export function blockLinear(g: Graph, x: Var, l: BlockLinear): Var {
  const w = l.quant ? g.qdq(l.weight, l.quant) : g.input(l.weight, [l.outFeatures, l.inFeatures]);
  const b = l.tunedBias ? g.tunedVector(l.tunedBias) : l.bias ? g.input(l.bias, [l.outFeatures]) : null;
  return g.linear(x, w, b);
}

/**
 * One decoder block, x [batch·seqLen, hidden] → [batch·seqLen, hidden]:
 * h = x + o_proj(attn(rope(q_norm(q)), rope(k_norm(k)), v)) over input_layernorm(x);
 * out = h + down(silu(gate(n)) · up(n)) with n = post_attention_layernorm(h).
 */
export function decoderBlock(g: Graph, x: Var, w: DecoderBlockWeights, cfg: DecoderBlockConfig, inp: BlockInputs): Var {
  const { numHeads: H, numKvHeads: KV, headDim: D, eps } = cfg;
  const { batch: B, seqLen: T } = inp;
  const norm = (k: BlockNormName, v: Float32Array) => {
    const t = w.tunedNorms?.[k];
    return t ? g.tunedVector(t) : g.input(v, [v.length]);
  };
  const h1 = g.rmsNorm(x, norm('inputNorm', w.inputNorm), eps);
  let q = blockLinear(g, h1, w.q);
  let k = blockLinear(g, h1, w.k);
  const v = blockLinear(g, h1, w.v);
  if (w.qNorm) q = g.rmsNorm(q, norm('qNorm', w.qNorm), eps);
  if (w.kNorm) k = g.rmsNorm(k, norm('kNorm', w.kNorm), eps);
  const ropeOpts = { headDim: D, rotaryDim: cfg.rotaryDim, positions: inp.positions, seqLen: T };
  q = g.rope(q, inp.cos, inp.sin, { ...ropeOpts, numHeads: H });
  k = g.rope(k, inp.cos, inp.sin, { ...ropeOpts, numHeads: KV });
  const a = g.attention(q, k, v, {
    batch: B,
    seqLen: T,
    numHeads: H,
    numKvHeads: KV,
    headDim: D,
    mask: inp.attentionMask,
    blockRows: inp.attentionBlockRows,
  });
  const h = g.add(x, blockLinear(g, a, w.o));
  const n = g.rmsNorm(h, norm('postNorm', w.postNorm), eps);
  const act = g.swiglu(blockLinear(g, n, w.gate), blockLinear(g, n, w.up));
  return g.add(h, blockLinear(g, act, w.down));
}

export interface BlockStepOptions {
  /** Per-token loss mask (length batch·seqLen), broadcast over hidden. */
  mask?: Float32Array;
  /** Multiplies the loss before backward (AutoRound: 1000). */
  lossScale?: number;
  /** 'mean' (gradient_accumulate_steps == 1) or 'sum'. */
  reduction?: 'mean' | 'sum';
  /** Elements with the largest |error| left out of the loss (SignRoundV2's outlier suppression; MseOptions.dropTop). */
  dropTop?: number;
}

/** Consecutive blocks (SignRound's nblocks > 1 tunes several as one), the output of each the next one's input. */
export function decoderStack(g: Graph, x: Var, w: DecoderBlockWeights | readonly DecoderBlockWeights[], cfg: DecoderBlockConfig, inp: BlockInputs): Var {
  for (const b of Array.isArray(w) ? w : [w]) x = decoderBlock(g, x, b, cfg, inp);
  return x;
}

/**
 * One micro-batch of SignRound tuning: resets the graph, runs the block (or consecutive blocks,
 * given as an array) on x [batch·seqLen, hidden], takes the (masked) MSE against target, and
 * back-propagates loss·lossScale. Gradients *accumulate* into every quantized layer's V/alpha/beta
 * (zero them before the first micro-batch of an iteration). Returns the unscaled loss.
 */
export function decoderBlockStep(
  g: Graph,
  x: Float32Array,
  target: Float32Array,
  w: DecoderBlockWeights | readonly DecoderBlockWeights[],
  cfg: DecoderBlockConfig,
  inp: BlockInputs,
  opts: BlockStepOptions = {},
): number {
  g.reset();
  const y = decoderStack(g, g.input(x, [inp.batch * inp.seqLen, cfg.hidden]), w, cfg, inp);
  const loss = g.mse(y, target, { mask: opts.mask, reduction: opts.reduction, dropTop: opts.dropTop });
  const value = loss.data[0]!;
  if (loss.requiresGrad) g.backward(g.scale(loss, opts.lossScale ?? 1000));
  return value;
}

/**
 * The block's (or consecutive blocks') output for x without recording gradients (e.g. the next
 * block's quantized input), copied out of the graph's arena into `out` (or a new array).
 */
export function decoderBlockOutput(
  g: Graph,
  x: Float32Array,
  w: DecoderBlockWeights | readonly DecoderBlockWeights[],
  cfg: DecoderBlockConfig,
  inp: BlockInputs,
  out?: Float32Array,
): Float32Array {
  g.reset();
  const y = g.withoutGrad(() => decoderStack(g, g.input(x, [inp.batch * inp.seqLen, cfg.hidden]), w, cfg, inp));
  const dst = out ?? new Float32Array(y.size);
  dst.set(y.data);
  return dst;
}
