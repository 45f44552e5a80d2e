import { describe, expect, it } from 'vitest';
import { attentionBackward, attentionForward, resolveAttention } from '../src/autograd/attention.js';
import { Scratch } from '../src/autograd/arena.js';
import { Graph } from '../src/autograd/graph.js';
import type { KernelBackend } from '../src/index.js';
import { jsGemm, native, nativeBackend } from '@autoround/kernels-cpu';
import { mulberry32 as rng, uniformArray as rand } from '@autoround/testing';
import { attentionInputs } from './attention-inputs.js';

// The native backend's fused kernels against the TypeScript fallback (same autograd entry points,
// a backend without the optional methods), on small random shapes.

const js: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };
const hasNative = native !== null && typeof native.attention === 'function';

function expectClose(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    const d = Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!));
    if (!(d <= worst)) worst = d;
  }
  expect(worst, what).toBeLessThan(tol);
}

describe.skipIf(!hasNative)('native fused attention vs TypeScript', () => {
  const cases = [
    { B: 2, T: 7, H: 4, KV: 2, D: 8, causal: true },
    { B: 1, T: 33, H: 8, KV: 4, D: 8, causal: true },
    { B: 2, T: 19, H: 2, KV: 2, D: 12, causal: false },
    { B: 1, T: 40, H: 4, KV: 1, D: 32, causal: true, mask: true },
    { B: 2, T: 17, H: 2, KV: 1, D: 5, causal: false, mask: true },
    { B: 1, T: 1, H: 2, KV: 1, D: 3, causal: true },
  ];
  for (const c of cases) {
    it(`B${c.B} T${c.T} H${c.H} KV${c.KV} D${c.D} ${c.causal ? 'causal' : 'full'}${c.mask ? ' masked' : ''}`, () => {
      const r = rng(c.T * 131 + c.D);
      const { B, T, H, KV, D } = c;
      // with a mask, one row masked out entirely: output 0, lse −∞, no gradient
      const { q, k, v, gOut, mask } = attentionInputs(r, c, c.mask ? Math.min(2, T - 1) : undefined);
      const o = resolveAttention({ batch: B, seqLen: T, numHeads: H, numKvHeads: KV, headDim: D, causal: c.causal, mask, blockRows: 5 });
      const run = (be: KernelBackend) => {
        const out = new Float32Array(B * T * H * D);
        const lse = new Float32Array(B * H * T);
        attentionForward(be, q, k, v, out, lse, o, new Scratch());
        const gq = rand(q.length, rng(7)); // accumulation onto existing values
        const gk = rand(k.length, rng(8));
        const gv = rand(v.length, rng(9));
        attentionBackward(be, q, k, v, out, gOut, lse, gq, gk, gv, o, new Scratch());
        return { out, lse, gq, gk, gv };
      };
      const a = run(nativeBackend.create({ threads: 2 }));
      const b = run(js);
      expectClose(a.out, b.out, 2e-5, 'out');
      expectClose(a.lse, b.lse, 2e-5, 'lse');
      expectClose(a.gq, b.gq, 5e-5, 'gq');
      expectClose(a.gk, b.gk, 5e-5, 'gk');
      expectClose(a.gv, b.gv, 5e-5, 'gv');
      // null gradients and thread count do not change the rest (bit-identical)
      const be1 = nativeBackend.create({ threads: 1 });
      const out1 = new Float32Array(a.out.length);
      const lse1 = new Float32Array(a.lse.length);
      attentionForward(be1, q, k, v, out1, lse1, o, new Scratch());
      expect(out1).toEqual(a.out);
      const gk1 = rand(k.length, rng(8));
      attentionBackward(be1, q, k, v, out1, gOut, lse1, null, gk1, null, o, new Scratch());
      expect(gk1).toEqual(a.gk);
      // fresh gradient buffers (garbage in, overwritten) give the bits of zero-filled ones (dead rows included)
      const zeroed = [q, k, v].map((x) => new Float32Array(x.length));
      attentionBackward(be1, q, k, v, out1, gOut, lse1, zeroed[0]!, zeroed[1]!, zeroed[2]!, o, new Scratch());
      const garbage = [q, k, v].map((x, i) => rand(x.length, rng(20 + i), -1e3, 1e3));
      garbage[0]![0] = NaN;
      attentionBackward(be1, q, k, v, out1, gOut, lse1, garbage[0]!, garbage[1]!, garbage[2]!, o, new Scratch(), 7);
      garbage.forEach((gr, i) => expect(gr, ['gq', 'gk', 'gv'][i]).toEqual(zeroed[i]));
    });
  }
});

describe.skipIf(!(native !== null && typeof native.swiglu === 'function'))('native SwiGLU / RMSNorm / RoPE vs TypeScript (bit-identical)', () => {
  // Each op through Graph on both backends, forward and backward, with gradients accumulating onto
  // earlier values (the op is used twice) — the native loops must give the TypeScript's bits.
  const run = (be: KernelBackend, rows: number, H: number, D: number, rot: number, seed: number) => {
    const r = rng(seed);
    const hidden = H * D;
    const g = new Graph(be);
    const x = g.leaf(rand(rows * hidden, r, -3, 3), [rows, hidden]);
    const w = g.leaf(rand(hidden, r, 0.5, 1.5), [hidden]);
    const gate = g.leaf(rand(rows * hidden, r, -12, 12), [rows, hidden]);
    const up = g.leaf(rand(rows * hidden, r), [rows, hidden]);
    // tables of 2·rows positions, rows read back to front
    const P = rows * 2;
    const cos = rand(P * D, r);
    const sin = rand(P * D, r);
    const positions = Array.from({ length: rows }, (_, i) => P - 1 - 2 * i);
    const n1 = g.rmsNorm(x, w, 1e-5);
    const n2 = g.rmsNorm(n1, w, 1e-6);
    const s1 = g.swiglu(gate, n2);
    const s2 = g.swiglu(s1, up);
    const p1 = g.rope(s2, cos, sin, { numHeads: H, headDim: D, rotaryDim: rot, positions });
    const p2 = g.rope(g.add(p1, x), cos, sin, { numHeads: H, headDim: D, rotaryDim: rot, positions });
    g.backward(p2, rand(p2.size, rng(seed + 1)));
    return [n2.data, s2.data, p2.data, x.grad!, w.grad!, gate.grad!, up.grad!].map((a) => a.slice());
  };
  const cases = [
    { rows: 7, H: 2, D: 8, rot: 8 },
    { rows: 300, H: 4, D: 32, rot: 32 },
    { rows: 5, H: 3, D: 10, rot: 6 }, // partial rotary
    { rows: 600, H: 2, D: 64, rot: 64 }, // several tasks per op
  ];
  for (const c of cases) {
    it(`rows ${c.rows} heads ${c.H}×${c.D} rotary ${c.rot}`, () => {
      const nb = nativeBackend.create({ threads: 2 });
      expect(nb.swigluForward && nb.rmsNormForward && nb.ropeForward).toBeTruthy();
      const a = run(nb, c.rows, c.H, c.D, c.rot, c.rows + c.D);
      const b = run(js, c.rows, c.H, c.D, c.rot, c.rows + c.D);
      const names = ['rmsNorm', 'swiglu', 'rope', 'grad x', 'grad w', 'grad gate', 'grad up'];
      a.forEach((v, i) => expect(v, names[i]).toEqual(b[i]));
    });
  }
  it('rejects positions outside the tables', () => {
    const nb = nativeBackend.create({ threads: 1 });
    const x = new Float32Array(8);
    expect(() => nb.ropeForward!(x, new Float32Array(8), new Float32Array(8), new Float32Array(8), Int32Array.of(1), { numHeads: 1, headDim: 8, rotaryDim: 8 })).toThrow(/outside the cos\/sin tables/);
  });
});

describe.skipIf(!(native !== null && typeof native.mse === 'function'))('native add / accumulate / MSE / sign step vs TypeScript (bit-identical)', () => {
  // Residual adds whose gradients accumulate (a value used three times), then the MSE with and without a
  // per-row mask (rows with mask 0 and fractional weights), through Graph on both backends; sizes above the
  // kernels' task grain so that they split over threads.
  const run = (be: KernelBackend, rows: number, d: number, masked: boolean, seed: number) => {
    const r = rng(seed);
    const g = new Graph(be);
    const a = g.leaf(rand(rows * d, r, -3, 3), [rows, d]);
    const b = g.leaf(rand(rows * d, r, -3, 3), [rows, d]);
    const target = rand(rows * d, r, -4, 4);
    const mask = masked ? Float32Array.from({ length: rows }, (_, i) => (i % 5 === 4 ? 0 : i % 3 === 0 ? 0.37 : 1)) : undefined;
    const s1 = g.add(a, b);
    const s2 = g.add(s1, a);
    const s3 = g.add(s2, s1);
    const loss = g.mse(s3, target, mask ? { mask } : {});
    g.backward(g.scale(loss, 1000));
    return { loss: loss.data[0]!, out: [s3.data, a.grad!, b.grad!].map((x) => x.slice()) };
  };
  for (const c of [
    { rows: 3, d: 5, masked: false },
    { rows: 300, d: 320, masked: false },
    { rows: 300, d: 320, masked: true },
  ]) {
    it(`rows ${c.rows} × ${c.d}${c.masked ? ' masked' : ''}`, () => {
      const nb = nativeBackend.create({ threads: 2 });
      expect(nb.mseForward && nb.addInto && nb.accumulate).toBeTruthy();
      const x = run(nb, c.rows, c.d, c.masked, c.rows + 11);
      const y = run(js, c.rows, c.d, c.masked, c.rows + 11);
      expect(x.loss).toBe(y.loss);
      ['sum', 'grad a', 'grad b'].forEach((name, i) => expect(x.out[i], name).toEqual(y.out[i]));
    });
  }
  it('sign step: the TypeScript loop’s bits, zero and NaN gradients leave the value', () => {
    const nb = nativeBackend.create({ threads: 2 });
    const r = rng(5);
    const n = 200_003;
    const data = rand(n, r, -1, 1);
    const grad = rand(n, r, -1, 1);
    for (let i = 0; i < n; i += 97) grad[i] = 0;
    grad[5] = NaN;
    grad[6] = -0;
    const want = data.slice();
    const lr = 0.00123456789;
    for (let i = 0; i < n; i++) {
      const gi = grad[i]!;
      if (gi > 0) want[i] = Math.fround(want[i]! - lr);
      else if (gi < 0) want[i] = Math.fround(want[i]! + lr);
    }
    nb.signStep!(data, grad, lr);
    expect(data).toEqual(want);
  });
});
