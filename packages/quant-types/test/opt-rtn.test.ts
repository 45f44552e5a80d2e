import { describe, expect, it } from 'vitest';
import { completeScheme } from '@autoround/core';
import { handleImatrixZeros, quantizeInt, quantizeIntOptRtn, searchSteps } from '../src/index.js';

const sym = (bits: number, gs: number) => completeScheme({ bits, group_size: gs, sym: true, data_type: 'int' });

function rand(n: number, seed: number, scale = 0.05): Float32Array {
  let s = seed;
  const r = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  return Float32Array.from({ length: n }, () => Math.fround((r() - 0.5) * 2 * scale * (r() < 0.05 ? 6 : 1)));
}

function weightedError(w: Float32Array, q: Float32Array, imat: Float32Array, inF: number): number {
  let e = 0;
  for (let i = 0; i < w.length; i++) e += imat[i % inF]! * (w[i]! - q[i]!) ** 2;
  return e;
}

describe('optimized RTN scale search', () => {
  it('uses the spec step sizes', () => {
    expect(searchSteps(2, 0.75)).toMatchObject({ step: 0.01 });
    expect(searchSteps(2, 0.75).offsets.length).toBe(180);
    const s4 = searchSteps(4, 0.75);
    expect(s4.step).toBeCloseTo(0.06, 12);
    expect(s4.offsets.slice(0, 4)).toEqual([-1, 1, -2, 2]);
    expect(s4.offsets.length).toBe(200);
  });

  it('never does worse than plain RTN on the importance-weighted error', () => {
    for (const bits of [2, 3, 4]) {
      const out = 32;
      const inF = 128;
      const w = rand(out * inF, bits);
      const imat = rand(inF, 100 + bits, 1).map(Math.abs);
      const plain = quantizeInt(w, out, inF, sym(bits, 32));
      const opt = quantizeIntOptRtn(w, out, inF, sym(bits, 32), imat);
      expect(weightedError(w, opt.qdq, imat, inF)).toBeLessThan(weightedError(w, plain.qdq, imat, inF));
      // codes, scales and zeros describe exactly the QDQ weight
      for (let i = 0; i < w.length; i++) {
        const g = Math.floor(i / inF) * 4 + Math.floor((i % inF) / 32);
        expect(opt.qdq[i] === Math.fround(opt.scales![g]! * (opt.codes![i]! - opt.zeros![g]!))).toBe(true);
      }
    }
  });

  it('handles zero importance like the original', () => {
    const w = Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 100);
    const few = new Float32Array(32).fill(2);
    few[3] = 0;
    expect(handleImatrixZeros(w, few, 4)[3]).toBe(2); // filled with the mean of the others
    const many = new Float32Array(32);
    many[0] = 1;
    const fb = handleImatrixZeros(w, many, 2);
    expect(fb[5]).toBeCloseTo(Math.abs(w[5]!), 7); // falls back to |w| for 2-bit
    const fb4 = handleImatrixZeros(w, many, 4);
    const av = Math.sqrt(w.reduce((s, x) => s + x * x, 0) / 32);
    expect(fb4[5]).toBeCloseTo(Math.abs(w[5]!) + av, 6);
  });
});
