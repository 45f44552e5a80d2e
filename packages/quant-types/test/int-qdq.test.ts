import { describe, expect, it } from 'vitest';
import { completeScheme, type QuantScheme } from '@autoround/core';
import { roundHalfEven, roundToF16 } from '@autoround/core-tensor';
import { quantizeInt } from '../src/index.js';

const scheme = (bits: number, group_size: number, sym: boolean): QuantScheme => completeScheme({ bits, group_size, sym, data_type: 'int' });

function randn(n: number, seed = 1): Float32Array {
  let s = seed;
  const r = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  return Float32Array.from({ length: n }, () => Math.fround(Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()) * 0.05));
}

describe('round half to even', () => {
  it('matches torch.round', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, -3]);
  });
});

describe('int asym QDQ', () => {
  it('reproduces a hand-computed 2-bit group', () => {
    // wmin -1, wmax 2, maxq 3 → scale 1, zp round(1/1) = 1; 0.5/1 rounds to even 0
    const q = quantizeInt(new Float32Array([-1, 0.5, 1, 2]), 1, 4, scheme(2, 4, false));
    expect([...q.scales!]).toEqual([1]);
    expect([...q.zeros!]).toEqual([1]);
    expect([...q.codes!]).toEqual([0, 1, 2, 3]);
    expect([...q.qdq]).toEqual([-1, 0, 1, 2]);
  });
  it('keeps zero exactly representable and bounds the error by scale/2', () => {
    for (const bits of [2, 3, 4, 8]) {
      const w = randn(64 * 96, bits);
      const q = quantizeInt(w, 64, 96, scheme(bits, 32, false));
      expect(q.scales!.length).toBe(64 * 3);
      for (let o = 0; o < 64; o++) {
        for (let i = 0; i < 96; i++) {
          const g = o * 3 + Math.floor(i / 32);
          const s = q.scales![g]!;
          expect(roundToF16(s)).toBe(s); // fp16 scale dtype
          const c = q.codes![o * 96 + i]!;
          expect(c).toBeGreaterThanOrEqual(0);
          expect(c).toBeLessThan(2 ** bits);
          expect(q.qdq[o * 96 + i]).toBe(Math.fround(s * (c - q.zeros![g]!)));
          expect(Math.abs(q.qdq[o * 96 + i]! - w[o * 96 + i]!)).toBeLessThanOrEqual(s * 0.5 + 1e-3 * s + s * (2 ** -10) * 2 ** bits);
        }
      }
    }
  });
});

describe('int sym (full range) QDQ', () => {
  it('reproduces a hand-computed 4-bit group: the dominant negative extreme maps to −8', () => {
    const w = new Float32Array([0.1, -0.7, 0.35, 0]);
    const q = quantizeInt(w, 1, 4, scheme(4, 4, true));
    const s = roundToF16(Math.fround(0.7 / 8)); // max_v = +0.7 since |min| > max
    expect(q.scales![0]).toBe(s);
    expect(q.zeros![0]).toBe(8);
    const levels = [...w].map((x) => Math.min(7, Math.max(-8, roundHalfEven(Math.fround(x / s)))));
    expect(levels[1]).toBe(-8);
    expect([...q.codes!]).toEqual(levels.map((l) => l + 8));
    expect([...q.qdq]).toEqual(levels.map((l) => Math.fround(s * l)));
  });
  it('gives a negative scale when the positive extreme dominates, so it too maps to −maxq', () => {
    const q = quantizeInt(new Float32Array([0.9, -0.2, 0.1, 0.3]), 1, 4, scheme(4, 4, true));
    expect(q.scales![0]).toBeLessThan(0);
    expect(q.codes![0]).toBe(0); // 0.9 → level −8 → code 0
  });
  it('uses every level and keeps codes in range for 2, 3, 4 and 8 bits', () => {
    for (const bits of [2, 3, 4, 8]) {
      const q = quantizeInt(randn(32 * 128, 10 + bits), 32, 128, scheme(bits, 128, true));
      const maxq = 2 ** (bits - 1);
      for (let g = 0; g < 32; g++) {
        const row = q.codes!.subarray(g * 128, (g + 1) * 128);
        expect(Math.min(...row)).toBe(0); // the extreme maps to −maxq
        expect(Math.max(...row)).toBeLessThanOrEqual(2 * maxq - 1);
        expect(q.zeros![g]).toBe(maxq);
      }
    }
  });
});

describe('group layouts', () => {
  it('zero-pads a partial last group without changing min/max', () => {
    const w = randn(2 * 40, 3);
    const q = quantizeInt(w, 2, 40, scheme(4, 32, false));
    expect(q.scales!.length).toBe(4);
    // the 8-element tail group quantized alone must match
    const tail = quantizeInt(w.slice(32, 40), 1, 8, scheme(4, 8, false));
    expect(q.scales![1]).toBe(tail.scales![0]);
    expect([...q.qdq.slice(32, 40)]).toEqual([...tail.qdq]);
  });
  it('treats -1 and in < group_size as per-channel, 0 as per-tensor', () => {
    const w = randn(4 * 16, 4);
    const a = quantizeInt(w, 4, 16, scheme(4, -1, true));
    const b = quantizeInt(w, 4, 16, scheme(4, 128, true));
    expect(a.groupSize).toBe(16);
    expect([...a.qdq]).toEqual([...b.qdq]);
    const t = quantizeInt(w, 4, 16, scheme(8, 0, false));
    expect(new Set(t.scales).size).toBe(1);
    expect(t.scales!.length).toBe(4);
  });
  it('clamps all-zero groups to the scale threshold', () => {
    const q = quantizeInt(new Float32Array(32), 1, 32, scheme(4, 32, false));
    expect(q.scales![0]).toBe(roundToF16(1e-5));
    expect([...q.qdq].every((x) => x === 0)).toBe(true);
  });
});
