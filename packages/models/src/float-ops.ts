import type { BlockForwardOptions, KernelBackend } from '@autoround/core';
import type { BlockOps } from './block-ops.js';

/** A linear of a block: weight [out, in] row-major and optional bias. */
export interface BlockLinearTensors {
  readonly weight: Float32Array;
  readonly bias?: Float32Array;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** One decoder block's float32 tensors, by module name within the block. */
export interface BlockTensors {
  /** Norm weights ("input_layernorm", "self_attn.q_norm" …), in the spec's order. */
  readonly norms: ReadonlyMap<string, Float32Array>;
  /** Linears ("self_attn.q_proj" …), in the spec's order. */
  readonly linears: ReadonlyMap<string, BlockLinearTensors>;
}

/** y[T, out] = x[T, in] · Wᵀ + b */
export function linearRaw(be: KernelBackend, x: Float32Array, T: number, w: { weight: Float32Array; bias?: Float32Array | undefined }, inF: number, outF: number): Float32Array {
  const y = new Float32Array(T * outF);
  be.gemm(false, true, T, outF, inF, x, w.weight, y);
  if (w.bias) for (let t = 0; t < T; t++) for (let o = 0; o < outF; o++) y[t * outF + o]! += w.bias[o]!;
  return y;
}

/** HF LlamaRMSNorm over rows of length n, scalar. */
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

/**
 * RMSNorm through the backend's element kernel where it has one (the float32 roundings of the
 * autograd's RMSNorm, as PyTorch computes it), else the scalar loop; always a new array.
 */
export function blockNorm(be: KernelBackend, x: Float32Array, rows: number, n: number, w: Float32Array, eps: number): Float32Array {
  if (!be.rmsNormForward) return rmsNorm(x, rows, n, w, eps);
  const out = new Float32Array(rows * n);
  be.rmsNormForward(x, w, out, new Float32Array(rows), eps);
  return out;
}

/** silu(g)·u through the backend's element kernel where it has one, else the scalar loop. */
function swigluRaw(be: KernelBackend, g: Float32Array, u: Float32Array): Float32Array {
  if (be.swigluForward) {
    const act = new Float32Array(g.length);
    be.swigluForward(g, u, act);
    return act;
  }
  for (let i = 0; i < g.length; i++) {
    const a = g[i]!;
    g[i] = (a / (1 + Math.exp(-a))) * u[i]!;
  }
  return g;
}

/** Where rows sit and how they attend: a whole sequence (the forward) or new tokens over a cache (decoding). */
export interface FloatPositions {
  /** Rotary embedding in place on x [rows, heads·headDim]. */
  rope(x: Float32Array, heads: number): void;
  attention(q: Float32Array, k: Float32Array, v: Float32Array): Float32Array;
}

/**
 * The block operations on float32 arrays: the backend's kernels, each result a new array (rope in
 * place on the fresh q/k). The linears run on `options.weights`' replacement where it has one, and
 * `options.onLinearInput` sees every linear's input (importance matrices).
 */
export function floatOps(be: KernelBackend, w: BlockTensors, eps: number, at: FloatPositions, options: BlockForwardOptions = {}): BlockOps<Float32Array> {
  const over = options.weights;
  const hook = options.onLinearInput;
  const act = options.activations;
  return {
    linear(x, local) {
      const l = w.linears.get(local)!;
      const rows = x.length / l.inFeatures;
      hook?.(local, x, rows, l.inFeatures);
      // the scheme's activation quantization of the input (docs/algorithms/fp-qdq.md#activations)
      const xin = act ? act(local, x, rows, l.inFeatures) : x;
      const rep = over?.get(local);
      return linearRaw(be, xin, rows, rep ? { weight: rep, bias: l.bias } : l, l.inFeatures, l.outFeatures);
    },
    norm(x, local) {
      const n = w.norms.get(local)!;
      return blockNorm(be, x, x.length / n.length, n.length, n, eps);
    },
    rope(x, heads) {
      at.rope(x, heads);
      return x;
    },
    attention: (q, k, v) => at.attention(q, k, v),
    add(a, b) {
      const y = new Float32Array(a.length);
      for (let i = 0; i < y.length; i++) y[i] = a[i]! + b[i]!;
      return y;
    },
    swiglu: (gate, up) => swigluRaw(be, gate, up),
  };
}

/**
 * Causal attention through the backend's fused kernel where it has one: the calibration passes run
 * this for every sample of every block, and the scalar loop below was most of a small model's run.
 */
export function blockAttention(be: KernelBackend, q: Float32Array, k: Float32Array, v: Float32Array, T: number, nh: number, nkv: number, d: number): Float32Array {
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

/**
 * One new token's attention over the cached keys/values of positions 0…t (q [heads·hd], caches
 * [positions, kvw]); adds into out [heads·hd]. A small function of its own so that V8 optimizes it.
 */
export function decodeAttention(q: Float32Array, kc: Float32Array, vc: Float32Array, out: Float32Array, t: number, heads: number, group: number, hd: number, kvw: number, scale: number, scores: Float64Array): void {
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
      for (let i = 0; i < hd; i++) out[qo + i]! += p * vc[vb + i]!;
    }
  }
}
