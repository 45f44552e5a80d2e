// The native floating-point QDQ (kernels-cpu native/fp_qdq.cc) against quant-types' TypeScript loops, which are the reference
// (bit for bit against the spec in quant-types/test/fp-qdq.test.ts): every output of quantizeFp (values, element
// codes, scales, scale codes, the straight-through trace), fpQdqValues and SignRound's fp backward, compared bit
// for bit (NaN with NaN, −0 with −0) on random weights salted with awkward values: zero groups, exact ties on the
// element grids, subnormals, outliers, infinities and NaN at every position of a group.
import { describe, expect, it } from 'vitest';
import { type QuantScheme, type QuantizedWeight, presetScheme } from '@autoround/core';
import { type FpQdqKernel, Graph, fpQdqKernel, setFpQdqKernel } from '@autoround/core-tensor';
import { xorshiftRandom, randn } from '@autoround/testing';
import { FpParams, fpQdqVar } from '../src/index.js';
import { type FpQdqTuning, fpGroupShape, fpQdqValues, newFpTrace, quantizeFp } from '@autoround/quant-types';
import { jsBackend, native, nativeFpQdqKernel } from '@autoround/kernels-cpu';
import { expectSame, tsThenNative } from './bitwise.js';

const kernel: FpQdqKernel | null = native ? nativeFpQdqKernel(native, 2) : null;

/** Runs f with the TypeScript loops, then with the native kernel. */
const both = <T>(f: () => T): [T, T] => tsThenNative(fpQdqKernel, setFpQdqKernel, kernel, f);

function expectSameWeight(what: string, a: QuantizedWeight, b: QuantizedWeight): void {
  expectSame(`${what} qdq`, a.qdq, b.qdq);
  expectSame(`${what} codes`, a.codes, b.codes);
  expectSame(`${what} scales`, a.scales, b.scales);
  expectSame(`${what} scaleCodes`, a.scaleCodes, b.scaleCodes);
  expect(a.globalScale, `${what} globalScale`).toBe(b.globalScale);
}

const base = presetScheme('MXFP4');
const scheme = (data_type: string, bits: number, group_size: number): QuantScheme => ({ ...base, data_type, bits, group_size, act_bits: 16 });

// [label, scheme, rows, cols] (cols not a multiple of the group for the FP8 groups: a partial last group)
const CASES: [string, QuantScheme, number, number][] = [
  ['mx_fp4', scheme('mx_fp', 4, 32), 24, 96],
  ['mx_fp4 rceil', scheme('mx_fp_rceil', 4, 32), 24, 96],
  ['mx_fp6 e2m3', scheme('mx_fp', 6, 32), 16, 64],
  ['mx_fp6 e3m2', scheme('mx_fp6e3m2', 6, 32), 16, 64],
  ['mx_fp8 e4m3', scheme('mx_fp', 8, 32), 16, 64],
  ['mx_fp8 e4m3 rceil', scheme('mx_fp_rceil', 8, 32), 16, 64],
  ['mx_fp8 e5m2', scheme('mx_fp8e5m2', 8, 32), 16, 64],
  ['mx_int4', scheme('mx_int', 4, 32), 16, 64],
  ['mx_int8', scheme('mx_int', 8, 32), 16, 64],
  ['nv_fp4', scheme('nv_fp', 4, 16), 24, 64],
  ['nv_fp4_e5m3 g16', scheme('nvfp4_v2', 4, 16), 16, 64],
  ['nv_fp4_e5m3 g32', scheme('nvfp4_v2', 4, 32), 16, 64],
  ['fp8 e4m3 per tensor', scheme('fp', 8, 0), 16, 48],
  ['fp8 e4m3 per channel', scheme('fp', 8, -1), 16, 48],
  ['fp8 e4m3 g32, partial last group', scheme('fp', 8, 32), 16, 72],
  ['fp8 e5m2 g32', scheme('fp8_e5m2', 8, 32), 16, 64],
];

/** Random weights of scale `sigma`, with awkward groups: zeros, grid ties, subnormals, outliers, inf and NaN. */
function awkward(rows: number, cols: number, seed: number, sigma = 0.05): Float32Array {
  const r = xorshiftRandom(seed);
  const w = randn(rows * cols, r, sigma);
  const set = (row: number, c: number, v: number) => {
    if (row < rows && c < cols) w[row * cols + c] = v;
  };
  for (let c = 0; c < cols; c++) set(0, c, 0); // a zero row
  for (let c = 0; c < cols; c++) set(1, c, [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -0.25, -2.5, -5, 6, 0.125][c % 12]! * 2 ** (c % 3)); // ties
  for (let c = 0; c < cols; c++) set(2, c, (c % 2 ? -1 : 1) * 1e-40 * (1 + (c % 5))); // subnormals
  for (let c = 0; c < cols; c++) set(3, c, c % 7 === 0 ? 3e4 : w[3 * cols + c]!); // outliers
  set(4, 5, Infinity);
  set(5, cols - 1, NaN); // NaN last in its group
  set(6, 0, NaN); // NaN first
  set(7, 3, -0);
  for (let c = 0; c < cols; c++) set(8, c, (1 - 2 ** -24) * 2 ** ((c % 9) - 4)); // just below powers of two
  for (let c = 0; c < cols; c++) set(9, c, -Math.fround(1 / 3) * 2 ** (c % 11));
  return w;
}

describe.skipIf(!kernel)('native fp QDQ (fp_qdq.cc) against the TypeScript loops', () => {
  it('quantizeFp: values, codes, scales and scale codes, plain and tuned', () => {
    for (const [label, s, rows, cols] of CASES) {
      for (const seed of [1, 2]) {
        const w = awkward(rows, cols, seed);
        const [a, b] = both(() => quantizeFp(w, rows, cols, s));
        expectSameWeight(`${label} seed ${seed}`, a, b);
        const { nGroups, slots } = fpGroupShape(s, rows, cols);
        const r = xorshiftRandom(seed + 100);
        const v = Float32Array.from({ length: nGroups * slots }, () => (r() - 0.5) * 1.2);
        const maxScale = Float32Array.from({ length: nGroups }, (_, g) => (g % 5 === 0 ? 0 : 0.5 + r()));
        const initScale = Float32Array.from({ length: nGroups }, () => 0.7 + 0.6 * r());
        const tuning: FpQdqTuning = { v, maxScale, initScale, globalScale: 1234.5 };
        const [c, d] = both(() => quantizeFp(w, rows, cols, s, tuning));
        expectSameWeight(`${label} seed ${seed} tuned`, c, d);
        const [e, g] = both(() => quantizeFp(w, rows, cols, s, { tensorMax: 0.3 }));
        expectSameWeight(`${label} seed ${seed} tensorMax`, e, g);
      }
    }
  });

  it('quantizeFp with the straight-through trace (SignRound forward)', () => {
    for (const [label, s, rows, cols] of CASES) {
      const w = awkward(rows, cols, 7);
      const { nGroups, slots } = fpGroupShape(s, rows, cols);
      const r = xorshiftRandom(8);
      const v = Float32Array.from({ length: nGroups * slots }, () => (r() - 0.5) * 0.9);
      const maxScale = Float32Array.from({ length: nGroups }, (_, g) => (g % 7 === 0 ? 0 : 0.3 + 0.8 * r()));
      const [a, b] = both(() => {
        const trace = newFpTrace(rows * cols, nGroups);
        const q = quantizeFp(w, rows, cols, s, { v, maxScale, trace });
        return { q, trace };
      });
      expectSameWeight(`${label} trace`, a.q, b.q);
      for (const k of ['q', 'dx', 'vScale', 'p', 'u'] as const) expectSame(`${label} trace.${k}`, a.trace[k], b.trace[k]);
    }
  });

  it('fpQdqValues (activations): dynamic, static global scale, calibrated maximum', () => {
    for (const [label, s, rows, cols] of CASES) {
      const x = awkward(rows, cols, 11, 2);
      for (const opts of [{}, { globalScale: 97.25 }, { tensorMax: 3.5 }]) {
        const [a, b] = both(() => fpQdqValues(x, rows, cols, s, opts));
        expectSame(`${label} ${JSON.stringify(opts)}`, a, b);
      }
    }
  });

  it("SignRound's fp backward: dV and dβ accumulated as the TypeScript loop does", () => {
    for (const [label, s, rows, cols] of CASES) {
      const w = awkward(rows, cols, 13).map((x) => (Number.isFinite(x) ? x : 0.5));
      const gy = randn(rows * cols, xorshiftRandom(14), 1);
      const [a, b] = both(() => {
        const p = new FpParams(s, rows, cols, true);
        const r = xorshiftRandom(15);
        p.v.forEach((_, i) => (p.v[i] = (r() - 0.5) * 0.8));
        p.beta!.forEach((_, i) => (p.beta![i] = 0.4 + 0.8 * r()));
        p.vGrad.fill(0.125);
        p.betaGrad!.fill(-0.5);
        const g = new Graph(jsBackend.create({}));
        const y = fpQdqVar(g, w, p);
        g.backward(y, gy);
        return { v: p.vGrad, b: p.betaGrad!, y: y.data.slice() };
      });
      expectSame(`${label} forward`, a.y, b.y);
      expectSame(`${label} dV`, a.v, b.v);
      expectSame(`${label} dβ`, a.b, b.b);
    }
  });
});
