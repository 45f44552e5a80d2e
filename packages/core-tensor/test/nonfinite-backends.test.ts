import { describe, expect, it } from 'vitest';
import { attentionBackward, attentionForward, resolveAttention } from '../src/autograd/attention.js';
import { Scratch } from '../src/autograd/arena.js';
import { Graph } from '../src/autograd/graph.js';
import type { KernelBackend } from '../src/index.js';
// the backends under test: a devDependency (nx ignores it for the build order, see package.json)
import { jsGemm, nativeBackend, wasmBackend } from '@autoround/kernels-cpu';
import { mulberry32 as rng, nonFiniteClasses, nonFiniteMismatches, uniformArray as rand } from '@autoround/testing';
import { attentionInputs } from './attention-inputs.js';

// NaN and Inf propagate on every backend exactly as on the TypeScript reference (issue #13, item 6: the
// native fused attention used to turn a row of NaN scores into a row of zeros, and the TypeScript GEMM
// skipped 0·NaN in some loop orders but not in others). Every kernel op of KernelBackend runs the same
// non-finite inputs on the reference (TypeScript loops over jsGemm), on wasm (its GEMM under the same
// loops) and on native (its GEMM and fused kernels); where each output is NaN, +Inf or −Inf must agree.

const reference: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };
const others: KernelBackend[] = [
  ...(wasmBackend.available() ? [wasmBackend.create({})] : []),
  ...(nativeBackend.available() ? [nativeBackend.create({ threads: 2 })] : []),
];


describe.skipIf(others.length === 0)('NaN / Inf propagate on every backend as on the TypeScript reference', () => {
  const r = rng(13);

  describe('gemm', () => {
    const shapes = [
      [3, 5, 4],
      [40, 50, 30], // above jsGemm's transposing threshold: its other loop order
    ] as const;
    for (const [m, n, k] of shapes)
      for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const)
        for (const [alpha, beta] of [[1, 0], [0.5, 1], [0, 1], [0, 0]] as const) {
          it(`${m}x${n}x${k} ${ta ? 'Aᵀ' : 'A'}${tb ? 'Bᵀ' : 'B'} alpha ${alpha} beta ${beta}`, () => {
            const a = rand(m * k, r);
            const b = rand(k * n, r);
            const c0 = rand(m * n, r);
            // a zero row and a zero column in A against NaN / Inf in B: 0·NaN and 0·Inf are NaN
            for (let p = 0; p < k; p++) a[ta ? p * m : p] = 0;
            for (let i = 0; i < m; i++) a[ta ? i : i * k] = 0;
            a[ta ? 1 * m + 2 : 2 * k + 1] = Number.NaN;
            b[tb ? 1 * k + 0 : 0 * n + 1] = Number.NaN;
            b[tb ? 3 * k + 2 : 2 * n + 3] = Infinity;
            b[tb ? 4 * k + 2 : 2 * n + 4] = -Infinity;
            b[tb ? 4 * k + 3 : 3 * n + 4] = Infinity; // +Inf and −Inf in one sum: NaN
            c0[0] = Number.NaN; // read only when beta ≠ 0
            c0[n + 1] = Infinity;
            const run = (be: KernelBackend) => {
              const c = c0.slice();
              be.gemm(ta, tb, m, n, k, a, b, c, alpha, beta);
              return { c };
            };
            const want = run(reference);
            if (alpha !== 0) expect(nonFiniteClasses(want.c)).toMatch(/n/);
            for (const be of others) expect(nonFiniteMismatches(run(be), want), be.name).toEqual([]);
          });
        }
  });

  describe('attention forward and backward', () => {
    const B = 2;
    const T = 13;
    const H = 4;
    const KV = 2;
    const D = 8;
    type Poke = { q?: [number, number]; k?: [number, number]; v?: [number, number]; gOut?: [number, number]; mask?: [number, number]; deadRow?: number };
    const cases: { name: string; causal: boolean; masked?: boolean; poke: Poke }[] = [
      { name: 'NaN in one query', causal: true, poke: { q: [(0 * T + 5) * H * D + 1 * D + 2, Number.NaN] } },
      { name: 'NaN in one key', causal: true, poke: { k: [(1 * T + 3) * KV * D + 0 * D + 4, Number.NaN] } },
      { name: '+Inf in one value', causal: true, poke: { v: [(0 * T + 6) * KV * D + 1 * D + 1, Infinity] } },
      { name: 'NaN in one value, inside a tile', causal: true, poke: { v: [(0 * T + 9) * KV * D + 0 * D + 3, Number.NaN] } },
      { name: 'Inf in one query (Inf − Inf scores)', causal: true, poke: { q: [(1 * T + 2) * H * D + 0 * D + 0, Infinity] } },
      { name: 'NaN in the output gradient', causal: true, poke: { gOut: [(0 * T + 4) * H * D + 3 * D + 5, Number.NaN] } },
      { name: 'NaN in one value, full attention', causal: false, poke: { v: [(1 * T + 7) * KV * D + 1 * D + 0, Number.NaN] } },
      { name: 'NaN in the mask, a removed row beside a NaN value', causal: false, masked: true, poke: { mask: [(0 * T + 4) * T + 8, Number.NaN], deadRow: 2, v: [(0 * T + 10) * KV * D + 0 * D + 6, Number.NaN] } },
      { name: 'a removed row and a NaN query, causal with a mask', causal: true, masked: true, poke: { deadRow: 6, q: [(0 * T + 9) * H * D + 2 * D + 7, Number.NaN] } },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const r2 = rng(c.name.length);
        const { q, k, v, gOut, mask } = attentionInputs(r2, { B, T, H, KV, D }, c.masked ? c.poke.deadRow! : undefined);
        const arrays = { q, k, v, gOut, mask };
        for (const key of ['q', 'k', 'v', 'gOut', 'mask'] as const) {
          const p = c.poke[key];
          if (p) arrays[key]![p[0]] = p[1];
        }
        // tiles of 4 query rows in the TypeScript loops, 8 in the native kernel: the causal diagonal falls differently
        const o = resolveAttention({ batch: B, seqLen: T, numHeads: H, numKvHeads: KV, headDim: D, causal: c.causal, mask, blockRows: 4 });
        const run = (be: KernelBackend) => {
          const out = new Float32Array(B * T * H * D);
          const lse = new Float32Array(B * H * T);
          attentionForward(be, q, k, v, out, lse, o, new Scratch());
          const gq = new Float32Array(q.length);
          const gk = new Float32Array(k.length);
          const gv = new Float32Array(v.length);
          attentionBackward(be, q, k, v, out, gOut, lse, gq, gk, gv, o, new Scratch());
          return { out, lse, gq, gk, gv };
        };
        const want = run(reference);
        for (const be of others) expect(nonFiniteMismatches(run(be), want), be.name).toEqual([]);
        // and what the reference does is right: causal rows before a bad key/value position are finite,
        // a removed row is 0 with lse −∞ and no gradient
        const row = (a: Float32Array, bt: number, h: number, w: number) => nonFiniteClasses(a.subarray(bt * w * h, (bt + 1) * w * h));
        if (c.causal && (c.poke.k || c.poke.v)) {
          const [idx] = (c.poke.k ?? c.poke.v)!;
          const bt = Math.floor(idx / (KV * D));
          for (let t = bt - (bt % T); t < bt; t++) expect(row(want.out, t, H, D), `out row ${t} before the bad position ${bt}`).not.toMatch(/[n+-]/);
        }
        expect(nonFiniteClasses(want.out) + nonFiniteClasses(want.gq) + nonFiniteClasses(want.gk) + nonFiniteClasses(want.gv)).toMatch(/[n+-]/);
        if (c.poke.deadRow !== undefined) {
          const t = c.poke.deadRow;
          expect([...want.out.subarray(t * H * D, (t + 1) * H * D)].every((x) => x === 0)).toBe(true);
          expect(want.lse[t]).toBe(-Infinity);
          expect([...want.gq.subarray(t * H * D, (t + 1) * H * D)].every((x) => x === 0)).toBe(true);
        }
      });
    }
  });

  describe('SwiGLU, RMSNorm and RoPE forward and backward', () => {
    it('NaN and Inf inputs, weights and gradients', () => {
      const rows = 9;
      const H = 2;
      const D = 8;
      const hidden = H * D;
      const run = (be: KernelBackend) => {
        const r2 = rng(21);
        const g = new Graph(be);
        const xd = rand(rows * hidden, r2, -3, 3);
        const wd = rand(hidden, r2, 0.5, 1.5);
        const gd = rand(rows * hidden, r2, -12, 12);
        const ud = rand(rows * hidden, r2);
        xd[2 * hidden + 5] = Number.NaN; // one row of the norm
        wd[7] = Infinity; // one column of every row
        gd[4 * hidden + 1] = Infinity; // silu(+Inf) = +Inf
        gd[5 * hidden + 2] = -Infinity; // silu(−Inf) = −Inf·σ(−Inf): NaN or 0 as the reference says
        ud[6 * hidden + 3] = Number.NaN;
        const x = g.leaf(xd, [rows, hidden]);
        const w = g.leaf(wd, [hidden]);
        const gate = g.leaf(gd, [rows, hidden]);
        const up = g.leaf(ud, [rows, hidden]);
        const P = rows * 2;
        const cos = rand(P * D, r2);
        const sin = rand(P * D, r2);
        cos[3 * D + 1] = Number.NaN; // one table entry
        const positions = Array.from({ length: rows }, (_, i) => P - 1 - 2 * i);
        const n1 = g.rmsNorm(x, w, 1e-5);
        const s1 = g.swiglu(gate, up);
        const p1 = g.rope(g.add(n1, s1), cos, sin, { numHeads: H, headDim: D, rotaryDim: D, positions });
        const seed = rand(p1.size, rng(22));
        seed[8 * hidden + 4] = Number.NaN;
        g.backward(p1, seed);
        return { norm: n1.data.slice(), swiglu: s1.data.slice(), rope: p1.data.slice(), gx: x.grad!.slice(), gw: w.grad!.slice(), gGate: gate.grad!.slice(), gUp: up.grad!.slice() };
      };
      const want = run(reference);
      for (const be of others) expect(nonFiniteMismatches(run(be), want), be.name).toEqual([]);
    });
  });
});
