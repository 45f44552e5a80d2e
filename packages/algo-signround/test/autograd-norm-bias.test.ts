import { describe, expect, it } from 'vitest';
import { Graph, type KernelBackend } from '@autoround/core-tensor';
import { jsGemm } from '@autoround/kernels-cpu';
import { TunedVector, tunedVectorVar } from '../src/tuned-vector.js';
import { centralDifferences as fd, mulberry32 as rng, uniformArray as rand } from '@autoround/testing';

// enable_norm_bias_tuning: a norm weight / bias with a tunable offset V through the 4-bit asymmetric
// per-tensor QDQ without rounding, w' = (clamp(w/s + V + zp, 0, 15) − zp)·s.

const backend: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };

describe('TunedVector (norm and bias tuning)', () => {
  it('is the tensor itself at V = 0 (to float32 rounding) and stays inside its range', () => {
    const w = Float32Array.from([0.9, 1.1, 1.05, 0.2, 1.3]);
    const t = new TunedVector(w);
    const v0 = t.value();
    for (let i = 0; i < w.length; i++) expect(Math.abs(v0[i]! - w[i]!)).toBeLessThan(1e-6);
    t.v.data.fill(100);
    const hi = t.value();
    for (const x of hi) expect(x).toBeCloseTo(1.3, 5); // clamped at qmax: max(0, max w)
    t.v.data.fill(-100);
    for (const x of t.value()) expect(x).toBeCloseTo(0, 6); // min(0, min w) = 0
  });

  it('dV through RMSNorm and a linear bias against central differences (straight-through inside the clamp, 0 outside)', () => {
    const r = rng(4);
    const rows = 3;
    const d = 6;
    const x = rand(rows * d, r);
    const norm = new TunedVector(rand(d, r, 0.5, 1.5));
    const bias = new TunedVector(rand(4, r, -0.2, 0.2));
    norm.v.data.set(rand(d, r, -0.4, 0.4));
    norm.v.data[0] = 40; // pushed past the clamp: no gradient there
    bias.v.data.set(rand(4, r, -0.4, 0.4));
    const W = rand(4 * d, r);
    const G = rand(rows * 4, r);
    const g = new Graph(backend);
    const y = g.linear(g.rmsNorm(g.input(x, [rows, d]), tunedVectorVar(g, norm), 1e-6), g.input(W, [4, d]), tunedVectorVar(g, bias));
    g.backward(y, G);
    // float64 reference of the same graph, V as the variable
    const loss = (vn: ArrayLike<number>, vb: ArrayLike<number>) => {
      const keepN = norm.v.data.slice();
      const keepB = bias.v.data.slice();
      norm.v.data.set(Array.from(vn));
      bias.v.data.set(Array.from(vb));
      const wn = norm.value();
      const b = bias.value();
      norm.v.data.set(keepN);
      bias.v.data.set(keepB);
      let s = 0;
      for (let rr = 0; rr < rows; rr++) {
        let ss = 0;
        for (let i = 0; i < d; i++) ss += x[rr * d + i]! ** 2;
        const rs = 1 / Math.sqrt(ss / d + 1e-6);
        for (let o = 0; o < 4; o++) {
          let acc = b[o]!;
          for (let i = 0; i < d; i++) acc += W[o * d + i]! * wn[i]! * x[rr * d + i]! * rs;
          s += G[rr * 4 + o]! * acc;
        }
      }
      return s;
    };
    const fdN = fd((v) => loss(v, bias.v.data), norm.v.data, 1e-3);
    const fdB = fd((v) => loss(norm.v.data, v), bias.v.data, 1e-3);
    for (let i = 0; i < d; i++) expect(norm.v.grad[i]).toBeCloseTo(fdN[i]!, 3);
    for (let i = 0; i < 4; i++) expect(bias.v.grad[i]).toBeCloseTo(fdB[i]!, 3);
    expect(norm.v.grad[0]).toBe(0);
    expect(norm.v.grad.some((v) => v !== 0)).toBe(true);
  });
});

describe('cross-entropy (enable_lfq)', () => {
  it('value is the mean of logsumexp − target logit over unmasked rows; gradient against central differences', () => {
    const r = rng(12);
    const rows = 4;
    const V = 7;
    const logits = rand(rows * V, r, -2, 2);
    const targets = Int32Array.from([3, 0, 6, 2]);
    const mask = Float32Array.from([1, 1, 0, 1]);
    const ref = (l: ArrayLike<number>) => {
      let s = 0;
      let n = 0;
      for (let k = 0; k < rows; k++) {
        if (!mask[k]) continue;
        let se = 0;
        for (let i = 0; i < V; i++) se += Math.exp(l[k * V + i]!);
        s += Math.log(se) - l[k * V + targets[k]!]!;
        n++;
      }
      return s / n;
    };
    const g = new Graph(backend);
    const x = g.leaf(logits, [rows, V]);
    const loss = g.crossEntropy(x, targets, mask);
    expect(loss.data[0]).toBeCloseTo(ref(logits), 6);
    g.backward(loss);
    const num = fd(ref, logits, 1e-4);
    for (let i = 0; i < logits.length; i++) expect(x.grad![i]).toBeCloseTo(num[i]!, 5);
    for (let i = 2 * V; i < 3 * V; i++) expect(x.grad![i]).toBe(0); // the masked row
    expect(() => g.crossEntropy(g.leaf(logits, [rows, V]), Int32Array.from([0, 1, 9, 2]))).toThrow(/outside the vocabulary/);
  });
});
