// The floating-point QDQ op's gradients (docs/algorithms/fp-qdq.md#gradients) against central differences of the
// straight-through surrogate: the original's forward in float64 with every rounding, floor and cast replaced by
// "identity plus its offset frozen at the point" — exactly the function PyTorch's autograd differentiates.
import { describe, expect, it } from 'vitest';
import { Graph } from '@autoround/core-tensor';
import { presetScheme, type QuantScheme } from '@autoround/core';
import { fpDataTypeOf, quantizeFp } from '@autoround/quant-types';
import { referenceBackend, xorshiftRandom } from '@autoround/testing';
import { FpParams, fpQdqVar } from '../src/quantizers/fp.js';

const f = Math.fround;

/** The surrogate of one QDQ: y(V, β) in float64, with the frozen offsets taken at (V0, β0). */
function surrogate(w: Float32Array, out: number, inF: number, s: QuantScheme, v0: Float32Array, b0: Float32Array): (v: Float64Array, b: Float64Array) => Float64Array {
  const { format } = fpDataTypeOf(s.data_type, s.bits)!;
  const gs = s.group_size;
  const nG = (out * inF) / gs;
  const mx0 = Array.from({ length: nG }, (_, g) => Math.max(...Array.from(w.subarray(g * gs, (g + 1) * gs), Math.abs)));
  let amax = 0;
  for (const x of w) amax = Math.max(amax, Math.abs(x));
  const gsc = f(2688 * f(1 / amax));
  // the forward once at the point, in the surrogate's own arithmetic, to freeze every offset
  const frozen: { scale: number[]; el: number[]; pe: number[]; clipped: number[] } = { scale: [], el: [], pe: [], clipped: [] };
  const k = 2 ** (format.mbits - 2);
  const minExp = 2 - 2 ** (format.ebits - 1);
  const run = (v: Float64Array, b: Float64Array, freeze: boolean): Float64Array => {
    const y = new Float64Array(out * inF);
    for (let g = 0; g < nG; g++) {
      const m = mx0[g]! * b[g]!;
      if (format.family === 'mx') {
        const E = Math.log2(m);
        if (freeze) frozen.scale[g] = Math.floor(E) - E;
        const sc = 2 ** (E + frozen.scale[g]! - format.emax);
        for (let j = 0; j < gs; j++) {
          const i = g * gs + j;
          const x = Math.max(-format.maxNorm, Math.min(format.maxNorm, w[i]! / sc + v[i]!));
          const L = Math.log2(Math.abs(x));
          if (freeze) frozen.pe[i] = Math.floor(L) - L;
          // torch's clip(min) passes the gradient where the value is ≥ the bound (inclusive): the branch is the point's
          if (freeze) frozen.clipped[i] = Math.floor(L) < minExp ? 1 : 0;
          const pe = frozen.clipped[i] ? minExp : L + frozen.pe[i]!;
          const t = (x / 2 ** pe) * k;
          if (freeze) frozen.el[i] = Math.sign(t) * Math.round(Math.abs(t)) - t;
          y[i] = (((t + frozen.el[i]!) / k) * 2 ** pe) * sc;
        }
      } else if (format.family === 'nv') {
        const raw = gsc * (m / 6);
        if (freeze) {
          // the E4M3 cast's offset at the point
          const q = quantizeFp(w, out, inF, s, { v: v0, maxScale: b0 }).scales![g]!;
          frozen.scale[g] = q - raw;
        }
        const sc = raw + frozen.scale[g]!;
        const o = 1 / (sc / gsc);
        for (let j = 0; j < gs; j++) {
          const i = g * gs + j;
          const x = Math.max(-6, Math.min(6, w[i]! * o + v[i]!));
          if (freeze) frozen.el[i] = quantizeFp(w, out, inF, s, { v: v0, maxScale: b0 }).qdq[i]! * o - x;
          y[i] = (x + frozen.el[i]!) / o;
        }
      } else {
        const sc = Math.max(m / format.maxNorm, 1 / (format.maxNorm * 512));
        for (let j = 0; j < gs; j++) {
          const i = g * gs + j;
          const x = Math.max(-format.maxNorm, Math.min(format.maxNorm, w[i]! / sc + v[i]!));
          if (freeze) frozen.el[i] = quantizeFp(w, out, inF, s, { v: v0, maxScale: b0 }).qdq[i]! / sc - x;
          y[i] = (x + frozen.el[i]!) * sc;
        }
      }
    }
    return y;
  };
  run(Float64Array.from(v0), Float64Array.from(b0), true);
  return (v, b) => run(v, b, false);
}

const CASES: [string, QuantScheme][] = [
  ['MXFP4', presetScheme('MXFP4')],
  ['MXFP8', presetScheme('MXFP8')],
  ['NVFP4', presetScheme('NVFP4')],
  ['FP8 groups of 16', { ...presetScheme('FP8_STATIC'), group_size: 16 }],
];

describe('floating-point QDQ gradients equal central differences of the straight-through surrogate', () => {
  for (const [label, s] of CASES) {
    it(label, () => {
      const r = xorshiftRandom(5);
      const out = 2;
      const inF = 32;
      const w = Float32Array.from({ length: out * inF }, () => f((r() * 2 - 1) * 0.1));
      const p = new FpParams(s, out, inF, true);
      for (let i = 0; i < p.v.length; i++) p.v[i] = f((r() - 0.5) * 0.2);
      for (let i = 0; i < p.beta!.length; i++) p.beta![i] = f(0.85 + r() * 0.1);
      const c = Float64Array.from({ length: out * inF }, () => r() * 2 - 1);
      const g = new Graph(referenceBackend);
      const y = fpQdqVar(g, w, p);
      // the op's value is quantizeFp's
      expect(Array.from(y.data)).toEqual(Array.from(quantizeFp(w, out, inF, s, p.tuning()).qdq));
      g.backward(y, Float32Array.from(c));
      const F = surrogate(w, out, inF, s, p.v, p.beta!);
      const loss = (v: Float64Array, b: Float64Array) => F(v, b).reduce((a, yi, i) => a + c[i]! * yi, 0);
      const v0 = Float64Array.from(p.v);
      const b0 = Float64Array.from(p.beta!);
      const eps = 1e-6;
      for (let i = 0; i < v0.length; i += 3) {
        const vp = v0.slice();
        const vm = v0.slice();
        vp[i]! += eps;
        vm[i]! -= eps;
        const fd = (loss(vp, b0) - loss(vm, b0)) / (2 * eps);
        expect(p.vGrad[i]).toBeCloseTo(fd, 3);
      }
      for (let k = 0; k < b0.length; k++) {
        const bp = b0.slice();
        const bm = b0.slice();
        bp[k]! += eps;
        bm[k]! -= eps;
        const fd = (loss(v0, bp) - loss(v0, bm)) / (2 * eps);
        expect(Math.abs(p.betaGrad![k]! - fd)).toBeLessThan(1e-3 * Math.max(1, Math.abs(fd)));
      }
    });
  }
});
