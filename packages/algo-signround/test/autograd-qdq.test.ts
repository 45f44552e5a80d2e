import { describe, expect, it } from 'vitest';
import { Graph, type KernelBackend, type ScaleDType, roundToBf16, roundToF16 } from '@autoround/core-tensor';
import { jsGemm } from '@autoround/kernels-cpu';
import { QdqParams, type QdqConfig, qdqVar, quantizeDequantize } from '../src/quantizers/int-qdq.js';
import { centralDifferences as fd, mulberry32 as rng, roundHalfEven as rne, uniformArray as rand } from '@autoround/testing';

// QDQ of docs/algorithms/qdq.md (int_asym and full-range int_sym) with round_ste:
//  - the forward against a literal transcription of auto_round's quant_tensor_asym/sym
//    (reshape_pad → min/max → fp16 scale → clamp → round → revert_pad) in float32 arithmetic;
//  - d/dV against the STE formula (round = identity): G·scale inside the clamp range (bounds inclusive), 0 outside and on padding;
//  - d/dalpha, d/dbeta against central differences of the STE surrogate (rounding offsets, the fp16
//    cast offset and every clamp/where/sign branch frozen at the evaluation point);
//  - with roundScaleGrad (the default) against PyTorch's chain with the scale gradient rounded to fp16 at each edge.

const backend: KernelBackend = { name: 'js', threads: 1, gemm: jsGemm };
const f = Math.fround;

const castOf = (dt: ScaleDType) => (dt === 'fp16' ? roundToF16 : dt === 'bf16' ? roundToBf16 : f);

interface Case {
  name: string;
  out: number;
  inF: number;
  cfg: QdqConfig;
}

/** reshape_pad_tensor_by_group_size: the grouped rows (padded with zeros) and how to map back. */
function groupRows(W: Float32Array, out: number, inF: number, gs: number): { rows: number[][]; index: number[][] } {
  const rows: number[][] = [];
  const index: number[][] = [];
  if (gs === 0) {
    rows.push(Array.from(W));
    index.push(Array.from(W, (_, i) => i));
    return { rows, index };
  }
  const g = gs === -1 || inF < gs ? inF : gs;
  const padded = Math.ceil(inF / g) * g;
  for (let o = 0; o < out; o++)
    for (let c0 = 0; c0 < padded; c0 += g) {
      const row: number[] = [];
      const idx: number[] = [];
      for (let c = c0; c < c0 + g; c++) {
        row.push(c < inF ? W[o * inF + c]! : 0);
        idx.push(c < inF ? o * inF + c : -1);
      }
      rows.push(row);
      index.push(idx);
    }
  return { rows, index };
}

interface RefState {
  qdq: Float32Array;
  scale: number[];
  zp: number[];
  // frozen surrogate constants
  raw: number[];
  s16: number[];
  zpRaw: number[];
  sgn: number[];
  x: number[][];
  iw: number[][];
  inside: boolean[][];
  qClamp: number[][];
}

/** Literal transcription of quant_tensor_asym / quant_tensor_sym in float32. */
function refQdq(W: Float32Array, c: Case, V: Float32Array, A: Float32Array | null, B: Float32Array | null): RefState {
  const { bits, groupSize, sym } = c.cfg;
  const dt = c.cfg.scaleDtype ?? 'fp16';
  const cast = castOf(dt);
  const thr = cast(c.cfg.qScaleThresh ?? (dt === 'fp32' ? 1e-8 : 1e-5));
  const { rows, index } = groupRows(W, c.out, c.inF, groupSize);
  const gs = rows[0]!.length;
  const st: RefState = { qdq: new Float32Array(W.length), scale: [], zp: [], raw: [], s16: [], zpRaw: [], sgn: [], x: [], iw: [], inside: [], qClamp: [] };
  rows.forEach((row, r) => {
    const wminTmp = Math.min(0, ...row);
    const wmaxTmp = Math.max(0, ...row);
    let scale: number;
    let zp: number;
    let maxq: number;
    if (!sym) {
      maxq = 2 ** bits - 1;
      const wmin = A ? f(wminTmp * A[r]!) : wminTmp;
      const wmax = B ? f(wmaxTmp * B[r]!) : wmaxTmp;
      const raw = f(f(wmax - wmin) / maxq);
      const s16 = cast(raw);
      scale = Math.max(s16, thr);
      const zr = f(-wmin / scale);
      zp = rne(zr);
      st.raw.push(raw);
      st.s16.push(s16);
      st.zpRaw.push(zr);
      st.sgn.push(0);
    } else {
      const half = 2 ** (bits - 1);
      maxq = 2 ** bits - 1;
      const wminAbs = -f(wminTmp * (A ? A[r]! : 1));
      const wmaxAbs = f(wmaxTmp * (B ? B[r]! : 1));
      const sgn = 2 * (wmaxAbs < wminAbs ? 1 : 0) - 1;
      const maxV = sgn * Math.max(wmaxAbs, wminAbs);
      const raw = f(maxV / half);
      const s16 = cast(raw);
      scale = s16 < 0 ? Math.min(s16, -thr) : Math.max(s16, thr);
      zp = half;
      st.raw.push(raw);
      st.s16.push(s16);
      st.zpRaw.push(half);
      st.sgn.push(sgn);
    }
    st.scale.push(scale);
    st.zp.push(zp);
    const xs: number[] = [];
    const iws: number[] = [];
    const ins: boolean[] = [];
    const qcs: number[] = [];
    for (let j = 0; j < gs; j++) {
      const x = f(f(row[j]! / scale) + V[r * gs + j]!);
      const iw = rne(x);
      const qq = iw + zp;
      const q = Math.min(Math.max(qq, 0), maxq);
      xs.push(x);
      iws.push(iw);
      ins.push(qq >= 0 && qq <= maxq);
      qcs.push(q);
      const wi = index[r]![j]!;
      if (wi >= 0) st.qdq[wi] = f(scale * (q - zp));
    }
    st.x.push(xs);
    st.iw.push(iws);
    st.inside.push(ins);
    st.qClamp.push(qcs);
  });
  return st;
}

/**
 * The STE surrogate in float64: round(x) → x + (round(x0) − x0), cast(s) → s + (cast(s0) − s0),
 * clamp/where/sign branches frozen at the base point; torch.maximum kept (its central difference
 * at a tie is the 1/2 split PyTorch uses).
 */
function surrogate(W: Float32Array, c: Case, base: RefState, V: Float64Array, A: Float64Array | null, B: Float64Array | null): Float64Array {
  const { bits, groupSize, sym } = c.cfg;
  const dt = c.cfg.scaleDtype ?? 'fp16';
  const thr = castOf(dt)(c.cfg.qScaleThresh ?? (dt === 'fp32' ? 1e-8 : 1e-5));
  const { rows, index } = groupRows(W, c.out, c.inF, groupSize);
  const gs = rows[0]!.length;
  const out = new Float64Array(W.length);
  rows.forEach((row, r) => {
    const wminTmp = Math.min(0, ...row);
    const wmaxTmp = Math.max(0, ...row);
    const s16b = base.s16[r]!;
    let s: number;
    let zp: number;
    if (!sym) {
      const maxq = 2 ** bits - 1;
      const wmin = A ? wminTmp * A[r]! : wminTmp;
      const wmax = B ? wmaxTmp * B[r]! : wmaxTmp;
      const s16 = (wmax - wmin) / maxq + (s16b - base.raw[r]!);
      s = s16b >= thr ? s16 : thr;
      zp = -wmin / s + (base.zp[r]! - base.zpRaw[r]!);
    } else {
      const half = 2 ** (bits - 1);
      const a = -(wminTmp * (A ? A[r]! : 1));
      const b = wmaxTmp * (B ? B[r]! : 1);
      const s16 = (base.sgn[r]! * Math.max(a, b)) / half + (s16b - base.raw[r]!);
      s = s16b < 0 ? (s16b <= -thr ? s16 : -thr) : s16b >= thr ? s16 : thr;
      zp = half;
    }
    for (let j = 0; j < gs; j++) {
      const wi = index[r]![j]!;
      if (wi < 0) continue;
      const x = row[j]! / s + V[r * gs + j]!;
      const iw = x + (base.iw[r]![j]! - base.x[r]![j]!);
      const q = base.inside[r]![j]! ? iw + zp : base.qClamp[r]![j]!;
      out[wi] = s * (q - zp);
    }
  });
  return out;
}

function lossOf(G: Float32Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += G[i]! * y[i]!;
  return s;
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  }
  expect(worst / Math.max(scale, 1e-30), `${what}: max error ${worst} vs scale ${scale}`).toBeLessThan(rel);
}

/** Runs the graph QDQ and its backward with dL/dW_qdq = G. */
function runGraph(W: Float32Array, p: QdqParams, G: Float32Array): Float32Array {
  const g = new Graph(backend);
  const y = qdqVar(g, W, p);
  p.zeroGrad();
  g.backward(y, G);
  return y.data;
}

/** PyTorch's backward chain for the scale, edge by edge, with the gradient cast to the scale dtype on each edge. */
function torchScaleGrads(W: Float32Array, c: Case, base: RefState, G: Float32Array, A: Float32Array, B: Float32Array, round: boolean): { dA: number[]; dB: number[] } {
  const { bits, groupSize, sym } = c.cfg;
  const dt = c.cfg.scaleDtype ?? 'fp16';
  const cast = castOf(dt);
  const R = round ? cast : f;
  const thr = cast(c.cfg.qScaleThresh ?? (dt === 'fp32' ? 1e-8 : 1e-5));
  const { rows, index } = groupRows(W, c.out, c.inF, groupSize);
  const dA: number[] = [];
  const dB: number[] = [];
  rows.forEach((row, r) => {
    const s = base.scale[r]!;
    const zp = base.zp[r]!;
    const wminTmp = Math.min(0, ...row);
    const wmaxTmp = Math.max(0, ...row);
    // MulBackward (scale · (q − zp)) → scale; DivBackward (W / scale) → scale; both summed over the group in fp32
    let mulEdge = 0;
    let divEdge = 0;
    let zpFromAdd = 0;
    let zpFromSub = 0;
    row.forEach((w, j) => {
      const wi = index[r]![j]!;
      const g = wi >= 0 ? G[wi]! : 0;
      const q = base.qClamp[r]![j]!;
      mulEdge += g * (q - zp);
      const gq = f(g * s); // grad of (q − zp)
      zpFromSub -= gq;
      const gint = base.inside[r]![j]! ? gq : 0; // ClampBackward, inclusive
      zpFromAdd += gint;
      divEdge += -gint * f(f(w / s) / s);
    });
    const gUnsq = R(R(mulEdge) + R(divEdge)); // fp16 InputBuffer accumulation of UnsqueezeBackward's two inputs
    if (!sym) {
      const maxq = 2 ** bits - 1;
      const wmin = f(wminTmp * A[r]!);
      const dz = f(f(zpFromAdd) + f(zpFromSub));
      const zr = f(-wmin / s);
      const gScaleFromZp = R(-dz * f(zr / s)); // DivBackward(-wmin, scale) other
      const gNegWmin = f(dz / s); // DivBackward self
      const gClampOut = R(gUnsq + gScaleFromZp);
      const gCast = base.s16[r]! >= thr ? gClampOut : 0; // clamp(min=thr) backward
      const gRaw = gCast; // ToCopyBackward fp16 → fp32
      const gDiff = f(gRaw / maxq);
      const gWmax = gDiff;
      const gWmin = f(-gDiff - gNegWmin);
      dA.push(f(gWmin * wminTmp));
      dB.push(f(gWmax * wmaxTmp));
    } else {
      const half = 2 ** (bits - 1);
      const s16 = base.s16[r]!;
      const gCast = s16 < 0 ? (s16 <= -thr ? gUnsq : 0) : s16 >= thr ? gUnsq : 0; // where + clamp backward
      const gMaxV = f(gCast / half);
      const gM = gMaxV * base.sgn[r]!;
      const a = -f(wminTmp * A[r]!);
      const b = f(wmaxTmp * B[r]!);
      const ga = a === b ? gM / 2 : a > b ? gM : 0; // maximum backward: ties split
      const gb = a === b ? gM / 2 : b > a ? gM : 0;
      dA.push(f(-ga * wminTmp));
      dB.push(f(gb * wmaxTmp));
    }
  });
  return { dA, dB };
}

const cases: Case[] = [
  { name: 'asym 4-bit gs 4, in 10 (padded last group)', out: 3, inF: 10, cfg: { bits: 4, groupSize: 4, sym: false } },
  { name: 'sym 4-bit gs 8', out: 4, inF: 16, cfg: { bits: 4, groupSize: 8, sym: true } },
  { name: 'sym 3-bit gs 6, in 16 (padded)', out: 3, inF: 16, cfg: { bits: 3, groupSize: 6, sym: true } },
  { name: 'asym 2-bit per channel (gs -1)', out: 4, inF: 9, cfg: { bits: 2, groupSize: -1, sym: false } },
  { name: 'sym 2-bit per tensor (gs 0)', out: 3, inF: 5, cfg: { bits: 2, groupSize: 0, sym: true } },
  { name: 'asym 8-bit, in < gs behaves per channel', out: 2, inF: 6, cfg: { bits: 8, groupSize: 32, sym: false } },
  { name: 'asym 4-bit gs 8, scale fp32', out: 2, inF: 16, cfg: { bits: 4, groupSize: 8, sym: false, scaleDtype: 'fp32' } },
  { name: 'sym 4-bit gs 8, scale bf16', out: 2, inF: 16, cfg: { bits: 4, groupSize: 8, sym: true, scaleDtype: 'bf16' } },
];

function setup(c: Case, seed: number, roundScaleGrad: boolean) {
  const r = rng(seed);
  const W = rand(c.out * c.inF, r, -0.08, 0.08);
  const p = new QdqParams(W, c.out, c.inF, { ...c.cfg, roundScaleGrad });
  p.v.data.set(rand(p.v.size, r, -0.45, 0.45));
  p.alpha!.data.set(rand(p.alpha!.size, r, 0.7, 1));
  p.beta!.data.set(rand(p.beta!.size, r, 0.7, 1));
  const G = rand(W.length, r);
  return { W, p, G };
}

describe('QDQ forward matches auto_round quant_tensor_asym / quant_tensor_sym', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { W, p } = setup(c, 11, true);
      const ref = refQdq(W, c, p.v.data, p.alpha!.data, p.beta!.data);
      const got = quantizeDequantize(W, p);
      expect(Array.from(got.weight)).toEqual(Array.from(ref.qdq));
      expect(Array.from(got.scale)).toEqual(ref.scale.map(f));
      expect(Array.from(got.zp)).toEqual(ref.zp);
      const g = new Graph(backend);
      expect(Array.from(qdqVar(g, W, p).data)).toEqual(Array.from(ref.qdq));
      // V shape [out·ngroups, gs], alpha/beta [n_scales]
      expect(p.v.shape[0]).toBe(ref.scale.length);
      expect(p.alpha!.size).toBe(ref.scale.length);
    });
  }

  it('V = 0, alpha = beta = 1 is plain RTN; sym scales keep the sign of the dominant extreme', () => {
    const W = Float32Array.from([0.5, -1, 0.25, 0.1, /* row 2 */ 0.9, -0.3, 0.2, 0.6]);
    const p = new QdqParams(W, 2, 4, { bits: 4, groupSize: -1, sym: true });
    const { scale, weight } = quantizeDequantize(W, p);
    expect(scale[0]).toBe(roundToF16(1 / 8)); // |min| dominates → +|min|/8; -1 → code -8
    expect(scale[1]).toBe(roundToF16(-0.9 / 8)); // max dominates → negative scale; 0.9 → code -8
    expect(weight[1]).toBe(-1);
    expect(weight[4]).toBe(f(roundToF16(-0.9 / 8) * -8));
  });
});

describe('QDQ gradients (straight-through)', () => {
  for (const c of cases) {
    it(`${c.name}: dV by formula, dalpha/dbeta by finite differences of the STE surrogate`, () => {
      const { W, p, G } = setup(c, 23, false);
      runGraph(W, p, G);
      const base = refQdq(W, c, p.v.data, p.alpha!.data, p.beta!.data);
      const gs = p.layout.groupSize;
      const { index } = groupRows(W, c.out, c.inF, c.cfg.groupSize);
      // dV: G·scale inside the (inclusive) clamp range, 0 outside and on padding
      const dV = new Float64Array(p.v.size);
      let boundary = 0;
      base.inside.forEach((row, r) =>
        row.forEach((inside, j) => {
          const wi = index[r]![j]!;
          if (wi >= 0 && inside) dV[r * gs + j] = G[wi]! * base.scale[r]!;
          const qq = base.iw[r]![j]! + base.zp[r]!;
          if (wi >= 0 && (qq === 0 || qq === 2 ** c.cfg.bits - 1)) boundary++;
        }),
      );
      if (c.cfg.bits <= 4) expect(boundary, 'some codes sit exactly on a clamp bound (gradient 1 there)').toBeGreaterThan(0);
      expectClose(p.v.grad, dV, 1e-6, 'dV');
      const A = p.alpha!.data;
      const B = p.beta!.data;
      const Vd = Float64Array.from(p.v.data);
      const fdA = fd((a) => lossOf(G, surrogate(W, c, base, Vd, a, Float64Array.from(B))), A, 1e-6);
      const fdB = fd((b) => lossOf(G, surrogate(W, c, base, Vd, Float64Array.from(A), b)), B, 1e-6);
      const fdV = fd((v) => lossOf(G, surrogate(W, c, base, v, Float64Array.from(A), Float64Array.from(B))), p.v.data, 1e-6);
      expectClose(p.alpha!.grad, fdA, 1e-4, 'dalpha');
      expectClose(p.beta!.grad, fdB, 1e-4, 'dbeta');
      expectClose(p.v.grad, fdV, 1e-5, 'dV (surrogate)');
      expect(fdA.some((x) => x !== 0) || fdB.some((x) => x !== 0)).toBe(true);
    });

    it(`${c.name}: scale gradient rounded to the scale dtype edge by edge, as eager PyTorch`, () => {
      const { W, p, G } = setup(c, 31, true);
      runGraph(W, p, G);
      const base = refQdq(W, c, p.v.data, p.alpha!.data, p.beta!.data);
      const want = torchScaleGrads(W, c, base, G, p.alpha!.data, p.beta!.data, true);
      expectClose(p.alpha!.grad, want.dA, 1e-6, 'dalpha (rounded)');
      expectClose(p.beta!.grad, want.dB, 1e-6, 'dbeta (rounded)');
      const exact = torchScaleGrads(W, c, base, G, p.alpha!.data, p.beta!.data, false);
      expectClose(p.alpha!.grad, exact.dA, c.cfg.scaleDtype === 'bf16' ? 0.15 : 2e-2, 'dalpha close to exact');
    });
  }

  it('an fp16 scale gradient that underflows gives zero beta gradients (asym), like eager PyTorch', () => {
    const c = cases[0]!;
    const { W, p, G } = setup(c, 5, true);
    for (let i = 0; i < G.length; i++) G[i]! *= 1e-9;
    runGraph(W, p, G);
    expect(p.beta!.grad.every((x) => x === 0)).toBe(true);
    expect(p.alpha!.grad.some((x) => x !== 0)).toBe(true); // the zero-point path to wmin stays fp32
    const q = new QdqParams(W, c.out, c.inF, { ...c.cfg, roundScaleGrad: false });
    q.v.data.set(p.v.data);
    q.alpha!.data.set(p.alpha!.data);
    q.beta!.data.set(p.beta!.data);
    runGraph(W, q, G);
    expect(q.beta!.grad.some((x) => x !== 0)).toBe(true);
  });

  it('sym: torch.maximum splits the gradient on a tie |min| = max; an all-zero group gets no scale gradient', () => {
    const c: Case = { name: 'tie', out: 2, inF: 4, cfg: { bits: 4, groupSize: -1, sym: true, roundScaleGrad: false } };
    const W = Float32Array.from([-0.5, 0.2, 0.5, 0.1, 0, 0, 0, 0]);
    const p = new QdqParams(W, 2, 4, c.cfg);
    p.v.data.set([0.2, -0.3, 0.1, 0.4, 0.1, 0.2, -0.2, 0.3]);
    const G = Float32Array.from([0.3, -0.7, 0.9, 0.2, 0.5, 0.5, -0.5, 0.1]);
    runGraph(W, p, G);
    const base = refQdq(W, c, p.v.data, p.alpha!.data, p.beta!.data);
    const exact = torchScaleGrads(W, c, base, G, p.alpha!.data, p.beta!.data, false);
    expectClose(p.alpha!.grad, exact.dA, 1e-6, 'dalpha tie');
    expectClose(p.beta!.grad, exact.dB, 1e-6, 'dbeta tie');
    const Vd = Float64Array.from(p.v.data);
    const fdA = fd((a) => lossOf(G, surrogate(W, c, base, Vd, a, Float64Array.from(p.beta!.data))), p.alpha!.data, 1e-7);
    const fdB = fd((b) => lossOf(G, surrogate(W, c, base, Vd, Float64Array.from(p.alpha!.data), b)), p.beta!.data, 1e-7);
    expectClose(p.alpha!.grad, fdA, 1e-5, 'dalpha tie vs central difference');
    expectClose(p.beta!.grad, fdB, 1e-5, 'dbeta tie vs central difference');
    expect(p.alpha!.grad[0]).not.toBe(0);
    // a = −wmin·α = b = wmax·β = 0.5: each side gets half of the same gradient, times −wmin = wmax = 0.5
    expect(p.alpha!.grad[0]).toBeCloseTo(p.beta!.grad[0]!, 7);
    expect(p.alpha!.grad[1]).toBe(0);
    expect(p.beta!.grad[1]).toBe(0);
    const thr = roundToF16(1e-5);
    for (let j = 0; j < 4; j++) expect(p.v.grad[4 + j]).toBe(f(G[4 + j]! * thr));
  });

  it('frozen V / no minmax tuning', () => {
    const c = cases[1]!;
    const r = rng(3);
    const W = rand(c.out * c.inF, r, -0.1, 0.1);
    const p = new QdqParams(W, c.out, c.inF, { ...c.cfg, minmaxTuning: false });
    expect(p.alpha).toBeNull();
    expect(p.params()).toHaveLength(1);
    const G = rand(W.length, r);
    runGraph(W, p, G);
    expect(p.v.grad.some((x) => x !== 0)).toBe(true);
    p.v.requiresGrad = false;
    const g = new Graph(backend);
    expect(qdqVar(g, W, p).requiresGrad).toBe(false);
  });

  it('rejects bad configurations', () => {
    expect(() => new QdqParams(new Float32Array(8), 2, 4, { bits: 0, groupSize: 4, sym: false })).toThrow(/bits/);
    expect(() => new QdqParams(new Float32Array(8), 2, 4, { bits: 4, groupSize: -3, sym: false })).toThrow(/group_size/);
    expect(() => new QdqParams(new Float32Array(7), 2, 4, { bits: 4, groupSize: 4, sym: false })).toThrow(/weight/);
  });
});
