import { describe, expect, it } from 'vitest';
import { Graph } from '../src/index.js';
import type { KernelBackend } from '../src/index.js';
import { largestAbs } from '../src/autograd/graph.js';
import { jsGemm } from '@autoround/kernels-cpu';
import { centralDifferences as fd, mulberry32 as rng, uniformArray as rand } from '@autoround/testing';

// The outlier-suppressed MSE of SignRoundV2 (Graph.mse's dropTop, docs/algorithms/signround.md#signroundv2-enable-alg-ext):
// the largest errors left out of value and gradient.

const backend: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };
const f = Math.fround;

describe('outlier-suppressed MSE (dropTop)', () => {
  it('largestAbs marks the k largest |x|, ties to the lower index', () => {
    const x = Float32Array.from([0.5, -3, 2, -2, 0, 2, 1]);
    const m = largestAbs(x, 3, new Float32Array(x.length));
    expect(Array.from(m)).toEqual([0, 1, 1, 1, 0, 0, 0]);
    const r = rng(5);
    const y = rand(5000, r);
    const k = 37;
    const mk = largestAbs(y, k, new Float32Array(y.length));
    const sorted = Array.from(y, Math.abs).sort((a, b) => b - a);
    expect(mk.reduce((s, v) => s + v, 0)).toBe(k);
    for (let i = 0; i < y.length; i++) expect(mk[i] === 1).toBe(Math.abs(y[i]!) >= sorted[k - 1]!);
  });

  it('value and gradient leave out the dropped elements; mean divides by numel − dropTop; the mask applies', () => {
    const r = rng(9);
    const rows = 6;
    const d = 10;
    const pred = rand(rows * d, r);
    const target = rand(rows * d, r);
    const mask = Float32Array.from([1, 1, 0, 1, 1, 0]);
    const k = 4;
    const lossAt = (p: ArrayLike<number>) => {
      const g = new Graph(backend);
      const x = g.leaf(Float32Array.from(p), [rows, d]);
      return g.mse(x, target, { mask, dropTop: k }).data[0]!;
    };
    const g = new Graph(backend);
    const x = g.leaf(pred, [rows, d]);
    const loss = g.mse(x, target, { mask, dropTop: k });
    g.backward(loss);
    // by hand
    const e = Array.from(pred, (p, i) => f(p * mask[Math.floor(i / d)]!) - f(target[i]! * mask[Math.floor(i / d)]!));
    const cut = [...e].map(Math.abs).sort((a, b) => b - a)[k - 1]!;
    const kept = e.filter((v) => Math.abs(v) < cut);
    expect(kept.length).toBe(rows * d - k);
    expect(loss.data[0]).toBeCloseTo(kept.reduce((s, v) => s + v * v, 0) / (rows * d - k), 6);
    const num = fd(lossAt, pred, 2e-3);
    for (let i = 0; i < pred.length; i++) expect(x.grad![i]).toBeCloseTo(num[i]!, 4);
    // the dropped elements and the masked rows get no gradient
    expect(Array.from(x.grad!).filter((v, i) => v === 0 && mask[Math.floor(i / d)] === 1).length).toBe(k);
  });
});
