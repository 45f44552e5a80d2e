// AutoRound's int QDQ with its tunable state, and its autograd op (qdqVar, through Graph.custom): the int
// quantizer's own operation, so it lives with the quantizer, not in core-tensor (docs/adr/0021-one-tuning-loop.md).
// The element loops run in the backend's qdqForward/qdqBackward kernels where it has them (kernels-cpu).
import { AutoRoundError, type Graph, type KernelBackend, Param, type QdqElementLayout, RNE_MAGIC, type ScaleDType, type Var, roundHalfEven, scaleCast, scaleThresholdValue } from '@autoround/core-tensor';

/**
 * Weight quantize–dequantize of AutoRound (docs/algorithms/qdq.md) with the straight-through rounding of
 * round_ste, for `int_asym` and the full-range `int_sym`. Gradients reach V (the rounding
 * offset), alpha (min_scale) and beta (max_scale) exactly along PyTorch's autograd path,
 * including the clamp masks (inclusive bounds), torch.maximum's tie split and — by default —
 * the rounding of the scale gradient to the scale dtype that eager PyTorch applies because
 * the scale is an fp16 tensor.
 */

export interface QdqConfig {
  bits: number;
  /** >0 groups along the input dim (last group zero-padded), -1 per output row, 0 per tensor. */
  groupSize: number;
  sym: boolean;
  /** Dtype the scale is cast to before use (default fp16). */
  scaleDtype?: ScaleDType;
  /** Lower bound of |scale| (default 1e-5, or 1e-8 when scaleDtype is fp32). */
  qScaleThresh?: number;
  /** Create tunable alpha/beta (enable_minmax_tuning, default true). */
  minmaxTuning?: boolean;
  /**
   * Round the gradient flowing into the scale to scaleDtype at each autograd edge, as eager
   * PyTorch does for an fp16 scale (default true). False gives the exact-math STE gradient.
   */
  roundScaleGrad?: boolean;
  /**
   * SignRoundV2 (enable_alg_ext), sym only: a fixed scale per group (e.g. from the importance-
   * weighted search) that the tuned max_scale multiplies, scale = cast(initScale · beta), instead
   * of the scale from the group's min/max. There is no alpha; beta is clamped to [0, 2] by the caller.
   */
  initScale?: Float32Array;
}

/** How a weight [out, in] maps onto the grouped view [numScales, groupSize]. */
export interface QdqLayout {
  outFeatures: number;
  inFeatures: number;
  /** The weight as the rows × cols matrix that is grouped (per-tensor: 1 × out·in). */
  rows: number;
  cols: number;
  /** Effective group size (padded columns included). */
  groupSize: number;
  groupsPerRow: number;
  /** Number of scales = rows of V. */
  numScales: number;
}

export function qdqLayout(outFeatures: number, inFeatures: number, groupSize: number): QdqLayout {
  if (!Number.isInteger(groupSize) || groupSize < -1) {
    throw new AutoRoundError('E_GROUP_SIZE', `group_size ${groupSize}: expected -1, 0 or a positive integer`, { subject: 'group_size' });
  }
  let rows = outFeatures;
  let cols = inFeatures;
  let gs: number;
  if (groupSize === 0) {
    rows = 1;
    cols = outFeatures * inFeatures;
    gs = cols;
  } else if (groupSize === -1 || inFeatures < groupSize) gs = inFeatures;
  else gs = groupSize;
  const groupsPerRow = Math.ceil(cols / gs);
  return { outFeatures, inFeatures, rows, cols, groupSize: gs, groupsPerRow, numScales: rows * groupsPerRow };
}

/** weight_min = min(0, min(group)), weight_max = max(0, max(group)) per group (padding is zeros). */
export function groupMinMax(weight: Float32Array, layout: QdqLayout): { wmin: Float32Array; wmax: Float32Array } {
  const { rows, cols, groupSize: gs, groupsPerRow: gpr, numScales } = layout;
  if (weight.length !== rows * cols) {
    throw new AutoRoundError('E_SHAPE', `weight has ${weight.length} values, expected ${layout.outFeatures}×${layout.inFeatures}`, { subject: 'weight' });
  }
  const wmin = new Float32Array(numScales);
  const wmax = new Float32Array(numScales);
  for (let r = 0; r < numScales; r++) {
    const base = Math.floor(r / gpr) * cols;
    const c0 = (r % gpr) * gs;
    const c1 = Math.min(cols, c0 + gs);
    let lo = 0;
    let hi = 0;
    for (let c = c0; c < c1; c++) {
      const w = weight[base + c]!;
      if (w < lo) lo = w;
      if (w > hi) hi = w;
    }
    wmin[r] = lo;
    wmax[r] = hi;
  }
  return { wmin, wmax };
}




/** The tuned state of one quantized linear (AutoRound's WrapperLinear): V, alpha, beta and the fixed group extremes. */
export class QdqParams {
  readonly layout: QdqLayout;
  readonly bits: number;
  readonly sym: boolean;
  readonly scaleDtype: ScaleDType;
  readonly qScaleThresh: number;
  readonly roundScaleGrad: boolean;
  /** Rounding offset V [numScales, groupSize], init 0. */
  readonly v: Param;
  /** min_scale [numScales], init 1 (null without minmax tuning). */
  readonly alpha: Param | null;
  /** max_scale [numScales], init 1 (null without minmax tuning). */
  readonly beta: Param | null;
  readonly wmin: Float32Array;
  readonly wmax: Float32Array;
  /** Per-group base scale of the SignRoundV2 mode (QdqConfig.initScale), or null. */
  readonly initScale: Float32Array | null;

  constructor(weight: Float32Array, outFeatures: number, inFeatures: number, config: QdqConfig) {
    if (!Number.isInteger(config.bits) || config.bits < 1 || config.bits > 14) {
      throw new AutoRoundError('E_BITS', `bits ${config.bits}: expected an integer in [1, 14] (16-bit layers are not quantized)`, { subject: 'bits' });
    }
    if (config.sym && config.bits < 2) throw new AutoRoundError('E_BITS', 'symmetric int quantization needs bits >= 2', { subject: 'bits' });
    this.layout = qdqLayout(outFeatures, inFeatures, config.groupSize);
    this.bits = config.bits;
    this.sym = config.sym;
    this.scaleDtype = config.scaleDtype ?? 'fp16';
    this.qScaleThresh = config.qScaleThresh ?? scaleThresholdValue(this.scaleDtype);
    this.roundScaleGrad = config.roundScaleGrad ?? true;
    const { numScales, groupSize } = this.layout;
    this.v = new Param([numScales, groupSize], 0);
    const mm = config.minmaxTuning ?? true;
    this.initScale = config.initScale ?? null;
    if (this.initScale) {
      if (!config.sym) throw new AutoRoundError('E_UNSUPPORTED', 'initScale (SignRoundV2) applies to symmetric int quantization only', { subject: 'initScale' });
      if (this.initScale.length !== numScales) throw new AutoRoundError('E_SHAPE', `initScale has ${this.initScale.length} values, expected one per group (${numScales})`, { subject: 'initScale' });
    }
    this.alpha = mm && !this.initScale ? new Param([numScales], 1) : null;
    this.beta = mm ? new Param([numScales], 1) : null;
    const { wmin, wmax } = groupMinMax(weight, this.layout);
    this.wmin = wmin;
    this.wmax = wmax;
  }

  params(): Param[] {
    const p = [this.v];
    if (this.alpha) p.push(this.alpha);
    if (this.beta) p.push(this.beta);
    return p;
  }

  zeroGrad(): void {
    for (const p of this.params()) p.zeroGrad();
  }

  /** Clamps alpha and beta into [lo, hi] (AutoRound does [0, 1] before every use). */
  clampMinMax(lo = 0, hi = 1): void {
    for (const p of [this.alpha, this.beta]) {
      if (!p) continue;
      const d = p.data;
      for (let i = 0; i < d.length; i++) d[i] = d[i]! < lo ? lo : d[i]! > hi ? hi : d[i]!;
    }
  }

  get trainable(): boolean {
    return this.params().some((p) => p.requiresGrad);
  }
}

/** Per-group values the forward computes and the backward reuses. */
export interface QdqSaved {
  /** The scale after the cast, before the threshold clamp. */
  scaleCast: Float32Array;
  /** The scale used (after the clamp). */
  scale: Float32Array;
  /** The zero point (asym: round(-wmin/scale); sym: 2^(bits-1)). */
  zp: Float32Array;
  /**
   * Per weight element: round(W/scale + V) + zp clamped to [-1, qmax + 1] — the integer code
   * when inside [0, qmax], a marker of the clamped side otherwise (so the backward needs no division).
   */
  code: Int16Array;
}

/**
 * W_qdq = QDQ(W; V, alpha, beta) into `out` [out, in]; scale/zp per group into `saved`
 * (these are also what export packs).
 */
function elementLayout(p: QdqParams): QdqElementLayout {
  const { rows, cols, groupSize, groupsPerRow, numScales } = p.layout;
  return { rows, cols, groupSize, groupsPerRow, numScales, qmax: 2 ** p.bits - 1 };
}

/**
 * W_qdq = QDQ(W; V, alpha, beta) into `out` [out, in]; scale/zp per group into `saved`.
 * With a backend that has qdqForward the element loops run there (all groups in one call).
 */
export function qdqForward(weight: Float32Array, p: QdqParams, out: Float32Array, saved: QdqSaved, be?: KernelBackend): void {
  const fused = be?.qdqForward ? be : undefined;
  const { rows, cols, groupSize: gs, groupsPerRow: gpr, numScales } = p.layout;
  const cast = scaleCast(p.scaleDtype);
  const thr = cast(p.qScaleThresh);
  const V = p.v.data;
  const A = p.alpha?.data;
  const Bt = p.beta?.data;
  const fr = Math.fround;
  if (weight.length !== rows * cols || out.length !== rows * cols || saved.code.length !== rows * cols) {
    throw new AutoRoundError('E_SHAPE', `qdq: weight/out need ${rows * cols} values`, { subject: 'weight' });
  }
  const qmax = 2 ** p.bits - 1; // codes run over [0, 2^bits − 1] for both (sym subtracts zp = 2^(bits−1))
  for (let r = 0; r < numScales; r++) {
    let s16: number;
    let s: number;
    let zp: number;
    if (p.initScale) {
      s16 = cast(fr(p.initScale[r]! * (Bt ? Bt[r]! : 1)));
      s = s16 < 0 ? (s16 <= -thr ? s16 : -thr) : s16 >= thr ? s16 : thr;
      zp = 2 ** (p.bits - 1);
    } else if (p.sym) {
      const maxq = 2 ** (p.bits - 1);
      const a = -fr(p.wmin[r]! * (A ? A[r]! : 1));
      const b = fr(p.wmax[r]! * (Bt ? Bt[r]! : 1));
      const M = b > a ? b : a;
      const maxV = b < a ? M : -M;
      s16 = cast(fr(maxV / maxq));
      s = s16 < 0 ? (s16 <= -thr ? s16 : -thr) : s16 >= thr ? s16 : thr;
      zp = maxq;
    } else {
      const maxq = qmax;
      const wmin = A ? fr(p.wmin[r]! * A[r]!) : p.wmin[r]!;
      const wmax = Bt ? fr(p.wmax[r]! * Bt[r]!) : p.wmax[r]!;
      s16 = cast(fr(fr(wmax - wmin) / maxq));
      s = s16 >= thr ? s16 : thr;
      zp = roundHalfEven(fr(-wmin / s));
    }
    saved.scaleCast[r] = s16;
    saved.scale[r] = s;
    saved.zp[r] = zp;
    if (fused) continue;
    const c0 = (r % gpr) * gs;
    groupForward(weight, V, out, saved.code, Math.floor(r / gpr) * cols + c0, r * gs, Math.min(cols - c0, gs), s, zp, qmax);
  }
  if (fused) fused.qdqForward!(elementLayout(p), weight, V, saved.scale, saved.zp, out, saved.code);
}

/** The element loop of one group (kept small and monomorphic for the JIT). */
function groupForward(
  weight: Float32Array,
  V: Float32Array,
  out: Float32Array,
  code: Int16Array,
  w0: number,
  v0: number,
  n: number,
  s: number,
  zp: number,
  qmax: number,
): void {
  const fr = Math.fround;
  const hi = qmax + 1;
  for (let c = 0; c < n; c++) {
    const wi = w0 + c;
    // torch: round_ste(W / scale + V) in float32, round half to even; then + zp
    let r = fr(fr(weight[wi]! / s) + V[v0 + c]!) + RNE_MAGIC - RNE_MAGIC + zp;
    if (r < -1) r = -1;
    else if (r > hi) r = hi;
    const v = r | 0;
    code[wi] = v;
    out[wi] = s * ((v < 0 ? 0 : v > qmax ? qmax : v) - zp);
  }
}

/**
 * Backward element loop of one group: adds dV and returns, through acc, the group sums
 * [Σ g·(q−zp), Σ_inside dq·W, Σ_inside dq, Σ dq] with dq = g·scale.
 */
function groupBackward(
  weight: Float32Array,
  gW: Float32Array,
  code: Int16Array,
  dV: Float32Array | null,
  w0: number,
  v0: number,
  n: number,
  s: number,
  zp: number,
  qmax: number,
  acc: Float64Array,
): void {
  if (acc[4] === 0) {
    // V only
    if (!dV) return;
    for (let c = 0; c < n; c++) {
      const v = code[w0 + c]!;
      if (v >= 0 && v <= qmax) dV[v0 + c]! += gW[w0 + c]! * s;
    }
    return;
  }
  let out = 0;
  let divW = 0;
  let sumIn = 0;
  let sumAll = 0;
  for (let c = 0; c < n; c++) {
    const wi = w0 + c;
    const g = gW[wi]!;
    const v = code[wi]!;
    const dq = g * s;
    sumAll += dq;
    if (v >= 0 && v <= qmax) {
      out += g * (v - zp);
      sumIn += dq;
      divW += dq * weight[wi]!;
      if (dV) dV[v0 + c]! += dq;
    } else out += g * ((v < 0 ? 0 : qmax) - zp);
  }
  acc[0] = out;
  acc[1] = divW;
  acc[2] = sumIn;
  acc[3] = sumAll;
}

/** The per-group sums of the fused backward, one buffer per QdqParams reused every iteration (every slot is written each call). */
const groupSumBuffers = new WeakMap<QdqParams, Float64Array>();
function groupSums(p: QdqParams): Float64Array {
  let b = groupSumBuffers.get(p);
  if (!b) groupSumBuffers.set(p, (b = new Float64Array(4 * p.layout.numScales)));
  return b;
}

/**
 * Backward of qdqForward: gW = dL/dW_qdq [out, in]; adds into p.v.grad, p.alpha.grad and
 * p.beta.grad (those whose Param requires grad).
 */
export function qdqBackward(weight: Float32Array, p: QdqParams, saved: QdqSaved, gW: Float32Array, be?: KernelBackend): void {
  const { cols, groupSize: gs, groupsPerRow: gpr, numScales } = p.layout;
  const cast = scaleCast(p.scaleDtype);
  const rg = p.roundScaleGrad ? cast : Math.fround;
  const thr = cast(p.qScaleThresh);
  const fr = Math.fround;
  const dV = p.v.requiresGrad ? p.v.grad : null;
  const A = p.alpha?.data;
  const Bt = p.beta?.data;
  const dA = p.alpha && p.alpha.requiresGrad ? p.alpha.grad : null;
  const dB = p.beta && p.beta.requiresGrad ? p.beta.grad : null;
  const needScale = dA !== null || dB !== null;
  const qmax = 2 ** p.bits - 1;
  const acc = new Float64Array(5);
  acc[4] = needScale ? 1 : 0;
  let accAll: Float64Array | null = null;
  if (be?.qdqBackward) {
    if (!needScale && !dV) return;
    accAll = needScale ? groupSums(p) : null;
    be.qdqBackward(elementLayout(p), weight, gW, saved.code, saved.scale, saved.zp, dV, accAll);
    if (!needScale) return;
  }
  for (let r = 0; r < numScales; r++) {
    const s = saved.scale[r]!;
    const s16 = saved.scaleCast[r]!;
    const zp = saved.zp[r]!;
    let a0: number, a1: number, a2: number, a3: number;
    if (accAll) {
      const o = 4 * r;
      (a0 = accAll[o]!), (a1 = accAll[o + 1]!), (a2 = accAll[o + 2]!), (a3 = accAll[o + 3]!);
    } else {
      const c0 = (r % gpr) * gs;
      groupBackward(weight, gW, saved.code, dV, Math.floor(r / gpr) * cols + c0, r * gs, Math.min(cols - c0, gs), s, zp, qmax, acc);
      if (!needScale) continue;
      (a0 = acc[0]!), (a1 = acc[1]!), (a2 = acc[2]!), (a3 = acc[3]!);
    }
    const accOut = a0; // d/dscale of scale·(q − zp)
    const accDiv = -a1 / (s * s); // d/dscale of W/scale: Σ −dq·W/scale² over the inside
    const sumIn = a2; // to zp through int_w + zp (inside the clamp)
    const sumAll = a3; // to zp through q − zp (negated)
    const gUnsq = rg(rg(accOut) + rg(accDiv));
    if (p.initScale) {
      // scale = cast(initScale · beta): through the threshold clamp, then times initScale
      const pass = s16 < 0 ? s16 <= -thr : s16 >= thr;
      if (dB && pass) dB[r]! += fr(gUnsq * p.initScale[r]!);
    } else if (p.sym) {
      const maxq = 2 ** (p.bits - 1);
      const pass = s16 < 0 ? s16 <= -thr : s16 >= thr;
      const gS = pass ? gUnsq : 0;
      const gMaxV = fr(gS / maxq);
      const a = -fr(p.wmin[r]! * (A ? A[r]! : 1));
      const b = fr(p.wmax[r]! * (Bt ? Bt[r]! : 1));
      const gM = b < a ? gMaxV : -gMaxV;
      let ga: number;
      let gb: number;
      if (a === b) ga = gb = fr(gM / 2);
      else if (b > a) (gb = gM), (ga = 0);
      else (ga = gM), (gb = 0);
      if (dA) dA[r]! += fr(-ga * p.wmin[r]!);
      if (dB) dB[r]! += fr(gb * p.wmax[r]!);
    } else {
      const maxq = qmax;
      const wmin = A ? fr(p.wmin[r]! * A[r]!) : p.wmin[r]!;
      const dz = fr(fr(sumIn) - fr(sumAll));
      const y = fr(-wmin / s);
      const gWminZp = -fr(dz / s);
      const eZp = rg(-dz * fr(y / s));
      const gClamp = rg(gUnsq + eZp);
      const gS = s16 >= thr ? gClamp : 0;
      const gWmax = fr(gS / maxq);
      const gWmin = fr(-gWmax + gWminZp);
      if (dA) dA[r]! += fr(gWmin * p.wmin[r]!);
      if (dB) dB[r]! += fr(gWmax * p.wmax[r]!);
    }
  }
}

/**
 * One-shot QDQ outside a graph (e.g. to unwrap a layer with its best parameters):
 * returns W_qdq plus the per-group scale and zero point.
 */
export function quantizeDequantize(weight: Float32Array, p: QdqParams): { weight: Float32Array; scale: Float32Array; zp: Float32Array } {
  const n = p.layout.numScales;
  const saved: QdqSaved = { scaleCast: new Float32Array(n), scale: new Float32Array(n), zp: new Float32Array(n), code: new Int16Array(weight.length) };
  const out = new Float32Array(weight.length);
  qdqForward(weight, p, out, saved);
  return { weight: out, scale: saved.scale, zp: saved.zp };
}

/**
 * The quantize–dequantize of a frozen weight [out, in] with the tunable state `p` as a value of the graph
 * (docs/algorithms/qdq.md#straight-through-gradients): gradients accumulate into p.v/p.alpha/p.beta.
 */
export function qdqVar(g: Graph, weight: Float32Array, p: QdqParams): Var {
  const { outFeatures: outF, inFeatures: inF, numScales } = p.layout;
  if (weight.length !== outF * inF) throw new AutoRoundError('E_SHAPE', `qdq: weight has ${weight.length} values, expected ${outF}×${inF}`, { subject: 'qdq' });
  return g.custom([outF, inF], p.trainable, {
    forward(out, buffers, be): QdqSaved {
      const saved: QdqSaved = { scaleCast: buffers.float32(numScales), scale: buffers.float32(numScales), zp: buffers.float32(numScales), code: buffers.int16(outF * inF) };
      qdqForward(weight, p, out, saved, be);
      return saved;
    },
    backward: (gW, saved, be) => qdqBackward(weight, p, saved, gW, be),
  });
}
