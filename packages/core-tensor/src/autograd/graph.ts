import type { KernelBackend } from '../kernels.js';
import { AutoRoundError } from '../errors.js';
import { numelOf } from '../dtype.js';
import { Arena, Scratch } from './arena.js';
import { type AttentionOptions, attentionBackward, attentionBackwardFused, attentionForward, resolveAttention } from './attention.js';
import { fastExp } from './fast-math.js';

// Module-local binding: transpilers that turn ESM imports into getters (tsx, vite-node)
// would otherwise put a property lookup in every hot-loop call.
const exp = fastExp;
import { Param } from './param.js';

/** Buffers a custom op may take for one tape (recycled at the graph's reset). */
export interface OpBuffers {
  float32(n: number): Float32Array;
  int16(n: number): Int16Array;
}

/**
 * A leaf-like operation defined outside core-tensor (Graph.custom): `forward` fills the value and returns
 * what its backward needs; `backward` gets the value's gradient and that state.
 */
export interface CustomOp<S = unknown> {
  forward(out: Float32Array, buffers: OpBuffers, backend: KernelBackend): S;
  backward?(gradOut: Float32Array, state: S, backend: KernelBackend): void;
}

/**
 * A value on the tape: float32 data with an explicit shape. `grad` is filled by
 * `Graph.backward` (null until a gradient reaches it). Reshaped views share data and grad.
 */
export class Var {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly requiresGrad: boolean;
  /** @internal the var owning the gradient buffer (itself unless this is a reshape view) */
  readonly root: Var;
  /** @internal */
  _grad: Float32Array | null = null;

  constructor(shape: readonly number[], data: Float32Array, requiresGrad: boolean, root?: Var) {
    this.shape = shape;
    this.data = data;
    this.requiresGrad = requiresGrad;
    this.root = root ?? this;
  }

  get size(): number {
    return this.data.length;
  }

  /** The gradient of the last backward pass (null when none reached this value). */
  get grad(): Float32Array | null {
    return this.root._grad;
  }

  /** The last dimension. */
  get lastDim(): number {
    return this.shape.length === 0 ? 1 : this.shape[this.shape.length - 1]!;
  }
}

export interface RopeOptions {
  numHeads: number;
  headDim: number;
  /** Leading dims rotated with rotate_half (default headDim); the rest pass through. */
  rotaryDim?: number;
  /** Row of cos/sin for each token row of x (length rows); default: row % seqLen. */
  positions?: Int32Array | readonly number[];
  /** Tokens per sequence, used when positions are not given (default: every row is its own position). */
  seqLen?: number;
}

export interface MseOptions {
  /** Per-token weights (length rows = numel / lastDim), broadcast over the last dim: mse(pred·m, target·m). */
  mask?: Float32Array;
  /** 'mean' (default) divides by numel (masked elements included), 'sum' does not. */
  reduction?: 'mean' | 'sum';
  /**
   * Leaves out the `dropTop` elements with the largest |pred − target| (after the mask; ties go to
   * the lower index) from the loss and its gradient; 'mean' then divides by numel − dropTop.
   * SignRoundV2's outlier-suppressed loss uses max(1, floor(numel / 1000)).
   */
  dropTop?: number;
}

function shapeError(op: string, msg: string): AutoRoundError {
  return new AutoRoundError('E_SHAPE', `${op}: ${msg}`, { subject: op });
}

/**
 * Reverse-mode autograd over float32 arrays: each op computes its forward at once, records a
 * hand-written backward on the tape and allocates its buffers from an arena that `reset()`
 * recycles, so rebuilding the same block every iteration allocates nothing after the first.
 *
 * ```ts
 * const g = new Graph(backend);
 * for (let it = 0; it < iters; it++) {
 *   g.reset();                                   // recycle buffers of the previous iteration
 *   const x = g.input(hidden, [B * T, H]);
 *   const y = model.blockGraph(g, x, index, inject, B, T); // @autoround/models' block on this graph
 *   const loss = g.mse(y, target, { mask });
 *   g.backward(g.scale(loss, 1000));             // grads land in each Param.grad
 * }
 * ```
 * Values returned by a graph stay valid only until the next `reset()`.
 */
export class Graph {
  readonly backend: KernelBackend;
  private readonly dataArena: Arena;
  private readonly gradArena: Arena;
  private readonly codeArena = new Arena<Int16Array>((n) => new Int16Array(n));
  private readonly scratch = new Scratch();
  private readonly tapeOut: Var[] = [];
  private readonly tapeFn: (() => void)[] = [];
  private readonly paramVars = new Map<Param, Var>();
  private gradEnabled = true;
  private backwardDone = false;

  constructor(backend: KernelBackend) {
    this.backend = backend;
    // the backend's own layout for the large value and gradient buffers (KernelBackend.allocFloat32)
    const make = backend.allocFloat32 ? (n: number) => backend.allocFloat32!(n) : undefined;
    this.dataArena = new Arena(make);
    this.gradArena = new Arena(make);
  }

  /** Forgets the tape and recycles every buffer handed out since the last reset. */
  reset(): void {
    this.dataArena.reset();
    this.gradArena.reset();
    this.codeArena.reset();
    this.tapeOut.length = 0;
    this.tapeFn.length = 0;
    this.paramVars.clear();
    this.backwardDone = false;
  }

  /** Runs fn with gradient recording off (like torch.no_grad): every value it creates is a constant. */
  withoutGrad<T>(fn: () => T): T {
    const was = this.gradEnabled;
    this.gradEnabled = false;
    try {
      return fn();
    } finally {
      this.gradEnabled = was;
    }
  }

  /** Number of recorded backward steps (for diagnostics). */
  get tapeLength(): number {
    return this.tapeOut.length;
  }

  /** Bytes held by the arenas (for diagnostics); stays flat once an iteration has run with the final shapes. */
  get heldBytes(): number {
    return this.dataArena.heldBytes + this.gradArena.heldBytes + this.codeArena.heldBytes;
  }

  // ---------------------------------------------------------------- leaves

  /** A constant (no gradient); the array is used as is, not copied. */
  input(data: Float32Array, shape: readonly number[]): Var {
    if (numelOf(shape) !== data.length) throw shapeError('input', `shape [${shape.join(', ')}] needs ${numelOf(shape)} values, got ${data.length}`);
    return new Var(Object.freeze([...shape]), data, false);
  }

  /** A leaf whose gradient is wanted for this pass only (read it from `.grad` after backward). */
  leaf(data: Float32Array, shape: readonly number[]): Var {
    if (numelOf(shape) !== data.length) throw shapeError('leaf', `shape [${shape.join(', ')}] needs ${numelOf(shape)} values, got ${data.length}`);
    return new Var(Object.freeze([...shape]), data, this.gradEnabled);
  }

  /** A tunable parameter: its gradient accumulates into `p.grad`. */
  param(p: Param): Var {
    if (!this.gradEnabled || !p.requiresGrad) return new Var(p.shape, p.data, false);
    let v = this.paramVars.get(p);
    if (v) return v;
    v = new Var(p.shape, p.data, true);
    v._grad = p.grad;
    this.paramVars.set(p, v);
    return v;
  }

  /** Same data, new shape (no copy); gradients flow to the source. */
  reshape(x: Var, shape: readonly number[]): Var {
    if (numelOf(shape) !== x.size) throw shapeError('reshape', `[${x.shape.join(', ')}] cannot become [${shape.join(', ')}]`);
    return new Var(Object.freeze([...shape]), x.data, x.requiresGrad, x.root);
  }

  // ---------------------------------------------------------------- plumbing

  private out(shape: readonly number[], requiresGrad: boolean): Var {
    return new Var(Object.freeze([...shape]), this.dataArena.take(numelOf(shape)), requiresGrad && this.gradEnabled);
  }

  private record(y: Var, fn: () => void): void {
    if (!y.requiresGrad) return;
    this.tapeOut.push(y);
    this.tapeFn.push(fn);
  }

  /** The gradient buffer of v, zero-filled on first use. */
  private gradZeroed(v: Var): Float32Array {
    const r = v.root;
    if (r._grad === null) r._grad = this.gradArena.zeros(r.size);
    return r._grad;
  }

  /** The gradient buffer of v plus the gemm beta: 0 on first use (buffer uninitialised), else 1. */
  private gradForGemm(v: Var): [Float32Array, number] {
    const r = v.root;
    if (r._grad === null) {
      r._grad = this.gradArena.take(r.size);
      return [r._grad, 0];
    }
    return [r._grad, 1];
  }

  /**
   * The gradient buffer of v for a backend kernel with a `fresh` mask (KernelBackend.freshGradients): on first use
   * an uninitialised buffer and `bit`, which the kernel then overwrites with 0 + value; else the buffer and 0.
   * Backends without freshGradients get it zero-filled (and 0).
   */
  private gradFresh(v: Var, bit: number): [Float32Array, number] {
    if (!this.backend.freshGradients) return [this.gradZeroed(v), 0];
    const r = v.root;
    if (r._grad === null) {
      r._grad = this.gradArena.take(r.size);
      return [r._grad, bit];
    }
    return [r._grad, 0];
  }

  /**
   * v.grad += src (a copy on first use). With `adopt`, a first use takes src itself as v's gradient: src must be
   * a finished gradient of the tape that nothing writes or reads afterwards (an add's output gradient, whose
   * backward is running). Returns whether it did.
   */
  private accumulate(v: Var, src: Float32Array, adopt = false): boolean {
    const r = v.root;
    if (r._grad === null && adopt && src.length === r.size) {
      r._grad = src;
      return true;
    }
    if (r._grad === null) {
      r._grad = this.gradArena.take(r.size);
      r._grad.set(src);
      return false;
    }
    const g = r._grad;
    if (this.backend.accumulate) this.backend.accumulate(g, src);
    else for (let i = 0; i < g.length; i++) g[i]! += src[i]!;
    return false;
  }

  private sameShape(op: string, a: Var, b: Var): void {
    if (a.size !== b.size) throw shapeError(op, `operands have ${a.size} and ${b.size} elements ([${a.shape.join(', ')}] vs [${b.shape.join(', ')}])`);
  }

  // ---------------------------------------------------------------- ops

  /** y[..., out] = x[..., in] · Wᵀ + b, with W [out, in] and b [out]. */
  linear(x: Var, w: Var, b?: Var | null): Var {
    if (w.shape.length !== 2) throw shapeError('linear', `weight must be 2-D [out, in], got [${w.shape.join(', ')}]`);
    const [outF, inF] = w.shape as [number, number];
    if (x.lastDim !== inF) throw shapeError('linear', `input last dim ${x.lastDim} does not match weight in_features ${inF}`);
    if (b && b.size !== outF) throw shapeError('linear', `bias has ${b.size} values, expected ${outF}`);
    const N = x.size / inF;
    const y = this.out([...x.shape.slice(0, -1), outF], x.requiresGrad || w.requiresGrad || (b?.requiresGrad ?? false));
    const be = this.backend;
    be.gemm(false, true, N, outF, inF, x.data, w.data, y.data, 1, 0);
    if (b) {
      const bd = b.data;
      const yd = y.data;
      for (let n = 0; n < N; n++) {
        const o = n * outF;
        for (let j = 0; j < outF; j++) yd[o + j]! += bd[j]!;
      }
    }
    this.record(y, () => {
      const gy = y._grad!;
      if (x.requiresGrad) {
        const [gx, beta] = this.gradForGemm(x);
        be.gemm(false, false, N, inF, outF, gy, w.data, gx, 1, beta);
      }
      if (w.requiresGrad) {
        const [gw, beta] = this.gradForGemm(w);
        be.gemm(true, false, outF, inF, N, gy, x.data, gw, 1, beta);
      }
      if (b && b.requiresGrad) {
        const gb = this.gradZeroed(b);
        for (let n = 0; n < N; n++) {
          const o = n * outF;
          for (let j = 0; j < outF; j++) gb[j]! += gy[o + j]!;
        }
      }
    });
    return y;
  }

  /**
   * A straight-through estimator: the value is `f(x)` (e.g. an activation quantize–dequantize, written into
   * `out`), the gradient reaches x unchanged, as `x + (f(x) − x).detach()` but with f(x) exact in float32.
   */
  straightThrough(x: Var, f: (x: Float32Array, out: Float32Array) => void): Var {
    const y = this.out(x.shape, x.requiresGrad);
    f(x.data, y.data);
    this.record(y, () => this.accumulate(x, y._grad!));
    return y;
  }

  add(a: Var, b: Var): Var {
    this.sameShape('add', a, b);
    const y = this.out(a.shape, a.requiresGrad || b.requiresGrad);
    const ad = a.data;
    const bd = b.data;
    const yd = y.data;
    if (this.backend.addInto) this.backend.addInto(ad, bd, yd);
    else for (let i = 0; i < yd.length; i++) yd[i] = ad[i]! + bd[i]!;
    this.record(y, () => {
      // y's gradient is final here and read by nobody after this step: one operand may adopt it (no copy)
      const adopted = a.requiresGrad && this.accumulate(a, y._grad!, true);
      if (b.requiresGrad) this.accumulate(b, y._grad!, !adopted);
    });
    return y;
  }

  mul(a: Var, b: Var): Var {
    this.sameShape('mul', a, b);
    const y = this.out(a.shape, a.requiresGrad || b.requiresGrad);
    const ad = a.data;
    const bd = b.data;
    const yd = y.data;
    for (let i = 0; i < yd.length; i++) yd[i] = ad[i]! * bd[i]!;
    this.record(y, () => {
      const gy = y._grad!;
      if (a.requiresGrad) {
        const ga = this.gradZeroed(a);
        for (let i = 0; i < gy.length; i++) ga[i]! += gy[i]! * bd[i]!;
      }
      if (b.requiresGrad) {
        const gb = this.gradZeroed(b);
        for (let i = 0; i < gy.length; i++) gb[i]! += gy[i]! * ad[i]!;
      }
    });
    return y;
  }

  /** y = s · x for a constant s (e.g. the ×1000 on the loss). */
  scale(x: Var, s: number): Var {
    const y = this.out(x.shape, x.requiresGrad);
    const xd = x.data;
    const yd = y.data;
    for (let i = 0; i < yd.length; i++) yd[i] = s * xd[i]!;
    this.record(y, () => {
      const gy = y._grad!;
      const gx = this.gradZeroed(x);
      for (let i = 0; i < gy.length; i++) gx[i]! += s * gy[i]!;
    });
    return y;
  }

  /** HF LlamaRMSNorm over the last w.size elements: w · (x · rsqrt(mean(x²) + eps)), float32. */
  rmsNorm(x: Var, w: Var, eps: number): Var {
    const d = w.size;
    if (x.size % d !== 0) throw shapeError('rmsNorm', `input of ${x.size} values is not a whole number of rows of ${d}`);
    const rows = x.size / d;
    const y = this.out(x.shape, x.requiresGrad || w.requiresGrad);
    const rstd = this.dataArena.take(rows);
    const xd = x.data;
    const wd = w.data;
    const yd = y.data;
    const fr = Math.fround;
    const be = this.backend;
    if (be.rmsNormForward && be.rmsNormBackward) {
      be.rmsNormForward(xd, wd, yd, rstd, eps);
      this.record(y, () => {
        const [gx, fresh] = x.requiresGrad ? this.gradFresh(x, 1) : [null, 0];
        be.rmsNormBackward!(xd, wd, rstd, y._grad!, gx, w.requiresGrad ? this.gradZeroed(w) : null, fresh);
      });
      return y;
    }
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      let ss = 0;
      for (let i = 0; i < d; i++) ss += xd[o + i]! * xd[o + i]!;
      const rs = fr(1 / Math.sqrt(fr(fr(ss / d) + eps)));
      rstd[r] = rs;
      for (let i = 0; i < d; i++) yd[o + i] = wd[i]! * fr(xd[o + i]! * rs);
    }
    this.record(y, () => {
      const gy = y._grad!;
      const gx = x.requiresGrad ? this.gradZeroed(x) : null;
      const gw = w.requiresGrad ? this.gradZeroed(w) : null;
      for (let r = 0; r < rows; r++) {
        const o = r * d;
        const rs = rstd[r]!;
        if (gx) {
          let dot = 0;
          for (let i = 0; i < d; i++) dot += gy[o + i]! * wd[i]! * xd[o + i]!;
          const c = (rs * rs * rs * dot) / d;
          for (let i = 0; i < d; i++) gx[o + i]! += rs * gy[o + i]! * wd[i]! - xd[o + i]! * c;
        }
        if (gw) for (let i = 0; i < d; i++) gw[i]! += gy[o + i]! * xd[o + i]! * rs;
      }
    });
    return y;
  }

  /**
   * Rotary embedding with HF's rotate_half: x·cos + rotate_half(x)·sin per head, on
   * x [rows, numHeads·headDim]; cos/sin are tables [positions, headDim] (row stride headDim).
   */
  rope(x: Var, cos: Float32Array, sin: Float32Array, o: RopeOptions): Var {
    const { numHeads: H, headDim: D } = o;
    const rot = o.rotaryDim ?? D;
    if (x.lastDim !== H * D) throw shapeError('rope', `last dim ${x.lastDim} is not numHeads·headDim = ${H * D}`);
    if (rot % 2 !== 0 || rot > D) throw shapeError('rope', `rotaryDim ${rot} must be even and at most headDim ${D}`);
    if (cos.length !== sin.length || cos.length % D !== 0) throw shapeError('rope', `cos/sin tables must both be [positions, ${D}]`);
    const rows = x.size / (H * D);
    const P = cos.length / D;
    const pos = new Int32Array(rows);
    for (let n = 0; n < rows; n++) {
      const p = o.positions ? o.positions[n]! : o.seqLen ? n % o.seqLen : n;
      if (p < 0 || p >= P) throw shapeError('rope', `position ${p} of row ${n} is outside the ${P}-row cos/sin tables`);
      pos[n] = p;
    }
    if (o.positions && o.positions.length !== rows) throw shapeError('rope', `positions has ${o.positions.length} entries, expected ${rows}`);
    const half = rot / 2;
    const y = this.out(x.shape, x.requiresGrad);
    const xd = x.data;
    const yd = y.data;
    const be = this.backend;
    if (be.ropeForward && be.ropeBackward) {
      const shape = { numHeads: H, headDim: D, rotaryDim: rot };
      be.ropeForward(xd, yd, cos, sin, pos, shape);
      this.record(y, () => {
        const [gx, fresh] = this.gradFresh(x, 1);
        be.ropeBackward!(y._grad!, gx, cos, sin, pos, shape, fresh);
      });
      return y;
    }
    for (let n = 0; n < rows; n++) {
      const cb = pos[n]! * D;
      for (let h = 0; h < H; h++) {
        const b = (n * H + h) * D;
        for (let i = 0; i < half; i++) {
          const x1 = xd[b + i]!;
          const x2 = xd[b + half + i]!;
          yd[b + i] = x1 * cos[cb + i]! - x2 * sin[cb + i]!;
          yd[b + half + i] = x2 * cos[cb + half + i]! + x1 * sin[cb + half + i]!;
        }
        for (let i = rot; i < D; i++) yd[b + i] = xd[b + i]!;
      }
    }
    this.record(y, () => {
      const gy = y._grad!;
      const gx = this.gradZeroed(x);
      for (let n = 0; n < rows; n++) {
        const cb = pos[n]! * D;
        for (let h = 0; h < H; h++) {
          const b = (n * H + h) * D;
          for (let i = 0; i < half; i++) {
            const g1 = gy[b + i]!;
            const g2 = gy[b + half + i]!;
            gx[b + i]! += g1 * cos[cb + i]! + g2 * sin[cb + half + i]!;
            gx[b + half + i]! += g2 * cos[cb + half + i]! - g1 * sin[cb + i]!;
          }
          for (let i = rot; i < D; i++) gx[b + i]! += gy[b + i]!;
        }
      }
    });
    return y;
  }

  /**
   * Grouped-query softmax attention (causal by default) with scaling 1/√headDim on
   * q [B·T, H·D], k/v [B·T, KV·D] → [B·T, H·D]. Keeps only a log-sum-exp per row for the
   * backward, which rebuilds the probabilities tile by tile.
   */
  attention(q: Var, k: Var, v: Var, opts: AttentionOptions): Var {
    const o = resolveAttention(opts);
    const { B, T, H, KV, D } = o;
    if (H % KV !== 0) throw shapeError('attention', `numHeads ${H} is not a multiple of numKvHeads ${KV}`);
    if (q.size !== B * T * H * D) throw shapeError('attention', `q has ${q.size} values, expected batch·seqLen·numHeads·headDim = ${B * T * H * D}`);
    if (k.size !== B * T * KV * D || v.size !== B * T * KV * D) throw shapeError('attention', `k/v need batch·seqLen·numKvHeads·headDim = ${B * T * KV * D} values`);
    if (o.mask && o.mask.length !== B * T * T) throw shapeError('attention', `mask has ${o.mask.length} values, expected [batch, seqLen, seqLen] = ${B * T * T}`);
    const y = this.out([B * T, H * D], q.requiresGrad || k.requiresGrad || v.requiresGrad);
    const lse = this.dataArena.take(B * H * T);
    attentionForward(this.backend, q.data, k.data, v.data, y.data, lse, o, this.scratch);
    this.record(y, () => {
      // the backend's kernel writes fresh gradient buffers itself; the TypeScript tiles add into zeroed ones
      const fused = attentionBackwardFused(this.backend, o);
      const grad = (x: Var, bit: number): [Float32Array | null, number] => (!x.requiresGrad ? [null, 0] : fused ? this.gradFresh(x, bit) : [this.gradZeroed(x), 0]);
      const [gq, fq] = grad(q, 1);
      const [gk, fk] = grad(k, 2);
      const [gv, fv] = grad(v, 4);
      attentionBackward(this.backend, q.data, k.data, v.data, y.data, y._grad!, lse, gq, gk, gv, o, this.scratch, fq | fk | fv);
    });
    return y;
  }

  /** x · sigmoid(x). */
  silu(x: Var): Var {
    const y = this.out(x.shape, x.requiresGrad);
    const xd = x.data;
    const yd = y.data;
    for (let i = 0; i < yd.length; i++) yd[i] = xd[i]! / (1 + exp(-xd[i]!));
    this.record(y, () => {
      const gy = y._grad!;
      const gx = this.gradZeroed(x);
      for (let i = 0; i < gy.length; i++) {
        const a = xd[i]!;
        const s = 1 / (1 + exp(-a));
        gx[i]! += gy[i]! * s * (1 + a * (1 - s));
      }
    });
    return y;
  }

  /** Fused SwiGLU gate: silu(gate) · up (the input of down_proj). */
  swiglu(gate: Var, up: Var): Var {
    this.sameShape('swiglu', gate, up);
    const y = this.out(gate.shape, gate.requiresGrad || up.requiresGrad);
    const gd = gate.data;
    const ud = up.data;
    const yd = y.data;
    const fr = Math.fround;
    const be = this.backend;
    if (be.swigluForward && be.swigluBackward) {
      be.swigluForward(gd, ud, yd);
      this.record(y, () => {
        const [gg, fg] = gate.requiresGrad ? this.gradFresh(gate, 1) : [null, 0];
        const [gu, fu] = up.requiresGrad ? this.gradFresh(up, 2) : [null, 0];
        be.swigluBackward!(gd, ud, y._grad!, gg, gu, fg | fu);
      });
      return y;
    }
    for (let i = 0; i < yd.length; i++) yd[i] = fr(gd[i]! / (1 + exp(-gd[i]!))) * ud[i]!;
    this.record(y, () => {
      const gy = y._grad!;
      const gg = gate.requiresGrad ? this.gradZeroed(gate) : null;
      const gu = up.requiresGrad ? this.gradZeroed(up) : null;
      for (let i = 0; i < gy.length; i++) {
        const a = gd[i]!;
        const s = 1 / (1 + exp(-a));
        if (gg) gg[i]! += gy[i]! * ud[i]! * s * (1 + a * (1 - s));
        if (gu) gu[i]! += gy[i]! * a * s;
      }
    });
    return y;
  }

  /**
   * Columns from … from + width of each row of x [rows, n] (a new [rows, width] var): the pieces of a
   * fused projection (Phi-3's qkv_proj and gate_up_proj).
   */
  columns(x: Var, from: number, width: number): Var {
    const n = x.lastDim;
    if (!Number.isInteger(from) || !Number.isInteger(width) || from < 0 || width < 1 || from + width > n) throw shapeError('columns', `columns ${from}…${from + width - 1} are outside rows of ${n}`);
    const rows = x.size / n;
    const y = this.out([rows, width], x.requiresGrad);
    const xd = x.data;
    const yd = y.data;
    for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) yd[r * width + i] = xd[r * n + from + i]!;
    this.record(y, () => {
      const gy = y._grad!;
      const gx = this.gradZeroed(x);
      for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) gx[r * n + from + i]! += gy[r * width + i]!;
    });
    return y;
  }

  /**
   * GeGLU with the tanh GELU (PyTorch's gelu(approximate="tanh"), Gemma's gelu_pytorch_tanh):
   * gelu(gate) · up, the input of Gemma's down_proj.
   */
  geglu(gate: Var, up: Var): Var {
    this.sameShape('geglu', gate, up);
    const y = this.out(gate.shape, gate.requiresGrad || up.requiresGrad);
    const gd = gate.data;
    const ud = up.data;
    const yd = y.data;
    for (let i = 0; i < yd.length; i++) yd[i] = Math.fround(geluTanh(gd[i]!)) * ud[i]!;
    this.record(y, () => {
      const gy = y._grad!;
      const gg = gate.requiresGrad ? this.gradZeroed(gate) : null;
      const gu = up.requiresGrad ? this.gradZeroed(up) : null;
      for (let i = 0; i < gy.length; i++) {
        const a = gd[i]!;
        if (gg) gg[i]! += gy[i]! * ud[i]! * geluTanhGrad(a);
        if (gu) gu[i]! += gy[i]! * geluTanh(a);
      }
    });
    return y;
  }

  /** Soft-capping c · tanh(x / c) (Gemma 2's final_logit_softcapping). */
  softcap(x: Var, c: number): Var {
    const y = this.out(x.shape, x.requiresGrad);
    const xd = x.data;
    const yd = y.data;
    for (let i = 0; i < yd.length; i++) yd[i] = c * Math.tanh(xd[i]! / c);
    this.record(y, () => {
      const gy = y._grad!;
      const gx = this.gradZeroed(x);
      for (let i = 0; i < gy.length; i++) {
        const u = Math.tanh(xd[i]! / c);
        gx[i]! += gy[i]! * (1 - u * u);
      }
    });
    return y;
  }

  /**
   * Rows of x [rows, d] picked by index: y[i] = x[rows[i]] (a mixture-of-experts layer's routed tokens);
   * the gradient scatters back (docs/models/moe.md).
   */
  gatherRows(x: Var, rows: Int32Array): Var {
    const d = x.lastDim;
    const n = x.size / d;
    for (const r of rows) if (r < 0 || r >= n) throw shapeError('gatherRows', `row ${r} outside 0..${n - 1}`);
    const y = this.out([rows.length, d], x.requiresGrad);
    const xd = x.data;
    const yd = y.data;
    for (let i = 0; i < rows.length; i++) yd.set(xd.subarray(rows[i]! * d, (rows[i]! + 1) * d), i * d);
    this.record(y, () => {
      const gy = y._grad!;
      const gx = this.gradZeroed(x);
      for (let i = 0; i < rows.length; i++) {
        const o = rows[i]! * d;
        for (let j = 0; j < d; j++) gx[o + j]! += gy[i * d + j]!;
      }
    });
    return y;
  }

  /**
   * Σ over parts of weights[i] · y[i] added into row rows[i] of a zero [totalRows, d], the parts in order
   * (a mixture-of-experts layer's index_add of each expert's weighted output). The weights are constants.
   */
  scatterRows(parts: readonly { readonly y: Var; readonly rows: Int32Array; readonly weights: Float32Array }[], totalRows: number, d: number): Var {
    for (const p of parts) {
      if (p.y.size !== p.rows.length * d || p.weights.length !== p.rows.length) throw shapeError('scatterRows', `a part of ${p.y.size} values for ${p.rows.length} rows of ${d} and ${p.weights.length} weights`);
      for (const r of p.rows) if (r < 0 || r >= totalRows) throw shapeError('scatterRows', `row ${r} outside 0..${totalRows - 1}`);
    }
    const y = this.out([totalRows, d], parts.some((p) => p.y.requiresGrad));
    const yd = y.data;
    yd.fill(0);
    for (const { y: v, rows, weights } of parts) {
      const vd = v.data;
      for (let i = 0; i < rows.length; i++) {
        const o = rows[i]! * d;
        const w = weights[i]!;
        for (let j = 0; j < d; j++) yd[o + j]! += Math.fround(vd[i * d + j]! * w);
      }
    }
    this.record(y, () => {
      const gy = y._grad!;
      for (const { y: v, rows, weights } of parts) {
        if (!v.requiresGrad) continue;
        const gv = this.gradZeroed(v);
        for (let i = 0; i < rows.length; i++) {
          const o = rows[i]! * d;
          const w = weights[i]!;
          for (let j = 0; j < d; j++) gv[i * d + j]! += gy[o + j]! * w;
        }
      }
    });
    return y;
  }

  /** Mean (or sum) squared error against a constant target, optionally with a per-token mask. Returns a scalar. */
  mse(pred: Var, target: Float32Array, opts: MseOptions = {}): Var {
    if (target.length !== pred.size) throw shapeError('mse', `target has ${target.length} values, prediction ${pred.size}`);
    const d = pred.lastDim;
    const rows = pred.size / d;
    const mask = opts.mask;
    if (mask && mask.length !== rows) throw shapeError('mse', `mask has ${mask.length} values, expected one per token (${rows})`);
    const drop = Math.max(0, Math.floor(opts.dropTop ?? 0));
    if (drop >= pred.size && drop > 0) throw shapeError('mse', `dropTop ${drop} leaves nothing of ${pred.size} values`);
    const denom = (opts.reduction ?? 'mean') === 'mean' ? pred.size - drop : 1;
    const y = this.out([], pred.requiresGrad);
    const pd = pred.data;
    const fr = Math.fround;
    // the elementwise differences (after the mask), kept when outliers are dropped
    const diff = drop > 0 ? this.scratch.get('mse.diff', pred.size) : null;
    const be = this.backend;
    if (!diff && be.mseForward && be.mseBackward) {
      // the same loops in the backend (KernelBackend.mseForward)
      y.data[0] = be.mseForward(pd, target, mask ?? null, d) / denom;
      this.record(y, () => {
        const [gp, fresh] = this.gradFresh(pred, 1);
        be.mseBackward!(pd, target, mask ?? null, d, (2 * y._grad![0]!) / denom, gp, fresh);
      });
      return y;
    }
    let acc = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * d;
      if (mask) {
        const m = mask[r]!;
        for (let i = 0; i < d; i++) {
          const e = fr(pd[o + i]! * m) - fr(target[o + i]! * m);
          if (diff) diff[o + i] = e;
          acc += e * e;
        }
      } else {
        for (let i = 0; i < d; i++) {
          const e = pd[o + i]! - target[o + i]!;
          if (diff) diff[o + i] = e;
          acc += e * e;
        }
      }
    }
    let dropped: Uint8Array | null = null;
    if (diff) {
      dropped = largestAbs(diff, drop, this.scratch.get('mse.top', drop));
      acc = 0;
      for (let i = 0; i < diff.length; i++) if (!dropped[i]) acc += diff[i]! * diff[i]!;
    }
    y.data[0] = acc / denom;
    this.record(y, () => {
      const gp = this.gradZeroed(pred);
      const c = (2 * y._grad![0]!) / denom;
      if (diff && dropped) {
        // the differences were taken after the mask, so the mask's factor m multiplies once more
        for (let r = 0; r < rows; r++) {
          const o = r * d;
          const cm = mask ? c * mask[r]! : c;
          if (cm === 0) continue;
          for (let i = 0; i < d; i++) if (!dropped[o + i]) gp[o + i]! += cm * diff[o + i]!;
        }
        return;
      }
      for (let r = 0; r < rows; r++) {
        const o = r * d;
        if (mask) {
          const m = mask[r]!;
          if (m === 0) continue;
          const cm = c * m;
          for (let i = 0; i < d; i++) gp[o + i]! += cm * (fr(pd[o + i]! * m) - fr(target[o + i]! * m));
        } else {
          for (let i = 0; i < d; i++) gp[o + i]! += c * (pd[o + i]! - target[o + i]!);
        }
      }
    });
    return y;
  }

  /**
   * Mean cross-entropy of logits [rows, vocab] against one target id per row, over the rows whose
   * mask is 1 (all rows without a mask). Returns a scalar. (SignRound's enable_lfq: the LM loss.)
   */
  crossEntropy(logits: Var, targets: Int32Array, mask?: Float32Array): Var {
    const V = logits.lastDim;
    const rows = logits.size / V;
    if (targets.length !== rows) throw shapeError('crossEntropy', `${targets.length} targets for ${rows} rows`);
    if (mask && mask.length !== rows) throw shapeError('crossEntropy', `mask has ${mask.length} values, expected ${rows}`);
    const y = this.out([], logits.requiresGrad);
    const ld = logits.data;
    const lse = this.dataArena.take(rows);
    let count = 0;
    let acc = 0;
    for (let r = 0; r < rows; r++) {
      if (mask && mask[r] === 0) continue;
      const t = targets[r]!;
      if (!(t >= 0 && t < V)) throw shapeError('crossEntropy', `target ${t} of row ${r} is outside the vocabulary of ${V}`);
      const o = r * V;
      let m = -Infinity;
      for (let i = 0; i < V; i++) if (ld[o + i]! > m) m = ld[o + i]!;
      let se = 0;
      for (let i = 0; i < V; i++) se += Math.exp(ld[o + i]! - m);
      lse[r] = m + Math.log(se);
      acc += lse[r]! - ld[o + t]!;
      count++;
    }
    if (count === 0) throw shapeError('crossEntropy', 'every row is masked');
    y.data[0] = acc / count;
    this.record(y, () => {
      const gl = this.gradZeroed(logits);
      const c = y._grad![0]! / count;
      for (let r = 0; r < rows; r++) {
        if (mask && mask[r] === 0) continue;
        const o = r * V;
        const l = lse[r]!;
        for (let i = 0; i < V; i++) gl[o + i]! += c * Math.exp(ld[o + i]! - l);
        gl[o + targets[r]!]! -= c;
      }
    });
    return y;
  }

  /**
   * An operation defined outside this package (a quantizer's QDQ of its tunable state, a tuned norm
   * offset …): a value of `shape` that depends on no other Var, computed by `op.forward` into a buffer of
   * the graph's arena; with `requiresGrad`, `op.backward` receives the value's gradient during backward and
   * routes it into the op's own parameters. Buffers from `buffers` live until the next reset, like every
   * value of the tape, so an op rebuilt each iteration allocates nothing after the first.
   */
  custom<S>(shape: readonly number[], requiresGrad: boolean, op: CustomOp<S>): Var {
    const y = this.out(shape, requiresGrad);
    const buffers: OpBuffers = { float32: (n) => this.dataArena.take(n), int16: (n) => this.codeArena.take(n) };
    const state = op.forward(y.data, buffers, this.backend);
    if (op.backward) {
      const backward = op.backward;
      this.record(y, () => backward(y._grad!, state, this.backend));
    }
    return y;
  }

  // ---------------------------------------------------------------- backward

  /**
   * Runs the tape backwards from `root`, seeded with `seed` (default 1 for a scalar; an array
   * of root.size values for a vector-Jacobian product). Param gradients accumulate. Runs once
   * per tape: call reset() and rebuild before the next one.
   */
  backward(root: Var, seed: number | Float32Array = 1): void {
    if (this.backwardDone) throw new AutoRoundError('E_BACKWARD_TWICE', 'backward: this tape was already run; call reset() and rebuild the graph first', { subject: 'backward' });
    if (!root.requiresGrad) throw new AutoRoundError('E_NO_GRAD', 'backward: the value does not depend on anything that requires grad', { subject: 'backward' });
    if (typeof seed === 'number') {
      if (root.size !== 1) throw shapeError('backward', `a scalar seed needs a scalar root, got [${root.shape.join(', ')}]; pass a seed array`);
      this.gradZeroed(root)[0]! += seed;
    } else {
      if (seed.length !== root.size) throw shapeError('backward', `seed has ${seed.length} values, root ${root.size}`);
      this.accumulate(root, seed);
    }
    this.backwardDone = true;
    for (let i = this.tapeOut.length - 1; i >= 0; i--) {
      if (this.tapeOut[i]!._grad !== null) this.tapeFn[i]!();
    }
  }
}

/**
 * Marks the k elements of x with the largest |x| (ties: lower index first) in a new mask. A min-heap
 * of the k best so far (ordered by |x|, then by higher index as the lesser) sees each element once;
 * with k ≈ n/1000 almost every element fails the first comparison. `work` (length ≥ k) holds the
 * heap's values.
 */
export function largestAbs(x: Float32Array, k: number, work: Float32Array): Uint8Array {
  const n = x.length;
  const out = new Uint8Array(n);
  if (k <= 0) return out;
  if (k >= n) return out.fill(1);
  const val = work.subarray(0, k);
  const idx = new Int32Array(k);
  // a is "less" than b when its value is smaller, or equal with a higher index
  const less = (va: number, ia: number, vb: number, ib: number) => va < vb || (va === vb && ia > ib);
  const siftDown = (pos: number) => {
    const v = val[pos]!;
    const i = idx[pos]!;
    for (;;) {
      const l = 2 * pos + 1;
      if (l >= k) break;
      const r = l + 1;
      const c = r < k && less(val[r]!, idx[r]!, val[l]!, idx[l]!) ? r : l;
      if (!less(val[c]!, idx[c]!, v, i)) break;
      val[pos] = val[c]!;
      idx[pos] = idx[c]!;
      pos = c;
    }
    val[pos] = v;
    idx[pos] = i;
  };
  for (let i = 0; i < k; i++) (val[i] = Math.abs(x[i]!)), (idx[i] = i);
  for (let p = (k >> 1) - 1; p >= 0; p--) siftDown(p);
  for (let i = k; i < n; i++) {
    const a = Math.abs(x[i]!);
    // a later element with an equal |x| loses the tie, so only a strictly larger one enters
    if (a > val[0]!) {
      val[0] = a;
      idx[0] = i;
      siftDown(0);
    }
  }
  for (let j = 0; j < k; j++) out[idx[j]!] = 1;
  return out;
}

const GELU_K = Math.sqrt(2 / Math.PI);

/** PyTorch's gelu(x, approximate="tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_K * (x + 0.044715 * x * x * x)));
}

/** d/dx of geluTanh. */
function geluTanhGrad(x: number): number {
  const u = Math.tanh(GELU_K * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + u) + 0.5 * x * (1 - u * u) * GELU_K * (1 + 3 * 0.044715 * x * x);
}
