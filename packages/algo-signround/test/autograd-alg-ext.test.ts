import { describe, expect, it } from 'vitest';
import { Graph, type KernelBackend, roundToF16 } from '@autoround/core-tensor';
import { completeScheme } from '@autoround/core';
import { jsGemm } from '@autoround/kernels-cpu';
import { quantizeInt } from '@autoround/quant-types';
import { QdqParams, qdqVar } from '../src/quantizers/int-qdq.js';
import { centralDifferences as fd, mulberry32 as rng, roundHalfEven as rne, uniformArray as rand } from '@autoround/testing';

// SignRoundV2 (enable_alg_ext, docs/algorithms/signround.md#signroundv2-enable-alg-ext): the QDQ whose scale is cast(initScale · beta), and the
// outlier-suppressed MSE that leaves out the largest errors.

const backend: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };
const f = Math.fround;

function runGraph(W: Float32Array, p: QdqParams, G: Float32Array): Float32Array {
  const g = new Graph(backend);
  const y = qdqVar(g, W, p);
  p.zeroGrad();
  g.backward(y, G);
  return Float32Array.from(y.data);
}

/** A W2G8 sym layer with initial scales from its groups' max, jittered, and V, beta away from the bounds. */
function setup(seed: number) {
  const out = 3;
  const inF = 20; // the last group of each row is padded (20 = 8 + 8 + 4)
  const r = rng(seed);
  const W = rand(out * inF, r, -0.1, 0.1);
  const init = new Float32Array(out * 3);
  for (let g = 0; g < init.length; g++) init[g] = roundToF16(f((r() < 0.5 ? -1 : 1) * (0.03 + 0.04 * r())));
  const p = new QdqParams(W, out, inF, { bits: 2, groupSize: 8, sym: true, initScale: init, roundScaleGrad: false });
  p.v.data.set(rand(p.v.size, r, -0.45, 0.45));
  p.beta!.data.set(rand(p.beta!.size, r, 0.6, 1.8));
  const G = rand(W.length, r);
  return { W, p, G, init, out, inF };
}

describe('QDQ with an initial scale (SignRoundV2)', () => {
  it('has no alpha, and forward equals the exporter (quantizeInt with initScale and maxScale) value for value', () => {
    const { W, p, init, out, inF } = setup(1);
    expect(p.alpha).toBeNull();
    expect(p.params()).toHaveLength(2);
    const y = runGraph(W, p, new Float32Array(W.length));
    const q = quantizeInt(W, out, inF, completeScheme({ bits: 2, group_size: 8, sym: true, data_type: 'int' }), { v: p.v.data, maxScale: p.beta!.data, initScale: init });
    // equal as numbers (the sign of a zero may differ: scale·(code − zp) against scale·round(x))
    expect(y.every((v, i) => v === q.qdq[i])).toBe(true);
    expect(new Set(q.codes).size).toBeGreaterThan(2);
    for (let g = 0; g < init.length; g++) expect(q.scales![g]).toBe(roundToF16(f(init[g]! * p.beta!.data[g]!)));
  });

  it('dV and dbeta against central differences of the straight-through surrogate', () => {
    const { W, p, G, init, inF } = setup(7);
    runGraph(W, p, G);
    const gs = 8;
    const gpr = 3;
    const maxq = 2;
    // frozen at the evaluation point: each element's rounding offset and clamp side, each group's fp16 cast offset
    const beta0 = Float64Array.from(p.beta!.data);
    const castOff = Array.from(init, (s, g) => roundToF16(f(s * beta0[g]!)) - s * beta0[g]!);
    const frozen = Array.from(W, (w, i) => {
      const row = Math.floor(i / inF);
      const c = i % inF;
      const g = row * gpr + Math.floor(c / gs);
      const s = roundToF16(f(init[g]! * beta0[g]!));
      const x = f(f(w / s) + p.v.data[g * gs + (c % gs)]!);
      const q = rne(x);
      return { g, vi: g * gs + (c % gs), off: q - x, side: q < -maxq ? -maxq : q > maxq - 1 ? maxq - 1 : 0, inside: q >= -maxq && q <= maxq - 1 };
    });
    const surrogate = (V: ArrayLike<number>, B: ArrayLike<number>) => {
      let loss = 0;
      frozen.forEach((e, i) => {
        const s = init[e.g]! * B[e.g]! + castOff[e.g]!;
        const y = e.inside ? s * (W[i]! / s + V[e.vi]! + e.off) : s * e.side;
        loss += G[i]! * y;
      });
      return loss;
    };
    const fdB = fd((b) => surrogate(p.v.data, b), p.beta!.data, 1e-6);
    const fdV = fd((v) => surrogate(v, beta0), p.v.data, 1e-6);
    const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < b.length; i++) (worst = Math.max(worst, Math.abs(a[i]! - b[i]!))), (scale = Math.max(scale, Math.abs(b[i]!)));
      expect(worst / scale).toBeLessThan(tol);
    };
    close(p.beta!.grad, fdB, 1e-4);
    close(p.v.grad, fdV, 1e-5);
    expect(frozen.some((e) => !e.inside)).toBe(true); // both branches are exercised
    expect(p.beta!.grad.some((x) => x !== 0)).toBe(true);
  });

  it('rejects an initial scale on an asymmetric scheme or of the wrong length', () => {
    const W = new Float32Array(16);
    expect(() => new QdqParams(W, 2, 8, { bits: 2, groupSize: 8, sym: false, initScale: new Float32Array(2) })).toThrow(/symmetric/);
    expect(() => new QdqParams(W, 2, 8, { bits: 2, groupSize: 8, sym: true, initScale: new Float32Array(3) })).toThrow(/one per group/);
  });
});
