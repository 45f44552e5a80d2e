import { describe, expect, it } from 'vitest';
import { Graph, Param, type Var } from '../src/index.js';
import type { KernelBackend } from '../src/index.js';
import { centralDifferences, referenceGemm, mulberry32 as rng, uniformArray as rand } from '@autoround/testing';

// Each op: the float32 graph's forward against an independent float64 reference, and its
// backward (vector-Jacobian product with a random seed r) against central differences of
// L(x) = Σ r·f(x) evaluated in float64.

const backend: KernelBackend = { name: 'reference', threads: 1, gemm: referenceGemm };

type Ref = (inputs: Float64Array[]) => Float64Array;

function dot(a: Float64Array, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Central differences of Σ r·ref(inputs) with respect to inputs[which]. */
function fdGrad(ref: Ref, inputs: Float32Array[], which: number, r: Float32Array, eps = 1e-5): Float64Array {
  const xs: Float64Array[] = inputs.map((a) => Float64Array.from(a));
  return centralDifferences((x) => {
    xs[which] = x;
    return dot(ref(xs), r);
  }, inputs[which]!, eps);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  expect(worst / Math.max(scale, 1e-12), `${what}: max error ${worst} vs scale ${scale}`).toBeLessThan(rel);
}

/**
 * Builds the op on leaves that require grad, runs backward with seed r and compares
 * forward and every input gradient with the float64 reference.
 */
function checkOp(
  name: string,
  inputs: Float32Array[],
  shapes: number[][],
  build: (g: Graph, xs: Var[]) => Var,
  ref: Ref,
  seed = 7,
  tol = { fwd: 1e-5, grad: 2e-3 },
): void {
  const g = new Graph(backend);
  const xs = inputs.map((a, i) => g.leaf(a, shapes[i]!));
  const y = build(g, xs);
  const yRef = ref(inputs.map((a) => Float64Array.from(a)));
  expectClose(y.data, yRef, tol.fwd, `${name} forward`);
  const r = rand(y.size, rng(seed));
  g.backward(y, r);
  for (let i = 0; i < inputs.length; i++) {
    const fd = fdGrad(ref, inputs, i, r);
    expect(xs[i]!.grad, `${name} grad ${i}`).not.toBeNull();
    expectClose(xs[i]!.grad!, fd, tol.grad, `${name} grad of input ${i}`);
  }
}

// ---------------------------------------------------------------- float64 references

function linearRef(x: Float64Array, w: Float64Array, b: Float64Array | null, N: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inF; i++) s += x[n * inF + i]! * w[o * inF + i]!;
      y[n * outF + o] = s;
    }
  return y;
}

function rmsRef(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  const d = w.length;
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = w[i]! * x[r * d + i]! * inv;
  }
  return y;
}

/** HF apply_rotary_pos_emb on [rows, H, D] with cos/sin rows picked by pos. */
function ropeRef(x: Float64Array, cos: Float32Array, sin: Float32Array, pos: number[], H: number, D: number, rot = D): Float64Array {
  const y = new Float64Array(x.length);
  const half = rot / 2;
  for (let n = 0; n < pos.length; n++)
    for (let h = 0; h < H; h++) {
      const b = (n * H + h) * D;
      const c = pos[n]! * D;
      for (let i = 0; i < D; i++) {
        if (i >= rot) {
          y[b + i] = x[b + i]!;
          continue;
        }
        const rotated = i < half ? -x[b + i + half]! : x[b + i - half]!;
        y[b + i] = x[b + i]! * cos[c + i]! + rotated * sin[c + i]!;
      }
    }
  return y;
}

function attnRef(
  q: Float64Array,
  k: Float64Array,
  v: Float64Array,
  B: number,
  T: number,
  H: number,
  KV: number,
  D: number,
  causal: boolean,
  mask?: Float32Array,
  softcap?: number,
  scale = 1 / Math.sqrt(D),
): Float64Array {
  const out = new Float64Array(B * T * H * D);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / (H / KV));
      for (let t = 0; t < T; t++) {
        const sc: number[] = [];
        for (let s = 0; s < T; s++) {
          let d = 0;
          for (let i = 0; i < D; i++) d += q[((b * T + t) * H + h) * D + i]! * k[((b * T + s) * KV + kh) * D + i]!;
          const z = softcap === undefined ? d * scale : softcap * Math.tanh((d * scale) / softcap);
          let val = z + (mask ? mask[(b * T + t) * T + s]! : 0);
          if (causal && s > t) val = -Infinity;
          sc.push(val);
        }
        const mx = Math.max(...sc);
        const e = sc.map((z) => Math.exp(z - mx));
        const sum = e.reduce((a, c) => a + c, 0);
        for (let s = 0; s < T; s++)
          for (let i = 0; i < D; i++) out[((b * T + t) * H + h) * D + i]! += (e[s]! / sum) * v[((b * T + s) * KV + kh) * D + i]!;
      }
    }
  return out;
}

const sig = (z: number) => 1 / (1 + Math.exp(-z));

// ---------------------------------------------------------------- tests

describe('autograd ops: forward vs float64 reference, backward vs central differences', () => {
  it('linear with bias (x, W and b all get gradients)', () => {
    const r = rng(1);
    const N = 6;
    const inF = 5;
    const outF = 7;
    checkOp(
      'linear',
      [rand(N * inF, r), rand(outF * inF, r), rand(outF, r)],
      [[N, inF], [outF, inF], [outF]],
      (g, [x, w, b]) => g.linear(x!, w!, b!),
      ([x, w, b]) => linearRef(x!, w!, b!, N, inF, outF),
    );
  });

  it('linear on a 3-D input [B, T, in]', () => {
    const r = rng(2);
    checkOp(
      'linear3d',
      [rand(2 * 3 * 4, r), rand(5 * 4, r)],
      [[2, 3, 4], [5, 4]],
      (g, [x, w]) => {
        const y = g.linear(x!, w!);
        expect(y.shape).toEqual([2, 3, 5]);
        return y;
      },
      ([x, w]) => linearRef(x!, w!, null, 6, 4, 5),
    );
  });

  it('add, mul, scale', () => {
    const r = rng(3);
    const a = rand(12, r);
    const b = rand(12, r);
    checkOp('add', [a, b], [[3, 4], [3, 4]], (g, [x, y]) => g.add(x!, y!), ([x, y]) => x!.map((v, i) => v + y![i]!));
    checkOp('mul', [a, b], [[3, 4], [3, 4]], (g, [x, y]) => g.mul(x!, y!), ([x, y]) => x!.map((v, i) => v * y![i]!));
    checkOp('scale', [a], [[12]], (g, [x]) => g.scale(x!, -2.5), ([x]) => x!.map((v) => -2.5 * v));
  });

  it('the same value used twice accumulates both gradients', () => {
    const r = rng(4);
    checkOp(
      'x*x+x',
      [rand(10, r)],
      [[10]],
      (g, [x]) => g.add(g.mul(x!, x!), x!),
      ([x]) => x!.map((v) => v * v + v),
    );
  });

  it('rmsNorm (HF LlamaRMSNorm) with weight gradient', () => {
    const r = rng(5);
    const eps = 1e-6;
    checkOp(
      'rmsNorm',
      [rand(4 * 8, r), rand(8, r, 0.5, 1.5)],
      [[4, 8], [8]],
      (g, [x, w]) => g.rmsNorm(x!, w!, eps),
      ([x, w]) => rmsRef(x!, w!, eps),
    );
  });

  it('rmsNorm per head (Qwen3 q_norm/k_norm over head_dim)', () => {
    const r = rng(6);
    const eps = 1e-6;
    // x [T=3, heads=2 · head_dim=4], weight [head_dim]
    checkOp(
      'qNorm',
      [rand(3 * 8, r), rand(4, r, 0.5, 1.5)],
      [[3, 8], [4]],
      (g, [x, w]) => g.rmsNorm(x!, w!, eps),
      ([x, w]) => rmsRef(x!, w!, eps),
    );
  });

  it('rope with rotate_half, per-row positions and partial rotary dims', () => {
    const r = rng(7);
    const H = 2;
    const D = 6;
    const P = 9;
    const cos = rand(P * D, r);
    const sin = rand(P * D, r);
    const pos = [3, 0, 8, 5];
    checkOp(
      'rope',
      [rand(pos.length * H * D, r)],
      [[pos.length, H * D]],
      (g, [x]) => g.rope(x!, cos, sin, { numHeads: H, headDim: D, positions: pos }),
      ([x]) => ropeRef(x!, cos, sin, pos, H, D),
    );
    checkOp(
      'rope partial',
      [rand(pos.length * H * D, r)],
      [[pos.length, H * D]],
      (g, [x]) => g.rope(x!, cos, sin, { numHeads: H, headDim: D, positions: pos, rotaryDim: 4 }),
      ([x]) => ropeRef(x!, cos, sin, pos, H, D, 4),
    );
    // default positions: row % seqLen
    checkOp(
      'rope seqLen',
      [rand(6 * H * D, r)],
      [[6, H * D]],
      (g, [x]) => g.rope(x!, cos, sin, { numHeads: H, headDim: D, seqLen: 3 }),
      ([x]) => ropeRef(x!, cos, sin, [0, 1, 2, 0, 1, 2], H, D),
    );
  });

  for (const bq of [128, 2]) {
    it(`grouped-query causal attention (4 heads, 2 kv heads, tile rows ${bq})`, () => {
      const r = rng(8);
      const B = 2;
      const T = 5;
      const H = 4;
      const KV = 2;
      const D = 4;
      checkOp(
        'attention',
        [rand(B * T * H * D, r), rand(B * T * KV * D, r), rand(B * T * KV * D, r)],
        [[B * T, H * D], [B * T, KV * D], [B * T, KV * D]],
        (g, [q, k, v]) => g.attention(q!, k!, v!, { batch: B, seqLen: T, numHeads: H, numKvHeads: KV, headDim: D, blockRows: bq }),
        ([q, k, v]) => attnRef(q!, k!, v!, B, T, H, KV, D, true),
      );
    });
  }

  it('attention without causality, with an additive mask', () => {
    const r = rng(9);
    const B = 2;
    const T = 4;
    const H = 2;
    const KV = 1;
    const D = 3;
    const mask = new Float32Array(B * T * T);
    for (let i = 0; i < mask.length; i++) mask[i] = r() < 0.25 ? -1e9 : r() - 0.5;
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) mask[(b * T + t) * T + t] = 0; // keep every row alive
    checkOp(
      'attention masked',
      [rand(B * T * H * D, r), rand(B * T * KV * D, r), rand(B * T * KV * D, r)],
      [[B * T, H * D], [B * T, KV * D], [B * T, KV * D]],
      (g, [q, k, v]) => g.attention(q!, k!, v!, { batch: B, seqLen: T, numHeads: H, numKvHeads: KV, headDim: D, causal: false, mask, blockRows: 3 }),
      ([q, k, v]) => attnRef(q!, k!, v!, B, T, H, KV, D, false, mask),
    );
  });

  it('attention with logit soft-capping (Gemma 2), a sliding-window mask and another scale', () => {
    const r = rng(19);
    const B = 2;
    const T = 6;
    const H = 4;
    const KV = 2;
    const D = 4;
    const window = 3;
    const mask = new Float32Array(B * T * T);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let s = 0; s < T; s++) if (t - s >= window) mask[(b * T + t) * T + s] = -Infinity;
    for (const bq of [128, 4]) {
      checkOp(
        'attention softcap',
        [rand(B * T * H * D, r, -3, 3), rand(B * T * KV * D, r, -3, 3), rand(B * T * KV * D, r)],
        [[B * T, H * D], [B * T, KV * D], [B * T, KV * D]],
        (g, [q, k, v]) => g.attention(q!, k!, v!, { batch: B, seqLen: T, numHeads: H, numKvHeads: KV, headDim: D, blockRows: bq, mask, softcap: 1.5, scale: 0.7 }),
        ([q, k, v]) => attnRef(q!, k!, v!, B, T, H, KV, D, true, mask, 1.5, 0.7),
      );
    }
  });

  it('columns of a fused projection', () => {
    const r = rng(21);
    const x = rand(4 * 7, r);
    checkOp('columns', [x], [[4, 7]], (g, [v]) => g.columns(v!, 2, 3), ([v]) => Float64Array.from({ length: 12 }, (_, i) => v![Math.floor(i / 3) * 7 + 2 + (i % 3)]!));
  });

  it('geglu (tanh GELU) and soft-capping', () => {
    const r = rng(20);
    const a = rand(15, r, -4, 4);
    const b = rand(15, r);
    const gelu = (z: number) => 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
    checkOp('geglu', [a, b], [[3, 5], [3, 5]], (g, [x, y]) => g.geglu(x!, y!), ([x, y]) => x!.map((z, i) => gelu(z) * y![i]!));
    checkOp('softcap', [a], [[15]], (g, [x]) => g.softcap(x!, 2.5), ([x]) => x!.map((z) => 2.5 * Math.tanh(z / 2.5)));
  });

  it('silu and the fused swiglu', () => {
    const r = rng(10);
    const a = rand(15, r, -4, 4);
    const b = rand(15, r);
    checkOp('silu', [a], [[15]], (g, [x]) => g.silu(x!), ([x]) => x!.map((z) => z * sig(z)));
    checkOp('swiglu', [a, b], [[3, 5], [3, 5]], (g, [x, y]) => g.swiglu(x!, y!), ([x, y]) => x!.map((z, i) => z * sig(z) * y![i]!));
  });

  it('mse: mean, sum and per-token mask broadcast over hidden', () => {
    const r = rng(11);
    const target = rand(4 * 6, r);
    const mask = Float32Array.from([1, 0, 1, 0.5]);
    const mref = (p: Float64Array, m?: Float32Array, sum = false) => {
      let s = 0;
      for (let i = 0; i < p.length; i++) {
        const w = m ? m[Math.floor(i / 6)]! : 1;
        s += (p[i]! * w - target[i]! * w) ** 2;
      }
      return Float64Array.of(sum ? s : s / p.length);
    };
    const p = rand(4 * 6, r);
    checkOp('mse', [p], [[4, 6]], (g, [x]) => g.mse(x!, target), ([x]) => mref(x!));
    checkOp('mse mask', [p], [[4, 6]], (g, [x]) => g.mse(x!, target, { mask }), ([x]) => mref(x!, mask));
    checkOp('mse sum', [p], [[4, 6]], (g, [x]) => g.mse(x!, target, { mask, reduction: 'sum' }), ([x]) => mref(x!, mask, true));
  });

  it('a small chain: linear → reshape → per-half rmsNorm → reshape → swiglu → linear → mse', () => {
    const r = rng(12);
    const N = 3;
    const inF = 4;
    const hid = 6;
    const target = rand(N * inF, r);
    const w1 = rand(2 * hid * inF, r);
    const w2 = rand(inF * hid, r);
    const nw = rand(hid, r, 0.5, 1.5);
    const ref: Ref = ([x]) => {
      const h = linearRef(x!, Float64Array.from(w1), null, N, inF, 2 * hid);
      const n = rmsRef(h, Float64Array.from(nw), 1e-5); // rows of hid: two per token
      const a = new Float64Array(N * hid);
      for (let t = 0; t < N; t++)
        for (let j = 0; j < hid; j++) {
          const gte = n[t * 2 * hid + j]!;
          a[t * hid + j] = gte * sig(gte) * n[t * 2 * hid + hid + j]!;
        }
      const y = linearRef(a, Float64Array.from(w2), null, N, hid, inF);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += (y[i]! - target[i]!) ** 2;
      return Float64Array.of(s / y.length);
    };
    // gate/up halves picked by constant selection matrices (keeps the split inside the graph)
    const sel = (off: number) => {
      const w = new Float32Array(hid * 2 * hid);
      for (let j = 0; j < hid; j++) w[j * 2 * hid + off + j] = 1;
      return w;
    };
    const s0 = sel(0);
    const s1 = sel(hid);
    checkOp(
      'chain',
      [rand(N * inF, r)],
      [[N, inF]],
      (g, [x]) => {
        const h = g.linear(x!, g.input(w1, [2 * hid, inF]));
        const hv = g.reshape(h, [2 * N, hid]);
        expect(hv.data).toBe(h.data);
        const n = g.reshape(g.rmsNorm(hv, g.input(nw, [hid]), 1e-5), [N, 2 * hid]);
        const a = g.swiglu(g.linear(n, g.input(s0, [hid, 2 * hid])), g.linear(n, g.input(s1, [hid, 2 * hid])));
        return g.mse(g.linear(a, g.input(w2, [inF, hid])), target);
      },
      ref,
    );
  });
});

describe('Graph mechanics', () => {
  it('params accumulate across backward calls; leaves and inputs behave', () => {
    const g = new Graph(backend);
    const p = new Param([3], Float32Array.from([1, 2, 3]));
    const x = Float32Array.from([0.5, -1, 2]);
    const run = () => {
      g.reset();
      const y = g.mul(g.param(p), g.input(x, [3]));
      g.backward(g.mse(y, new Float32Array(3), { reduction: 'sum' }));
    };
    run();
    const once = Float32Array.from(p.grad);
    // d/dp Σ (p x)² = 2 p x²
    expect(Array.from(once)).toEqual([2 * 1 * 0.25, 2 * 2 * 1, 2 * 3 * 4]);
    run();
    expect(Array.from(p.grad)).toEqual(Array.from(once).map((v) => 2 * v));
    const y = g.mul(g.param(p), g.param(p));
    expect(() => g.backward(g.mse(y, new Float32Array(3)))).toThrow(/already run/);
    p.zeroGrad();
    expect(Array.from(p.grad)).toEqual([0, 0, 0]);
  });

  it('frozen params and inputs get no gradient and record no backward', () => {
    const g = new Graph(backend);
    const p = new Param([2], 1, false);
    const y = g.add(g.param(p), g.input(Float32Array.of(1, 2), [2]));
    expect(y.requiresGrad).toBe(false);
    expect(g.tapeLength).toBe(0);
    expect(() => g.backward(y)).toThrow(/does not depend/);
  });

  it("takes its value and gradient buffers from the backend's allocate, with the same results", () => {
    const sizes: number[] = [];
    const counting: KernelBackend = {
      ...backend,
      allocate: (n) => {
        sizes.push(n);
        // a view that does not start at its buffer's first byte, as the native backend's aligned ones
        return new Float32Array(n + 3).subarray(3, 3 + n);
      },
    };
    const run = (be: KernelBackend) => {
      const p = new Param([4, 3], Float32Array.from([1, -2, 3, 0.5, 0.25, -1, 2, 2, -3, 1, 0, 4]));
      const g = new Graph(be);
      const y = g.linear(g.input(Float32Array.from([1, 2, 3, -1, 0.5, 2]), [2, 3]), g.param(p));
      const out = Float32Array.from(y.data);
      g.backward(g.mse(y, new Float32Array(8)));
      return [out, Float32Array.from(p.grad)];
    };
    const [y0, g0] = run(backend);
    const [y1, g1] = run(counting);
    expect(sizes).toContain(8); // the linear's output [2, 4]
    expect(Array.from(y1!)).toEqual(Array.from(y0!));
    expect(Array.from(g1!)).toEqual(Array.from(g0!));
  });

  it('rejects mismatched shapes with an AutoRoundError naming the op', () => {
    const g = new Graph(backend);
    const x = g.input(new Float32Array(6), [2, 3]);
    expect(() => g.linear(x, g.input(new Float32Array(8), [2, 4]))).toThrow(/linear: input last dim 3/);
    expect(() => g.add(x, g.input(new Float32Array(5), [5]))).toThrow(/add:/);
    expect(() => g.mse(x, new Float32Array(6), { mask: new Float32Array(3) })).toThrow(/mse: mask has 3/);
  });
});
