import { describe, expect, it } from 'vitest';
import { Graph, type KernelBackend, type Var, roundToF16 } from '@autoround/core-tensor';
import { jsGemm } from '@autoround/kernels-cpu';
import { type BlockTensors, type GraphBlockOptions, llamaBlockGraph } from '@autoround/models';
import { QdqParams, type QdqConfig, qdqVar, quantizeDequantize } from '../src/quantizers/int-qdq.js';
import { centralDifferences as fd, mulberry32 as rng, roundHalfEven as rne, uniformArray as rand } from '@autoround/testing';

// The LLaMA / Qwen3 decoder block (llamaBlock) on the autograd operations (graph-ops.ts):
//  - its float32 output against a plain float64 forward written here (HF modeling order);
//  - gradients of the masked MSE loss (×1000) w.r.t. V/alpha/beta of quantized layers against
//    central differences of the same loss with the STE surrogate QDQ, through the float64 block;
//  - buffer reuse across iterations.

const backend: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };
const f = Math.fround;

const cfg = { hidden: 16, numHeads: 4, numKvHeads: 2, headDim: 4, intermediate: 24, eps: 1e-6 };
const B = 2;
const T = 5;

type Lin = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
const dims: Record<Lin, [number, number]> = {
  q: [16, 16],
  k: [8, 16],
  v: [8, 16],
  o: [16, 16],
  gate: [24, 16],
  up: [24, 16],
  down: [16, 24],
};

interface Model {
  w: Record<Lin, Float32Array>;
  inputNorm: Float32Array;
  postNorm: Float32Array;
  qNorm?: Float32Array;
  kNorm?: Float32Array;
  cos: Float32Array;
  sin: Float32Array;
}

function makeModel(seed: number, qwen3: boolean): Model {
  const r = rng(seed);
  const w = {} as Record<Lin, Float32Array>;
  for (const k of Object.keys(dims) as Lin[]) w[k] = rand(dims[k][0] * dims[k][1], r, -0.35, 0.35);
  const D = cfg.headDim;
  const cos = new Float32Array(T * D);
  const sin = new Float32Array(T * D);
  for (let p = 0; p < T; p++)
    for (let i = 0; i < D / 2; i++) {
      const inv = f(1 / Math.pow(10000, (2 * i) / D));
      const a = f(p * inv);
      cos[p * D + i] = cos[p * D + i + D / 2] = Math.cos(a);
      sin[p * D + i] = sin[p * D + i + D / 2] = Math.sin(a);
    }
  return {
    w,
    inputNorm: rand(16, r, 0.8, 1.2),
    postNorm: rand(16, r, 0.8, 1.2),
    qNorm: qwen3 ? rand(4, r, 0.8, 1.2) : undefined,
    kNorm: qwen3 ? rand(4, r, 0.8, 1.2) : undefined,
    cos,
    sin,
  };
}

// ---------------------------------------------------------------- float64 reference block

function lin(x: Float64Array, w: ArrayLike<number>, N: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let i = 0; i < inF; i++) s += x[n * inF + i]! * w[o * inF + i]!;
      y[n * outF + o] = s;
    }
  return y;
}
function rms(x: Float64Array, w: ArrayLike<number>, d: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / d + cfg.eps);
    for (let i = 0; i < d; i++) y[r * d + i] = w[i]! * (x[r * d + i]! * inv);
  }
  return y;
}

/** LlamaDecoderLayer / Qwen3DecoderLayer forward in float64 on [B, T, hidden]. */
function refBlock(m: Model, x: Float64Array, w: Record<Lin, ArrayLike<number>>): Float64Array {
  const { hidden: Hd, numHeads: H, numKvHeads: KV, headDim: D, intermediate: I } = cfg;
  const N = B * T;
  const h1 = rms(x, m.inputNorm, Hd);
  let q = lin(h1, w.q, N, Hd, H * D);
  let k = lin(h1, w.k, N, Hd, KV * D);
  const v = lin(h1, w.v, N, Hd, KV * D);
  if (m.qNorm) q = rms(q, m.qNorm, D);
  if (m.kNorm) k = rms(k, m.kNorm, D);
  // view [B, T, heads, D] → transpose to [B, heads, T, D]; apply_rotary_pos_emb; repeat_kv; softmax(QKᵀ·scaling + causal)·V
  const rope = (t: Float64Array, heads: number) => {
    const o = new Float64Array(t.length);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < heads; h++)
        for (let s = 0; s < T; s++) {
          const base = ((b * T + s) * heads + h) * D;
          for (let i = 0; i < D; i++) {
            const rot = i < D / 2 ? -t[base + i + D / 2]! : t[base + i - D / 2]!;
            o[base + i] = t[base + i]! * m.cos[s * D + i]! + rot * m.sin[s * D + i]!;
          }
        }
    return o;
  };
  q = rope(q, H);
  k = rope(k, KV);
  const attn = new Float64Array(N * H * D);
  const scaling = D ** -0.5;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / (H / KV));
      for (let t = 0; t < T; t++) {
        const w8: number[] = [];
        for (let s = 0; s <= t; s++) {
          let d = 0;
          for (let i = 0; i < D; i++) d += q[((b * T + t) * H + h) * D + i]! * k[((b * T + s) * KV + kh) * D + i]!;
          w8.push(d * scaling);
        }
        const mx = Math.max(...w8);
        const e = w8.map((z) => Math.exp(z - mx));
        const sum = e.reduce((a, c) => a + c, 0);
        for (let s = 0; s <= t; s++)
          for (let i = 0; i < D; i++) attn[((b * T + t) * H + h) * D + i]! += (e[s]! / sum) * v[((b * T + s) * KV + kh) * D + i]!;
      }
    }
  const o = lin(attn, w.o, N, H * D, Hd);
  const hs = x.map((z, i) => z + o[i]!);
  const n2 = rms(hs, m.postNorm, Hd);
  const g = lin(n2, w.gate, N, Hd, I);
  const u = lin(n2, w.up, N, Hd, I);
  const a = g.map((z, i) => (z / (1 + Math.exp(-z))) * u[i]!);
  const dn = lin(a, w.down, N, I, Hd);
  return hs.map((z, i) => z + dn[i]!);
}

function refLoss(y: Float64Array, target: Float32Array, mask: Float32Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const mk = mask[Math.floor(i / cfg.hidden)]!;
    s += (y[i]! * mk - target[i]! * mk) ** 2;
  }
  return (1000 * s) / y.length;
}

// ---------------------------------------------------------------- STE surrogate of the QDQ (float64)

interface Frozen {
  rows: number[][];
  index: number[][];
  wminTmp: number[];
  wmaxTmp: number[];
  s16: number[];
  raw: number[];
  zp: number[];
  zpRaw: number[];
  sgn: number[];
  thrPass: boolean[];
  off: number[][]; // round(x0) − x0
  inside: boolean[][];
  qClamp: number[][];
}

/** Evaluates quant_tensor_asym/sym in float32 at the base point and records every frozen branch and offset. */
function freeze(W: Float32Array, outF: number, inF: number, c: QdqConfig, p: QdqParams): Frozen {
  const gsz = c.groupSize === -1 || inF < c.groupSize ? inF : c.groupSize;
  const padded = Math.ceil(inF / gsz) * gsz;
  const fz: Frozen = { rows: [], index: [], wminTmp: [], wmaxTmp: [], s16: [], raw: [], zp: [], zpRaw: [], sgn: [], thrPass: [], off: [], inside: [], qClamp: [] };
  for (let o = 0; o < outF; o++)
    for (let c0 = 0; c0 < padded; c0 += gsz) {
      const row: number[] = [];
      const idx: number[] = [];
      for (let j = c0; j < c0 + gsz; j++) {
        row.push(j < inF ? W[o * inF + j]! : 0);
        idx.push(j < inF ? o * inF + j : -1);
      }
      fz.rows.push(row);
      fz.index.push(idx);
    }
  const thr = roundToF16(1e-5);
  fz.rows.forEach((row, r) => {
    const wminTmp = Math.min(0, ...row);
    const wmaxTmp = Math.max(0, ...row);
    const A = p.alpha!.data[r]!;
    const Bt = p.beta!.data[r]!;
    let s: number;
    let zp: number;
    const maxq = 2 ** c.bits - 1;
    if (!c.sym) {
      const raw = f(f(f(wmaxTmp * Bt) - f(wminTmp * A)) / maxq);
      const s16 = roundToF16(raw);
      s = Math.max(s16, thr);
      const zr = f(-f(wminTmp * A) / s);
      zp = rne(zr);
      fz.raw.push(raw), fz.s16.push(s16), fz.zpRaw.push(zr), fz.sgn.push(0), fz.thrPass.push(s16 >= thr);
    } else {
      const half = 2 ** (c.bits - 1);
      const a = -f(wminTmp * A);
      const b = f(wmaxTmp * Bt);
      const sgn = b < a ? 1 : -1;
      const raw = f((sgn * Math.max(a, b)) / half);
      const s16 = roundToF16(raw);
      s = s16 < 0 ? Math.min(s16, -thr) : Math.max(s16, thr);
      zp = half;
      fz.raw.push(raw), fz.s16.push(s16), fz.zpRaw.push(half), fz.sgn.push(sgn), fz.thrPass.push(s16 < 0 ? s16 <= -thr : s16 >= thr);
    }
    fz.wminTmp.push(wminTmp), fz.wmaxTmp.push(wmaxTmp), fz.zp.push(zp);
    const offs: number[] = [];
    const ins: boolean[] = [];
    const qcs: number[] = [];
    row.forEach((w, j) => {
      const x = f(f(w / s) + p.v.data[r * gsz + j]!);
      const iw = rne(x);
      offs.push(iw - x);
      ins.push(iw + zp >= 0 && iw + zp <= maxq);
      qcs.push(Math.min(Math.max(iw + zp, 0), maxq));
    });
    fz.off.push(offs), fz.inside.push(ins), fz.qClamp.push(qcs);
  });
  return fz;
}

function surrogateW(fz: Frozen, c: QdqConfig, nW: number, V: Float64Array, A: Float64Array, Bt: Float64Array): Float64Array {
  const out = new Float64Array(nW);
  const thr = roundToF16(1e-5);
  const gsz = fz.rows[0]!.length;
  fz.rows.forEach((row, r) => {
    let s: number;
    let zp: number;
    const c3 = fz.s16[r]! - fz.raw[r]!;
    if (!c.sym) {
      const wmin = fz.wminTmp[r]! * A[r]!;
      const s16 = (fz.wmaxTmp[r]! * Bt[r]! - wmin) / (2 ** c.bits - 1) + c3;
      s = fz.thrPass[r] ? s16 : thr;
      zp = -wmin / s + (fz.zp[r]! - fz.zpRaw[r]!);
    } else {
      const a = -(fz.wminTmp[r]! * A[r]!);
      const b = fz.wmaxTmp[r]! * Bt[r]!;
      const s16 = (fz.sgn[r]! * Math.max(a, b)) / 2 ** (c.bits - 1) + c3;
      s = fz.thrPass[r] ? s16 : fz.s16[r]! < 0 ? -thr : thr;
      zp = fz.zp[r]!;
    }
    row.forEach((w, j) => {
      const wi = fz.index[r]![j]!;
      if (wi < 0) return;
      const iw = w / s + V[r * gsz + j]! + fz.off[r]![j]!;
      const q = fz.inside[r]![j] ? iw + zp : fz.qClamp[r]![j]!;
      out[wi] = s * (q - zp);
    });
  });
  return out;
}

// ---------------------------------------------------------------- helpers

const HF: Record<Lin, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

/** One block of the test: its model and the QdqParams of its quantized linears (the weight the graph runs on). */
type TestBlock = { m: Model; quant: Partial<Record<Lin, QdqParams>> };

function blockWeights(m: Model, quant: Partial<Record<Lin, QdqParams>>): TestBlock {
  return { m, quant };
}

/** The models package's block on the graph, x [B·T, hidden]: quantized linears inject their QDQ. */
function decoderBlock(g: Graph, x: Var, b: TestBlock, opts: GraphBlockOptions = {}): Var {
  const { m, quant } = b;
  const norms = new Map<string, Float32Array>([
    ['input_layernorm', m.inputNorm],
    ['post_attention_layernorm', m.postNorm],
  ]);
  if (m.qNorm) norms.set('self_attn.q_norm', m.qNorm).set('self_attn.k_norm', m.kNorm!);
  const w: BlockTensors = { norms, linears: new Map((Object.keys(HF) as Lin[]).map((k) => [HF[k], { weight: m.w[k], outFeatures: dims[k][0], inFeatures: dims[k][1] }])) };
  const byHF = new Map((Object.keys(HF) as Lin[]).map((k) => [HF[k], quant[k]]));
  const d = { heads: cfg.numHeads, kvHeads: cfg.numKvHeads, headDim: cfg.headDim, eps: cfg.eps, qkNorm: m.qNorm !== undefined };
  const inject = { weight: (gr: Graph, local: string, own: Float32Array) => { const p = byHF.get(local); return p ? qdqVar(gr, own, p) : undefined; } };
  return llamaBlockGraph(g, x, d, w, { cos: m.cos, sin: m.sin, rotDim: cfg.headDim }, inject, B, T, opts);
}

/** One tuning micro-batch over consecutive blocks: the masked MSE, backward of loss·lossScale; the unscaled loss. */
function decoderBlockStep(g: Graph, x: Float32Array, target: Float32Array, blocks: TestBlock | TestBlock[], opts: { mask?: Float32Array; lossScale?: number }): number {
  g.reset();
  let y = g.input(x, [B * T, cfg.hidden]);
  for (const b of Array.isArray(blocks) ? blocks : [blocks]) y = decoderBlock(g, y, b);
  const loss = g.mse(y, target, { mask: opts.mask });
  const value = loss.data[0]!;
  if (loss.requiresGrad) g.backward(g.scale(loss, opts.lossScale ?? 1000));
  return value;
}

/** The block's output without a tape. */
function decoderBlockOutput(g: Graph, x: Float32Array, b: TestBlock): Float32Array {
  g.reset();
  return g.withoutGrad(() => decoderBlock(g, g.input(x, [B * T, cfg.hidden]), b)).data.slice();
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  expect(scale, `${what}: reference is all zero`).toBeGreaterThan(0);
  expect(worst / scale, `${what}: max error ${worst} vs scale ${scale}`).toBeLessThan(rel);
}

/** dV, dalpha, dbeta of p against central differences of evalLoss over the surrogate's state (V, A, B, swapped in one at a time). */
function expectQdqGradsLikeFd(p: QdqParams, state: Record<'V' | 'A' | 'B', Float64Array>, evalLoss: () => number, what: string): void {
  const by = (which: 'V' | 'A' | 'B') => (v: Float64Array) => {
    const keep = state[which];
    state[which] = v;
    const l = evalLoss();
    state[which] = keep;
    return l;
  };
  expectClose(p.alpha!.grad, fd(by('A'), p.alpha!.data, 1e-6), 1e-4, `${what} dalpha`);
  expectClose(p.beta!.grad, fd(by('B'), p.beta!.data, 1e-6), 1e-4, `${what} dbeta`);
  expectClose(p.v.grad, fd(by('V'), p.v.data, 1e-6), 1e-4, `${what} dV`);
}

function inputs(seed: number, m: Model) {
  const r = rng(seed);
  const x = rand(B * T * cfg.hidden, r);
  const y0 = refBlock(m, Float64Array.from(x), m.w);
  const target = Float32Array.from(y0, (z) => z + 0.05 * (r() - 0.5));
  const mask = new Float32Array(B * T).fill(1);
  for (let b = 0; b < B; b++) mask[b * T + T - 1] = 0; // the last position of every sample is masked
  return { x, target, mask };
}

function quantParams(m: Model, k: Lin, c: QdqConfig, seed: number): QdqParams {
  const r = rng(seed);
  const p = new QdqParams(m.w[k], dims[k][0], dims[k][1], c);
  p.v.data.set(rand(p.v.size, r, -0.4, 0.4));
  p.alpha!.data.set(rand(p.alpha!.size, r, 0.75, 1));
  p.beta!.data.set(rand(p.beta!.size, r, 0.75, 1));
  return p;
}

// ---------------------------------------------------------------- tests

describe('the LLaMA-family block on the autograd operations', () => {
  for (const qwen3 of [false, true]) {
    it(`${qwen3 ? 'Qwen3 (q_norm/k_norm)' : 'LLaMA'} block forward equals a plain float64 forward`, () => {
      const m = makeModel(qwen3 ? 2 : 1, qwen3);
      const { x } = inputs(3, m);
      const g = new Graph(backend);
      const y = decoderBlock(g, g.input(x, [B * T, cfg.hidden]), blockWeights(m, {}));
      expect(y.shape).toEqual([B * T, cfg.hidden]);
      expect(y.requiresGrad).toBe(false);
      expectClose(y.data, refBlock(m, Float64Array.from(x), m.w), 1e-5, 'block output');
      // tiled attention gives the same result
      const g2 = new Graph(backend);
      const y2 = decoderBlock(g2, g2.input(x, [B * T, cfg.hidden]), blockWeights(m, {}), { attentionBlockRows: 2 });
      expectClose(y2.data, y.data, 1e-6, 'tiled attention');
    });
  }

  const gradCases: { name: string; qwen3: boolean; layers: Partial<Record<Lin, QdqConfig>> }[] = [
    { name: 'LLaMA, q_proj int4 asym gs 8', qwen3: false, layers: { q: { bits: 4, groupSize: 8, sym: false } } },
    {
      name: 'Qwen3, q_proj int4 sym gs 6 (padded) + down_proj int2 asym per channel',
      qwen3: true,
      layers: { q: { bits: 4, groupSize: 6, sym: true }, down: { bits: 2, groupSize: -1, sym: false } },
    },
  ];

  for (const gc of gradCases) {
    it(`${gc.name}: dV, dalpha, dbeta through the whole block vs finite differences of the STE surrogate`, () => {
      const m = makeModel(gc.qwen3 ? 5 : 4, gc.qwen3);
      const { x, target, mask } = inputs(6, m);
      const quant: Partial<Record<Lin, QdqParams>> = {};
      let seed = 100;
      for (const [k, c] of Object.entries(gc.layers) as [Lin, QdqConfig][]) quant[k] = quantParams(m, k, { ...c, roundScaleGrad: false }, seed++);

      const g = new Graph(backend);
      const y = decoderBlock(g, g.input(x, [B * T, cfg.hidden]), blockWeights(m, quant));
      const loss = g.scale(g.mse(y, target, { mask }), 1000);
      g.backward(loss);

      const frozen = {} as Record<Lin, Frozen>;
      for (const [k, c] of Object.entries(gc.layers) as [Lin, QdqConfig][]) frozen[k] = freeze(m.w[k], dims[k][0], dims[k][1], c, quant[k]!);
      const x64 = Float64Array.from(x);
      const state = {} as Record<Lin, { V: Float64Array; A: Float64Array; B: Float64Array }>;
      for (const k of Object.keys(gc.layers) as Lin[]) {
        const p = quant[k]!;
        state[k] = { V: Float64Array.from(p.v.data), A: Float64Array.from(p.alpha!.data), B: Float64Array.from(p.beta!.data) };
      }
      const evalLoss = () => {
        const w: Record<Lin, ArrayLike<number>> = { ...m.w };
        for (const k of Object.keys(gc.layers) as Lin[]) {
          const s = state[k];
          w[k] = surrogateW(frozen[k], gc.layers[k]!, m.w[k].length, s.V, s.A, s.B);
        }
        return refLoss(refBlock(m, x64, w), target, mask);
      };
      // the surrogate at the base point is the quantized block: same loss as the graph
      expect(Math.abs(evalLoss() - loss.data[0]!) / evalLoss()).toBeLessThan(1e-5);

      for (const k of Object.keys(gc.layers) as Lin[]) {
        const p = quant[k]!;
        expectQdqGradsLikeFd(p, state[k], evalLoss, k);
      }
    });
  }

  it('two consecutive blocks tuned as one (nblocks 2): gradients of the first block\'s QDQ through the second vs finite differences', () => {
    const m1 = makeModel(21, false);
    const m2 = makeModel(22, false);
    const { x, mask } = inputs(23, m1);
    const x64 = Float64Array.from(x);
    const r = rng(24);
    const target = Float32Array.from(refBlock(m2, refBlock(m1, x64, m1.w), m2.w), (z) => z + 0.05 * (r() - 0.5));
    const c: QdqConfig = { bits: 3, groupSize: 8, sym: false, roundScaleGrad: false };
    const p = quantParams(m1, 'up', c, 25);
    const g = new Graph(backend);
    const loss = decoderBlockStep(g, x, target, [blockWeights(m1, { up: p }), blockWeights(m2, {})], { mask, lossScale: 1000 });
    const fz = freeze(m1.w.up, dims.up[0], dims.up[1], c, p);
    const st: Record<'V' | 'A' | 'B', Float64Array> = { V: Float64Array.from(p.v.data), A: Float64Array.from(p.alpha!.data), B: Float64Array.from(p.beta!.data) };
    const evalLoss = () => refLoss(refBlock(m2, refBlock(m1, x64, { ...m1.w, up: surrogateW(fz, c, m1.w.up.length, st.V, st.A, st.B) }), m2.w), target, mask);
    expect(Math.abs(evalLoss() / 1000 - loss) / loss).toBeLessThan(1e-5);
    expectQdqGradsLikeFd(p, st, evalLoss, 'up');
  });

  it('iterations reuse their buffers and reproduce the same loss and gradients', () => {
    const m = makeModel(7, true);
    const { x, target, mask } = inputs(8, m);
    const p = quantParams(m, 'q', { bits: 4, groupSize: 8, sym: true }, 9);
    const w = blockWeights(m, { q: p });
    const g = new Graph(backend);
    const run = () => {
      g.reset();
      p.zeroGrad();
      const y = decoderBlock(g, g.input(x, [B * T, cfg.hidden]), w);
      const loss = g.scale(g.mse(y, target, { mask }), 1000);
      g.backward(loss);
      return { loss: loss.data[0]!, gv: Float32Array.from(p.v.grad), ga: Float32Array.from(p.alpha!.grad), held: g.heldBytes };
    };
    const a = run();
    const b = run();
    const c = run();
    expect(b.held).toBe(a.held);
    expect(c.held).toBe(a.held);
    expect(c.loss).toBe(a.loss);
    expect(Array.from(c.gv)).toEqual(Array.from(a.gv));
    expect(Array.from(c.ga)).toEqual(Array.from(a.ga));
    // a few sign-SGD steps (docs/algorithms/signround.md#the-step) lower the loss
    let last = a.loss;
    for (let it = 0; it < 5; it++) {
      const lr = 0.01;
      for (const q of p.params()) for (let i = 0; i < q.size; i++) q.data[i]! -= lr * Math.sign(q.grad[i]!);
      p.clampMinMax(0, 1);
      last = run().loss;
    }
    expect(last).toBeLessThan(a.loss);
  });

  it('decoderBlockStep accumulates micro-batch gradients; decoderBlockOutput runs without a tape', () => {
    const m = makeModel(10, false);
    const a = inputs(11, m);
    const b = inputs(12, m);
    const p = quantParams(m, 'gate', { bits: 3, groupSize: 8, sym: false }, 13);
    const w = blockWeights(m, { gate: p });
    const g = new Graph(backend);
    p.zeroGrad();
    const la = decoderBlockStep(g, a.x, a.target, w, { mask: a.mask });
    const ga = Float32Array.from(p.v.grad);
    p.zeroGrad();
    const lb = decoderBlockStep(g, b.x, b.target, w, { mask: b.mask });
    const gb = Float32Array.from(p.v.grad);
    p.zeroGrad();
    expect(decoderBlockStep(g, a.x, a.target, w, { mask: a.mask })).toBe(la);
    expect(decoderBlockStep(g, b.x, b.target, w, { mask: b.mask })).toBe(lb);
    expectClose(p.v.grad, ga.map((v, i) => v + gb[i]!), 1e-6, 'accumulated dV');
    // the quantized block's output equals a float64 forward on the dequantized weight
    const y = decoderBlockOutput(g, a.x, w);
    expect(g.tapeLength).toBe(0);
    const wq = { ...m.w, gate: quantizeDequantize(m.w.gate, p).weight };
    expectClose(y, refBlock(m, Float64Array.from(a.x), wq), 1e-5, 'quantized block output');
  });
});
