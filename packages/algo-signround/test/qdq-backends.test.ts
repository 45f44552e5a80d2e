import { describe, expect, it } from 'vitest';
import type { KernelBackend } from '@autoround/core-tensor';
import { jsGemm, native, nativeBackend, wasmBackend } from '@autoround/kernels-cpu';
import { QdqParams, type QdqSaved, qdqBackward, qdqForward } from '../src/quantizers/int-qdq.js';
import { mulberry32 as rng, nonFiniteClasses, nonFiniteMismatches, uniformArray as rand } from '@autoround/testing';

// The int QDQ's element loops on the backends' kernels (kernels-cpu's qdqForward/qdqBackward) against the
// TypeScript loops: bit-identical on finite inputs, and NaN / Inf propagate as on the reference
// (moved from core-tensor's autograd-native and nonfinite-backends tests with the QDQ itself).

const reference: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };
const others: KernelBackend[] = [
  ...(wasmBackend.available() ? [wasmBackend.create({})] : []),
  ...(nativeBackend.available() ? [nativeBackend.create({ threads: 2 })] : []),
];


describe.skipIf(!(native !== null && typeof native.qdq === 'function'))('native QDQ element loops vs TypeScript (bit-identical)', () => {
  const cases = [
    { out: 5, inF: 70, bits: 2, groupSize: 32, sym: false }, // padded last group
    { out: 4, inF: 64, bits: 4, groupSize: 32, sym: true },
    { out: 3, inF: 40, bits: 8, groupSize: 128, sym: false }, // one padded group per row
    { out: 6, inF: 33, bits: 4, groupSize: -1, sym: false },
    { out: 4, inF: 16, bits: 2, groupSize: 0, sym: true },
    { out: 64, inF: 256, bits: 8, groupSize: 32, sym: true }, // several tasks
    { out: 64, inF: 512, bits: 2, groupSize: 32, sym: false, minmax: false },
    { out: 8, inF: 100, bits: 2, groupSize: 32, sym: true, init: true }, // SignRoundV2: scale = initScale · beta
  ];
  for (const c of cases) {
    it(`${c.out}x${c.inF} W${c.bits} g${c.groupSize} ${c.sym ? 'sym' : 'asym'}${c.minmax === false ? ' no-minmax' : ''}${c.init ? ' initScale' : ''}`, () => {
      const r = rng(c.out * 7 + c.inF);
      const W = rand(c.out * c.inF, r);
      const gW = rand(c.out * c.inF, r);
      const run = (be: KernelBackend | undefined, vOnly: boolean) => {
        const groups = c.out * Math.ceil(c.inF / c.groupSize);
        const initScale = c.init ? Float32Array.from({ length: groups }, (_, g) => (g % 2 ? -1 : 1) * (0.2 + 0.05 * (g % 7))) : undefined;
        const p = new QdqParams(W, c.out, c.inF, { bits: c.bits, groupSize: c.groupSize, sym: c.sym, minmaxTuning: c.minmax, ...(initScale ? { initScale } : {}) });
        const r2 = rng(3);
        for (let i = 0; i < p.v.data.length; i++) p.v.data[i] = r2() - 0.5;
        if (p.alpha) for (let i = 0; i < p.alpha.data.length; i++) p.alpha.data[i] = 0.6 + 0.4 * r2();
        if (p.beta) for (let i = 0; i < p.beta.data.length; i++) p.beta.data[i] = 0.6 + 0.4 * r2();
        if (vOnly) for (const q of [p.alpha, p.beta]) if (q) q.requiresGrad = false;
        const n = p.layout.numScales;
        const saved: QdqSaved = { scaleCast: new Float32Array(n), scale: new Float32Array(n), zp: new Float32Array(n), code: new Int16Array(W.length) };
        const out = new Float32Array(W.length);
        qdqForward(W, p, out, saved, be);
        p.v.grad.fill(0.25);
        qdqBackward(W, p, saved, gW, be);
        qdqBackward(W, p, saved, gW, be); // accumulates
        return { out, code: saved.code, scale: saved.scale, dv: p.v.grad, da: p.alpha?.grad, db: p.beta?.grad };
      };
      const nb = nativeBackend.create({ threads: 2 });
      expect(nb.qdqForward).toBeDefined();
      for (const vOnly of [false, true]) {
        const a = run(nb, vOnly);
        const b = run(undefined, vOnly);
        expect(a.out).toEqual(b.out);
        expect(a.code).toEqual(b.code);
        expect(a.dv).toEqual(b.dv);
        expect(a.da).toEqual(b.da);
        expect(a.db).toEqual(b.db);
      }
    });
  }
});

describe.skipIf(others.length === 0)('QDQ: NaN / Inf propagate on every backend as on the TypeScript reference', () => {
  describe('qdq forward and backward', () => {
    for (const sym of [false, true]) {
      it(`NaN / Inf weights and gradients, ${sym ? 'sym' : 'asym'}`, () => {
        const out = 6;
        const inF = 64;
        const W = rand(out * inF, rng(5));
        const gW = rand(out * inF, rng(6));
        W[3] = Number.NaN;
        W[70] = Infinity;
        W[200] = -Infinity;
        gW[10] = Number.NaN;
        gW[150] = Infinity;
        const run = (be: KernelBackend) => {
          const p = new QdqParams(W, out, inF, { bits: 4, groupSize: 32, sym, minmaxTuning: true });
          const r2 = rng(3);
          for (let i = 0; i < p.v.data.length; i++) p.v.data[i] = r2() - 0.5;
          const n = p.layout.numScales;
          const saved: QdqSaved = { scaleCast: new Float32Array(n), scale: new Float32Array(n), zp: new Float32Array(n), code: new Int16Array(W.length) };
          const o = new Float32Array(W.length);
          qdqForward(W, p, o, saved, be);
          qdqBackward(W, p, saved, gW, be);
          return { out: o, code: saved.code, scale: saved.scale, dv: p.v.grad, da: p.alpha?.grad, db: p.beta?.grad };
        };
        const want = run(reference);
        expect(nonFiniteClasses(want.scale) + nonFiniteClasses(want.out) + nonFiniteClasses(want.dv)).toMatch(/n/);
        for (const be of others) {
          const got = run(be);
          expect(nonFiniteMismatches(got, want), be.name).toEqual([]);
          expect(got.code, `${be.name}: codes`).toEqual(want.code);
        }
      });
    }
  });
});
