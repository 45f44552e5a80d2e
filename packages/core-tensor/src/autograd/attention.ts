import type { AttentionShape, KernelBackend } from '../kernels.js';
import type { Scratch } from './arena.js';
import { fastExp } from './fast-math.js';
import { firstNonFiniteF32 } from '../finite.js';
import { AutoRoundError } from '../errors.js';

// Module-local binding: transpilers that turn ESM imports into getters (tsx, vite-node)
// would otherwise put a property lookup in every hot-loop call.
const exp = fastExp;

/**
 * Grouped-query scaled-dot-product attention over the token-major layout the projections
 * produce: q [batch·seqLen, numHeads·headDim], k/v [batch·seqLen, numKvHeads·headDim].
 * Query head h reads key/value head ⌊h / (numHeads/numKvHeads)⌋ (HF repeat_kv).
 */
export interface AttentionOptions {
  batch: number;
  seqLen: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Causal masking (default true). */
  causal?: boolean;
  /** Optional additive mask [batch, seqLen, seqLen] (HF's 4-D mask with the head dim of 1), added after scaling. */
  mask?: Float32Array;
  /** Score scaling (default 1/√headDim). */
  scale?: number;
  /** Query rows per tile (default 128): bounds scratch memory to blockRows·seqLen and skips the causal upper triangle. */
  blockRows?: number;
  /** Logit soft-capping (Gemma 2's attn_logit_softcapping): each scaled score z becomes c·tanh(z/c) before the mask. */
  softcap?: number;
}

export interface ResolvedAttention {
  B: number;
  T: number;
  H: number;
  KV: number;
  D: number;
  causal: boolean;
  mask: Float32Array | undefined;
  scale: number;
  bq: number;
  softcap: number | undefined;
}

export function resolveAttention(o: AttentionOptions): ResolvedAttention {
  return {
    B: o.batch,
    T: o.seqLen,
    H: o.numHeads,
    KV: o.numKvHeads,
    D: o.headDim,
    causal: o.causal ?? true,
    mask: o.mask,
    scale: o.scale ?? 1 / Math.sqrt(o.headDim),
    bq: Math.max(1, Math.min(o.blockRows ?? 128, o.seqLen)),
    softcap: o.softcap,
  };
}

function shapeOf(o: ResolvedAttention): AttentionShape {
  return { batch: o.B, seqLen: o.T, numHeads: o.H, numKvHeads: o.KV, headDim: o.D, causal: o.causal, scale: o.scale, mask: o.mask };
}

/** Copies a [T, D] column block (starting at col, row stride `stride`) of rows row0.. into dst. */
function pack(src: Float32Array, dst: Float32Array, row0: number, T: number, stride: number, col: number, D: number): void {
  for (let t = 0; t < T; t++) {
    const s = (row0 + t) * stride + col;
    const d = t * D;
    for (let i = 0; i < D; i++) dst[d + i] = src[s + i]!;
  }
}

function unpackAdd(src: Float32Array, dst: Float32Array, row0: number, T: number, stride: number, col: number, D: number): void {
  for (let t = 0; t < T; t++) {
    const s = t * D;
    const d = (row0 + t) * stride + col;
    for (let i = 0; i < D; i++) dst[d + i]! += src[s + i]!;
  }
}

/**
 * What the forward and the backward share: query heads per kv head, the row strides of q and k/v,
 * one head's packed q/k/v [T, D] and the score tile [bq, T] (scratch buffers of the same names).
 */
function headTiles(o: ResolvedAttention, scratch: Scratch) {
  const { T, H, KV, D, bq } = o;
  return {
    nrep: H / KV,
    qs: H * D,
    ks: KV * D,
    Qp: scratch.get('att.q', T * D),
    Kp: scratch.get('att.k', T * D),
    Vp: scratch.get('att.v', T * D),
    S: scratch.get('att.s', bq * T),
  };
}

/**
 * C[m, n] = alpha·A·B + beta·C with A [m, K] whose row i ends at column diag + i when diag < K (the
 * causal diagonal: the zeros right of it are not multiplied, so a NaN or Inf in a later row of B
 * never reaches an earlier row of C). The gemm computes it unless B's rows diag… hold a non-finite
 * value; then a loop that skips those zeros does. The native kernel computes the same sums.
 */
function causalProduct(be: KernelBackend, m: number, n: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, alpha: number, beta: number, diag: number): void {
  if (diag >= K || firstNonFiniteF32(B.subarray(diag * n, K * n)) < 0) {
    be.gemm(false, false, m, n, K, A, B, C, alpha, beta);
    return;
  }
  for (let i = 0; i < m; i++) {
    const lim = Math.min(K, diag + i + 1);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < lim; p++) s += A[i * K + p]! * B[p * n + j]!;
      C[i * n + j] = (beta === 0 ? 0 : beta * C[i * n + j]!) + alpha * s;
    }
  }
}

/**
 * C[K, n] = alpha·Aᵀ·B + beta·C with A [m, K] limited to the causal diagonal as in causalProduct: row p
 * of C takes rows i ≥ p − diag of B only (a gemm unless B holds a non-finite value).
 */
function causalProductT(be: KernelBackend, m: number, n: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, alpha: number, beta: number, diag: number): void {
  if (diag >= K || firstNonFiniteF32(B.subarray(0, m * n)) < 0) {
    be.gemm(true, false, K, n, m, A, B, C, alpha, beta);
    return;
  }
  for (let p = 0; p < K; p++) {
    const i0 = Math.max(0, p - diag);
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = i0; i < m; i++) s += A[i * K + p]! * B[i * n + j]!;
      C[p * n + j] = (beta === 0 ? 0 : beta * C[p * n + j]!) + alpha * s;
    }
  }
}

/**
 * Forward: writes out [B·T, H·D] and the per-row log-sum-exp lse [B, H, T] that the backward
 * uses to rebuild the probabilities tile by tile (nothing of size T² is kept).
 */
export function attentionForward(
  be: KernelBackend,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  lse: Float32Array,
  o: ResolvedAttention,
  scratch: Scratch,
): void {
  // the backends' fused kernels have no soft-capping
  if (be.attentionForward && o.softcap === undefined) {
    be.attentionForward(q, k, v, out, lse, shapeOf(o));
    return;
  }
  const { B, T, H, KV, D, causal, mask, scale, bq, softcap } = o;
  const { nrep, qs, ks, Qp, Kp, Vp, S } = headTiles(o, scratch);
  const Ob = scratch.get('att.ob', bq * D);
  for (let b = 0; b < B; b++) {
    for (let kh = 0; kh < KV; kh++) {
      pack(k, Kp, b * T, T, ks, kh * D, D);
      pack(v, Vp, b * T, T, ks, kh * D, D);
      for (let r = 0; r < nrep; r++) {
        const h = kh * nrep + r;
        pack(q, Qp, b * T, T, qs, h * D, D);
        for (let i0 = 0; i0 < T; i0 += bq) {
          const m = Math.min(bq, T - i0);
          const end = causal ? i0 + m : T;
          const Sv = S.subarray(0, m * end);
          be.gemm(false, true, m, end, D, Qp.subarray(i0 * D, (i0 + m) * D), Kp.subarray(0, end * D), Sv, scale, 0);
          for (let ti = 0; ti < m; ti++) {
            const t = i0 + ti;
            const ro = ti * end;
            const lim = causal ? t + 1 : end;
            if (softcap !== undefined) for (let s = 0; s < lim; s++) Sv[ro + s] = softcap * Math.tanh(Sv[ro + s]! / softcap);
            if (mask) {
              const mo = (b * T + t) * T;
              for (let s = 0; s < lim; s++) Sv[ro + s]! += mask[mo + s]!;
            }
            let mx = -Infinity;
            // a NaN score makes the maximum NaN (and so the whole row NaN), never a row that looks masked
            for (let s = 0; s < lim; s++) {
              const x = Sv[ro + s]!;
              if (x > mx || x !== x) mx = x;
            }
            if (mx === -Infinity) {
              for (let s = 0; s < end; s++) Sv[ro + s] = 0;
              lse[(b * H + h) * T + t] = -Infinity;
              continue;
            }
            let sum = 0;
            for (let s = 0; s < lim; s++) {
              const e = exp(Sv[ro + s]! - mx);
              Sv[ro + s] = e;
              sum += e;
            }
            const inv = 1 / sum;
            for (let s = 0; s < lim; s++) Sv[ro + s]! *= inv;
            for (let s = lim; s < end; s++) Sv[ro + s] = 0;
            lse[(b * H + h) * T + t] = mx + Math.log(sum);
          }
          const Obv = Ob.subarray(0, m * D);
          causalProduct(be, m, D, end, Sv, Vp.subarray(0, end * D), Obv, 1, 0, causal ? i0 : end);
          for (let ti = 0; ti < m; ti++) {
            const d = (b * T + i0 + ti) * qs + h * D;
            const s = ti * D;
            // a row the mask removes entirely is 0 even where a value is NaN or Inf
            if (lse[(b * H + h) * T + i0 + ti] === -Infinity) out.fill(0, d, d + D);
            else for (let i = 0; i < D; i++) out[d + i] = Obv[s + i]!;
          }
        }
      }
    }
  }
}

/**
 * Backward (flash-attention style): recomputes each probability tile from q, k and lse, then
 * dV += Pᵀ·dO, dP = dO·Vᵀ, dS = P∘(dP − rowsum(dO∘O)), dQ = scale·dS·K, dK += scale·dSᵀ·Q.
 * Gradients are accumulated into gq/gk/gv (any may be null when not needed).
 */
/** Whether attentionBackward runs the backend's kernel (which may take fresh gradient buffers) for these options. */
export function attentionBackwardFused(be: KernelBackend, o: ResolvedAttention): boolean {
  return be.attentionBackward !== undefined && o.softcap === undefined;
}

export function attentionBackward(
  be: KernelBackend,
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  out: Float32Array,
  gOut: Float32Array,
  lse: Float32Array,
  gq: Float32Array | null,
  gk: Float32Array | null,
  gv: Float32Array | null,
  o: ResolvedAttention,
  scratch: Scratch,
  fresh = 0,
): void {
  if (attentionBackwardFused(be, o)) {
    be.attentionBackward!(q, k, v, out, gOut, lse, gq, gk, gv, shapeOf(o), fresh);
    return;
  }
  if (fresh !== 0) throw new AutoRoundError('E_UNSUPPORTED', 'attentionBackward: fresh gradient buffers need the backend kernel', { subject: 'attention' });
  const { B, T, H, KV, D, causal, mask, scale, bq, softcap } = o;
  const { nrep, qs, ks, Qp, Kp, Vp, S: P } = headTiles(o, scratch);
  const dP = scratch.get('att.dp', bq * T);
  const dOp = scratch.get('att.do', T * D);
  const dQb = scratch.get('att.dq', bq * D);
  const dKp = scratch.get('att.dk', T * D);
  const dVp = scratch.get('att.dv', T * D);
  const Dv = scratch.get('att.delta', T);
  // soft-capping: the derivative 1 − tanh²(z/c) of each capped score, kept for the tile
  const capD = softcap !== undefined ? scratch.get('att.capd', bq * T) : null;
  const needS = gq !== null || gk !== null;
  for (let b = 0; b < B; b++) {
    for (let kh = 0; kh < KV; kh++) {
      pack(k, Kp, b * T, T, ks, kh * D, D);
      pack(v, Vp, b * T, T, ks, kh * D, D);
      dKp.fill(0);
      dVp.fill(0);
      for (let r = 0; r < nrep; r++) {
        const h = kh * nrep + r;
        pack(q, Qp, b * T, T, qs, h * D, D);
        pack(gOut, dOp, b * T, T, qs, h * D, D);
        for (let t = 0; t < T; t++) {
          const ro = (b * T + t) * qs + h * D;
          let s = 0;
          for (let i = 0; i < D; i++) s += gOut[ro + i]! * out[ro + i]!;
          Dv[t] = s;
        }
        for (let i0 = 0; i0 < T; i0 += bq) {
          const m = Math.min(bq, T - i0);
          const end = causal ? i0 + m : T;
          const Pv = P.subarray(0, m * end);
          const Qb = Qp.subarray(i0 * D, (i0 + m) * D);
          const dOb = dOp.subarray(i0 * D, (i0 + m) * D);
          be.gemm(false, true, m, end, D, Qb, Kp.subarray(0, end * D), Pv, scale, 0);
          const diag = causal ? i0 : end;
          for (let ti = 0; ti < m; ti++) {
            const t = i0 + ti;
            const ro = ti * end;
            const lim = causal ? t + 1 : end;
            const l = lse[(b * H + h) * T + t]!;
            if (l === -Infinity) {
              // no gradient through a removed row: its dO and q take no part in the products below
              // (0·NaN would otherwise reach dV and dK); Qb and dOb are this tile's rows of the packed copies
              for (let s = 0; s < end; s++) Pv[ro + s] = 0;
              Qb.fill(0, ti * D, (ti + 1) * D);
              dOb.fill(0, ti * D, (ti + 1) * D);
              continue;
            }
            if (capD) {
              for (let s = 0; s < lim; s++) {
                const u = Math.tanh(Pv[ro + s]! / softcap!);
                capD[ro + s] = 1 - u * u;
                Pv[ro + s] = softcap! * u;
              }
            }
            if (mask) {
              const mo = (b * T + t) * T;
              for (let s = 0; s < lim; s++) Pv[ro + s] = exp(Pv[ro + s]! + mask[mo + s]! - l);
            } else {
              for (let s = 0; s < lim; s++) Pv[ro + s] = exp(Pv[ro + s]! - l);
            }
            for (let s = lim; s < end; s++) Pv[ro + s] = 0;
          }
          if (gv) causalProductT(be, m, D, end, Pv, dOb, dVp.subarray(0, end * D), 1, 1, diag);
          if (!needS) continue;
          const dPv = dP.subarray(0, m * end);
          be.gemm(false, true, m, end, D, dOb, Vp.subarray(0, end * D), dPv, 1, 0);
          for (let ti = 0; ti < m; ti++) {
            const ro = ti * end;
            const dl = Dv[i0 + ti]!;
            const lim = lse[(b * H + h) * T + i0 + ti] === -Infinity ? 0 : causal ? i0 + ti + 1 : end;
            for (let s = 0; s < lim; s++) dPv[ro + s] = Pv[ro + s]! * (dPv[ro + s]! - dl);
            if (capD) for (let s = 0; s < lim; s++) dPv[ro + s]! *= capD[ro + s]!;
            for (let s = lim; s < end; s++) dPv[ro + s] = 0;
          }
          if (gq) {
            const dQv = dQb.subarray(0, m * D);
            causalProduct(be, m, D, end, dPv, Kp.subarray(0, end * D), dQv, scale, 0, diag);
            // 0·K[j] would carry a NaN key into a removed row, which has no gradient
            for (let ti = 0; ti < m; ti++) if (lse[(b * H + h) * T + i0 + ti] === -Infinity) dQv.fill(0, ti * D, (ti + 1) * D);
            unpackAdd(dQv, gq, b * T + i0, m, qs, h * D, D);
          }
          if (gk) causalProductT(be, m, D, end, dPv, Qb, dKp.subarray(0, end * D), scale, 1, diag);
        }
      }
      if (gk) unpackAdd(dKp, gk, b * T, T, ks, kh * D, D);
      if (gv) unpackAdd(dVp, gv, b * T, T, ks, kh * D, D);
    }
  }
}
