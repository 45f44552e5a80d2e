// The native RTN loops (kernels-cpu native/qdq.cc rtn_minmax / rtn_elements, registered as core-tensor's
// IntRtnKernel) against quant-types' TypeScript loops in quantizeInt, which are the reference (checked against the
// original's formulas in quant-types/test/int-qdq.test.ts): qdq, codes, scales and zeros compared bit for bit on
// weights salted with awkward values (±0, exact .5 ties, NaN, ±Inf, huge outliers, all-zero groups), for sym and
// asym, 2-8 bits, group sizes 32, 128, 96 (a partial last group), per-channel and per-tensor, fp16 / bf16 / fp32
// scales, with and without SignRound's V, min/max scales and initScale.
import { describe, expect, it } from 'vitest';
import { type QuantScheme, presetScheme } from '@autoround/core';
import { type IntRtnKernel, type ScaleDType, intRtnKernel, setIntRtnKernel } from '@autoround/core-tensor';
import { xorshiftRandom } from '@autoround/testing';
import { type IntQdqTuning, quantizeInt } from '@autoround/quant-types';
import { native, nativeIntRtnKernel } from '@autoround/kernels-cpu';
import { expectSame, tsThenNative } from './bitwise.js';

const kernel: IntRtnKernel | null = native ? nativeIntRtnKernel(native, 2) : null;

/** Runs f with the TypeScript loops, then with the native ones. */
const both = <T>(f: () => T): [T, T] => tsThenNative(intRtnKernel, setIntRtnKernel, kernel, f);

function awkward(rows: number, cols: number, seed: number): Float32Array {
  const r = xorshiftRandom(seed);
  const w = Float32Array.from({ length: rows * cols }, () => (r() + r() + r() - 1.5) * 0.08);
  const salt = [0, -0, 0.5, -0.5, 1e-30, -1e-30, 3.4e38, -3.4e38, NaN, Infinity, -Infinity, 0.0625, -0.03125];
  for (let i = 0; i < w.length; i += 7 + (i % 5)) w[i] = salt[(i >> 3) % salt.length]!;
  // a whole group of zeros and one of −0 (scale at its threshold)
  if (cols >= 64) {
    w.fill(0, cols, cols + 32);
    w.fill(-0, 2 * cols, 2 * cols + 32);
  }
  return w;
}

const scheme = (bits: number, group_size: number, sym: boolean, scale_dtype?: ScaleDType): QuantScheme => ({
  ...presetScheme('W4A16'),
  bits,
  group_size,
  sym,
  ...(scale_dtype ? { scale_dtype } : {}),
});

describe.skipIf(!kernel)('native RTN loops against quantizeInt in TypeScript', () => {
  const rows = 12;
  for (const cols of [256, 200]) {
    for (const gs of [32, 128, 96, -1, 0]) {
      for (const sym of [true, false]) {
        for (const bits of [2, 3, 4, 8]) {
          it(`${rows}x${cols} W${bits} g${gs} ${sym ? 'sym' : 'asym'}`, () => {
            const w = awkward(rows, cols, cols * 31 + bits * 7 + (sym ? 1 : 0) + gs);
            for (const sd of [undefined, 'bf16', 'fp32'] as const) {
              const sc = scheme(bits, gs, sym, sd);
              const [a, b] = both(() => quantizeInt(w, rows, cols, sc));
              expectSame('qdq', a.qdq, b.qdq);
              expectSame('codes', a.codes, b.codes);
              expectSame('scales', a.scales, b.scales);
              expectSame('zeros', a.zeros, b.zeros);
            }
          });
        }
      }
    }
  }

  it('with V, min/max scales and initScale (SignRound and SignRoundV2 tunables)', () => {
    const [r, c, gs] = [8, 200, 64];
    const groups = r * Math.ceil(c / gs);
    const rnd = xorshiftRandom(5);
    const w = awkward(r, c, 77);
    const v = Float32Array.from({ length: groups * gs }, () => rnd() - 0.5);
    v[3] = 0.5;
    v[9] = -0.5;
    const minScale = Float32Array.from({ length: groups }, () => 0.6 + rnd() * 0.4);
    const maxScale = Float32Array.from({ length: groups }, () => 0.6 + rnd() * 0.4);
    const initScale = Float32Array.from({ length: groups }, (_, g) => (g % 3 ? 0.01 : -0.02) * (1 + rnd()));
    const cases: [QuantScheme, IntQdqTuning][] = [
      [scheme(4, gs, false), { v, minScale, maxScale }],
      [scheme(2, gs, true), { v, minScale, maxScale }],
      [scheme(4, gs, true), { v, maxScale, initScale }],
      [scheme(8, gs, false), { v }],
    ];
    for (const [sc, t] of cases) {
      const [a, b] = both(() => quantizeInt(w, r, c, sc, t));
      expectSame('qdq', a.qdq, b.qdq);
      expectSame('codes', a.codes, b.codes);
      expectSame('scales', a.scales, b.scales);
      expectSame('zeros', a.zeros, b.zeros);
    }
  });

  it('is what quantizeInt uses once kernels-cpu is loaded, and refuses what it cannot hold', () => {
    expect(intRtnKernel()).not.toBeNull();
    expect(() => native!.intRtnElements!(new Float32Array(4), null, [1, 4, 4], new Float32Array(1), new Float64Array(1), 511, false, new Uint8Array(4), new Float32Array(4), 1)).toThrow(/maxq/);
    expect(() => native!.intRtnMinMax!(new Float32Array(4), [1, 4, 0], new Float32Array(1), new Float32Array(1), 1)).toThrow(/dims/);
    expect(() => native!.intRtnMinMax!(new Float32Array(3), [1, 4, 4], new Float32Array(1), new Float32Array(1), 1)).toThrow(/too few/);
  });
});
