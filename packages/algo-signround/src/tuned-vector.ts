// enable_norm_bias_tuning's tunable offset of a norm weight or bias, and its autograd op (tunedVectorVar, through
// Graph.custom), SignRound's own, so it lives here rather than in core-tensor (docs/adr/0021-one-tuning-loop.md).
import { AutoRoundError, type Graph, Param, type Var } from '@autoround/core-tensor';

/**
 * A norm weight or a bias with a tunable offset (enable_norm_bias_tuning): the original wraps them
 * in a 4-bit asymmetric per-tensor QDQ without rounding, so the tuned value is
 * w' = (clamp(w/s + V + zp, 0, qmax) − zp)·s with s = (max(0, max w) − min(0, min w))/qmax and
 * zp = round(−min(0, min w)/s): w itself at V = 0, moved by V·s and kept inside the tensor's range.
 */
export class TunedVector {
  readonly v: Param;
  readonly scale: number;
  readonly zp: number;
  readonly qmax: number;

  constructor(
    readonly base: Float32Array,
    bits = 4,
  ) {
    if (base.length === 0) throw new AutoRoundError('E_SHAPE', 'TunedVector: empty tensor', { subject: 'TunedVector' });
    this.qmax = 2 ** bits - 1;
    let lo = 0;
    let hi = 0;
    for (const x of base) (lo = x < lo ? x : lo), (hi = x > hi ? x : hi);
    const s = Math.fround((hi - lo) / this.qmax);
    this.scale = s > 1e-8 ? s : 1e-8;
    this.zp = Math.round(Math.fround(-lo / this.scale));
    this.v = new Param([base.length], 0);
  }

  /** w' into `out` (or a new array); `inside` marks the elements whose clamp let V through. */
  value(out: Float32Array = new Float32Array(this.base.length), inside?: Uint8Array): Float32Array {
    const { base, scale: s, zp, qmax } = this;
    const V = this.v.data;
    const fr = Math.fround;
    for (let i = 0; i < base.length; i++) {
      let q = fr(fr(fr(base[i]! / s) + V[i]!) + zp);
      let ok = 1;
      if (q < 0) (q = 0), (ok = 0);
      else if (q > qmax) (q = qmax), (ok = 0);
      if (inside) inside[i] = ok;
      out[i] = fr(fr(q - zp) * s);
    }
    return out;
  }
}

/** A norm weight or bias with its tunable offset as a value of the graph: w', gradients into t.v (straight-through inside the clamp). */
export function tunedVectorVar(g: Graph, t: TunedVector): Var {
  const n = t.base.length;
  return g.custom([n], t.v.requiresGrad, {
    forward(out) {
      const inside = new Uint8Array(n);
      t.value(out, inside);
      return inside;
    },
    backward(gy, inside) {
      const gv = t.v.grad;
      for (let i = 0; i < n; i++) if (inside[i]) gv[i]! += gy[i]! * t.scale;
    },
  });
}
