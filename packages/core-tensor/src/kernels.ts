/**
 * The arguments of a GEMM, C = alpha · op(A) · op(B) + beta · C with op(A) [m,k] and op(B) [k,n];
 * A is stored [m,k] (or [k,m] when transA), B is [k,n] (or [n,k] when transB). alpha defaults to 1, beta to 0.
 * As BLAS: beta = 0 does not read C, alpha = 0 reads neither A nor B; otherwise every product is computed,
 * zeros included (0·NaN and 0·Inf are NaN), on every backend alike.
 */
export type GemmArgs = [
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  alpha?: number,
  beta?: number,
];

/**
 * The compute seam: everything hot goes through a backend. Matrices are row-major float32.
 * gemm computes C = alpha · op(A) · op(B) + beta · C (see GemmArgs).
 */
export interface KernelBackend {
  readonly name: string;
  readonly threads: number;
  gemm(...args: GemmArgs): void;
  /**
   * Optional: a zero-filled Float32Array of n values laid out the way this backend's kernels read fastest
   * (the native backend starts it on a 64-byte cache line). Graph allocates its value and gradient
   * buffers through it; without it they are plain `new Float32Array(n)`. Only speed depends on it.
   */
  allocFloat32?(n: number): Float32Array;
  /**
   * Optional: the same product computed off the JavaScript thread (a native worker), resolving
   * when c holds the result. a, b and c must not be touched until then. Backends without it
   * compute on the calling thread through gemm.
   */
  gemmAsync?(...args: GemmArgs): Promise<void>;
  /**
   * Optional fused grouped-query softmax attention over the token-major layout: q [B·T, H·D],
   * k/v [B·T, KV·D]; writes out [B·T, H·D] and the per-row log-sum-exp lse [B, H, T] (−∞ for a
   * row that the mask removes entirely, whose output is 0). Query head h reads kv head ⌊h·KV/H⌋.
   * NaN and Inf propagate as in the TypeScript tiles: a NaN score makes its row NaN (lse too); a causal
   * row never multiplies a later position's key or value (not even by 0); a removed row stays 0 and
   * passes no gradient. Without it the autograd runs its TypeScript tiles over gemm.
   */
  attentionForward?(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array, shape: AttentionShape): void;
  /**
   * Optional backward of attentionForward from q, k, v, out, gOut and lse: accumulates (+=) into
   * gq/gk/gv, any of which may be null.
   */
  attentionBackward?(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    out: Float32Array,
    gOut: Float32Array,
    lse: Float32Array,
    gq: Float32Array | null,
    gk: Float32Array | null,
    gv: Float32Array | null,
    shape: AttentionShape,
    /** With freshGradients: bit 1/2/4 = gq/gk/gv is fresh (see freshGradients). */
    fresh?: number,
  ): void;
  /**
   * Optional element loop of the weight QDQ, all groups at once (group r covers columns
   * (r mod groupsPerRow)·groupSize… of row ⌊r / groupsPerRow⌋, V row r): code = clamp(rint(f32(f32(W/scale) + V)) + zp,
   * −1, qmax+1), out = scale·(clamp(code, 0, qmax) − zp). Must match the TypeScript loop bit for bit.
   */
  qdqForward?(layout: QdqElementLayout, weight: Float32Array, v: Float32Array, scale: Float32Array, zp: Float32Array, out: Float32Array, code: Int16Array): void;
  /**
   * Optional backward element loop: dV += gW·scale inside the clamp (dV may be null); with acc,
   * per group acc[4r…4r+3] = [Σ g·(q−zp), Σ_inside dq·W, Σ_inside dq, Σ dq] (dq = g·scale), summed in
   * double in element order like the TypeScript loop.
   */
  qdqBackward?(
    layout: QdqElementLayout,
    weight: Float32Array,
    gW: Float32Array,
    code: Int16Array,
    scale: Float32Array,
    zp: Float32Array,
    dV: Float32Array | null,
    acc: Float64Array | null,
  ): void;
  /**
   * Optional fused SwiGLU gate, out = f32(f32(g·σ(g))·u) with core-tensor's fastExp; must match
   * Graph.swiglu's TypeScript loop bit for bit (as must every element kernel below).
   */
  swigluForward?(gate: Float32Array, up: Float32Array, out: Float32Array): void;
  /** Optional SwiGLU backward: accumulates into gGate / gUp (either may be null). */
  swigluBackward?(gate: Float32Array, up: Float32Array, gOut: Float32Array, gGate: Float32Array | null, gUp: Float32Array | null, fresh?: number): void;
  /** Optional RMSNorm over rows of w.length: writes out and the per-row rstd (see Graph.rmsNorm). */
  rmsNormForward?(x: Float32Array, w: Float32Array, out: Float32Array, rstd: Float32Array, eps: number): void;
  /** Optional RMSNorm backward: accumulates into gx / gw (either may be null). */
  rmsNormBackward?(x: Float32Array, w: Float32Array, rstd: Float32Array, gOut: Float32Array, gx: Float32Array | null, gw: Float32Array | null, fresh?: number): void;
  /**
   * Optional rotate_half RoPE on [rows, heads·headDim] with cos/sin tables [positions, headDim] and
   * one table row per token row: forward writes out; backward accumulates the gradient into gx.
   */
  ropeForward?(x: Float32Array, out: Float32Array, cos: Float32Array, sin: Float32Array, positions: Int32Array, shape: RopeShape): void;
  ropeBackward?(gOut: Float32Array, gx: Float32Array, cos: Float32Array, sin: Float32Array, positions: Int32Array, shape: RopeShape, fresh?: number): void;
  /** Optional y = a + b over y's length (float32 sums; Graph.add's loop). */
  addInto?(a: Float32Array, b: Float32Array, y: Float32Array): void;
  /** Optional g += src over g's length (a gradient accumulation of the graph). */
  accumulate?(g: Float32Array, src: Float32Array): void;
  /**
   * Optional Graph.mse loop without dropTop, rows of d: forward returns Σ e² summed in double in element order
   * (e = p − t, or f32(p·m) − f32(t·m) with a per-row mask m); backward adds c·e (c·m·e with a mask, rows with
   * m = 0 skipped) into gp. Both bit for bit as the TypeScript loop.
   */
  mseForward?(pred: Float32Array, target: Float32Array, mask: Float32Array | null, d: number): number;
  mseBackward?(pred: Float32Array, target: Float32Array, mask: Float32Array | null, d: number, c: number, gp: Float32Array, fresh?: number): void;
  /**
   * True when attentionBackward and the element backwards above (swigluBackward, rmsNormBackward's gx, ropeBackward, mseBackward) honour
   * their trailing `fresh` mask: bit i set means the i-th gradient buffer argument holds garbage and receives
   * 0 + value, the bits a zero-filled buffer would hold after the accumulation; the graph then skips the fill
   * (one pass less over each gradient). Backends without it get zero-filled buffers.
   */
  readonly freshGradients?: boolean;
  /** Optional sign step data ← f32(data ∓ lr) where grad ≷ 0 (algo-signround's signStep, bit for bit). */
  signStep?(data: Float32Array, grad: Float32Array, lr: number): void;
}

/** Heads of a fused RoPE call (see KernelBackend.ropeForward). */
export interface RopeShape {
  numHeads: number;
  headDim: number;
  /** Leading dims of each head that rotate (even, ≤ headDim); the rest pass through. */
  rotaryDim: number;
}

/** Shape of a fused attention call (see KernelBackend.attentionForward). */
export interface AttentionShape {
  batch: number;
  seqLen: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  causal: boolean;
  scale: number;
  /** Additive mask [batch, seqLen, seqLen] added after scaling, or undefined. */
  mask?: Float32Array;
}

/** Grouped view of a weight for the QDQ element loops (see KernelBackend.qdqForward). */
export interface QdqElementLayout {
  rows: number;
  cols: number;
  groupSize: number;
  groupsPerRow: number;
  numScales: number;
  /** 2^bits − 1. */
  qmax: number;
}

export interface KernelBackendFactory {
  readonly name: string;
  /** Higher wins when the backend is picked automatically. */
  readonly priority: number;
  /** Whether this backend can run here (an addon built, an instruction set present…). */
  available(): boolean;
  create(options: { threads?: number }): KernelBackend;
}
