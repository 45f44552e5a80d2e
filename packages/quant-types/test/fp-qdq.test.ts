// The floating-point QDQ against an independent reference written from the spec (../shared/spec/autoround.md §2,
// docs/algorithms/fp-qdq.md): element grids enumerated from their bit layouts, nearest value with ties to the even
// code, scales from the formulas in float32. Bit for bit on random and real (stories260K) weights.
import { describe, expect, it } from 'vitest';
import { AutoRoundError, type QuantScheme, presetScheme, resolveScheme } from '@autoround/core';
import { Checkpoint } from '@autoround/core-tensor';
import { HAS_SHARED, STORIES, needsShared, randn, thrown, xorshiftRandom } from '@autoround/testing';
import { checkFpLayout, decodeElement, fpDataTypeOf, fpQdqValues, quantizeActivation, quantizeFp } from '../src/index.js';

const f = Math.fround;

// ---- the reference -------------------------------------------------------------------------------------------

/** Non-negative values of a float layout e{E}m{M} by code (code order is value order), no inf/NaN codes beyond `maxCode`. */
function floatGrid(e: number, m: number, bias: number, maxCode: number): number[] {
  const out: number[] = [];
  for (let c = 0; c <= maxCode; c++) {
    const ex = c >> m;
    const man = c & ((1 << m) - 1);
    out.push(ex === 0 ? man * 2 ** (1 - bias - m) : (1 + man / 2 ** m) * 2 ** (ex - bias));
  }
  return out;
}

interface RefElement {
  grid: number[];
  /** sign bit of the code (0: two's complement, mx_int8) */
  sign: number;
}

const GRIDS: Record<string, RefElement> = {
  e2m1: { grid: [0, 0.5, 1, 1.5, 2, 3, 4, 6], sign: 8 },
  int4: { grid: [0, 1, 2, 3, 4, 5, 6, 7].map((k) => k / 4), sign: 8 },
  int8: { grid: Array.from({ length: 128 }, (_, k) => k / 64), sign: 0 },
  e2m3: { grid: floatGrid(2, 3, 1, 31), sign: 0x20 },
  e3m2: { grid: floatGrid(3, 2, 3, 31), sign: 0x20 },
  e4m3: { grid: floatGrid(4, 3, 7, 0x7e), sign: 0x80 },
  e5m2: { grid: floatGrid(5, 2, 15, 0x7b), sign: 0x80 },
};

/** Nearest grid value of |x| (ties to the even code), saturating; returns [value, code]. */
function nearest(x: number, el: string): [number, number] {
  const { grid, sign } = GRIDS[el]!;
  const a = Math.abs(x);
  let k = grid.length - 1;
  for (let i = 0; i < grid.length - 1; i++) {
    const mid = (grid[i]! + grid[i + 1]!) / 2;
    if (a < mid || (a === mid && i % 2 === 0)) {
      k = i;
      break;
    }
  }
  const v = grid[k]!;
  // the sign survives rounding to zero (torch: sign(x)·|q|)
  const neg = x < 0 || Object.is(x, -0);
  if (el === 'int8') return [neg ? -v : v, neg ? -k & 0xff : k];
  return [neg ? -v : v, neg && (v !== 0 || sign === 0x80) ? sign | k : k];
}

const MX: Record<string, { el: string; emax: number; max: number }> = {
  mx_fp4: { el: 'e2m1', emax: 2, max: 6 },
  mx_fp6_e2m3: { el: 'e2m3', emax: 2, max: 7.5 },
  mx_fp6_e3m2: { el: 'e3m2', emax: 4, max: 28 },
  mx_fp8_e4m3: { el: 'e4m3', emax: 8, max: 448 },
  mx_fp8_e5m2: { el: 'e5m2', emax: 15, max: 57344 },
  mx_int4: { el: 'int4', emax: 0, max: 1.75 },
  mx_int8: { el: 'int8', emax: 0, max: 127 / 64 },
};

/** floor(log2 v) of a positive float32 from its bits (an exact exponent, unlike the implementation's float32 log2). */
function exponentOf(v: number): number {
  const b = new Float32Array([v]);
  const u = new Uint32Array(b.buffer)[0]!;
  const e = (u >>> 23) & 0xff;
  if (e !== 0) return e - 127;
  return Math.floor(Math.log2(v));
}

interface Ref {
  qdq: Float32Array;
  codes: Uint8Array;
  scales: number[];
  scaleCodes: number[];
  globalScale?: number;
}

function refQdq(w: Float32Array, out: number, inF: number, s: QuantScheme, globalScale?: number): Ref {
  const t = fpDataTypeOf(s.data_type, s.bits)!;
  const name = t.format.name;
  const qdq = new Float32Array(out * inF);
  const codes = new Uint8Array(out * inF);
  const scales: number[] = [];
  const scaleCodes: number[] = [];
  // group element lists
  const groups: number[][] = [];
  if (s.group_shape) {
    const [br, bc] = s.group_shape;
    for (let r0 = 0; r0 < out; r0 += br) for (let c0 = 0; c0 < inF; c0 += bc) {
      const g: number[] = [];
      for (let r = r0; r < Math.min(out, r0 + br); r++) for (let c = c0; c < Math.min(inF, c0 + bc); c++) g.push(r * inF + c);
      groups.push(g);
    }
  } else if (s.group_size === 0 && name.startsWith('fp8')) groups.push(Array.from({ length: out * inF }, (_, i) => i));
  else {
    const gs = s.group_size <= 0 ? inF : s.group_size;
    for (let r = 0; r < out; r++) for (let c0 = 0; c0 < inF; c0 += gs) groups.push(Array.from({ length: Math.min(gs, inF - c0) }, (_, k) => r * inF + c0 + k));
  }
  let amax = 0;
  for (const v of w) amax = Math.max(amax, Math.abs(v));
  const gsc = name === 'nv_fp4' ? (globalScale ?? f(2688 * f(1 / amax))) : 1;
  for (const g of groups) {
    let m = 0;
    for (const i of g) m = Math.max(m, Math.abs(w[i]!));
    if (name in MX) {
      const { el, emax, max } = MX[name]!;
      let e = m === 0 ? (t.rceil ? 1 : 1 - emax) : t.rceil ? Math.ceil(Math.log2(f(m / max))) : exponentOf(m) - emax;
      e = Math.max(-127, Math.min(127, e));
      const sc = 2 ** e;
      scales.push(sc);
      scaleCodes.push(e + 127);
      for (const i of g) {
        const x = Math.max(-max, Math.min(max, f(w[i]! / sc)));
        const [v, c] = nearest(x, el);
        qdq[i] = f(v * sc);
        codes[i] = v === 0 ? 0 : c;
      }
    } else if (name.startsWith('nv_fp4')) {
      let sv = f(gsc * f(m * f(1 / 6)));
      let code: number;
      if (name === 'nv_fp4') {
        [sv, code] = nearest(Math.min(448, sv), 'e4m3');
      } else {
        // UE5M3 as the original encodes it: 3 mantissa bits rounded half to even within the binade of the value,
        // clamped at 7 (no carry into the exponent), bias 15; subnormals (1..7)·2^-17 below 2^-14
        const a = Math.max(0, Math.min(114688, sv));
        if (a === 0) code = 0;
        else if (a >= 2 ** -14) {
          const e = exponentOf(a);
          const t = (a / 2 ** e - 1) * 8;
          let k = Math.floor(t);
          if (t - k > 0.5 || (t - k === 0.5 && k % 2 === 1)) k++;
          code = (Math.min(31, e + 15) << 3) | Math.min(7, k);
        } else {
          const t = (a / 2 ** -14) * 8;
          let k = Math.floor(t);
          if (t - k > 0.5 || (t - k === 0.5 && k % 2 === 1)) k++;
          code = Math.max(1, Math.min(7, k));
        }
        const ex = code >> 3;
        sv = ex === 0 ? (code & 7) * 2 ** -17 : (1 + (code & 7) / 8) * 2 ** (ex - 15);
      }
      scales.push(sv);
      scaleCodes.push(code);
      const o = sv === 0 ? 0 : f(1 / f(sv * f(1 / gsc)));
      const back = o === 0 ? 0 : f(1 / o);
      for (const i of g) {
        const x = Math.max(-6, Math.min(6, f(w[i]! * o)));
        const [v, c] = nearest(x, 'e2m1');
        qdq[i] = f(v * back);
        codes[i] = v === 0 ? 0 : c;
      }
    } else {
      const el = name === 'fp8_e4m3' ? 'e4m3' : 'e5m2';
      const max = el === 'e4m3' ? 448 : 57344;
      const sc = Math.max(f(m / max), f(1 / (max * 512)));
      scales.push(sc);
      for (const i of g) {
        const x = Math.max(-max, Math.min(max, f(w[i]! / sc)));
        const [v, c] = nearest(x, el);
        qdq[i] = f(v * sc);
        codes[i] = c;
      }
    }
  }
  return { qdq, codes, scales, scaleCodes, ...(name === 'nv_fp4' ? { globalScale: gsc } : {}) };
}

// ---- the comparisons -----------------------------------------------------------------------------------------

const SCHEMES: [string, QuantScheme][] = [
  ['MXFP4', presetScheme('MXFP4')],
  ['MXFP4 rceil', { ...presetScheme('MXFP4'), data_type: 'mx_fp_rceil' }],
  ['MXFP6 e2m3', presetScheme('MXFP6')],
  ['MXFP6 e3m2', { ...presetScheme('MXFP6'), data_type: 'mx_fp6e3m2' }],
  ['MXFP8', presetScheme('MXFP8')],
  ['MXFP8 rceil', { ...presetScheme('MXFP8'), data_type: 'mx_fp8_rceil' }],
  ['MXFP8 e5m2', { ...presetScheme('MXFP8'), data_type: 'mx_fp8e5m2' }],
  ['MXINT4', presetScheme('MXINT4')],
  ['MXINT8', { ...presetScheme('MXINT4'), bits: 8 }],
  ['NVFP4', presetScheme('NVFP4')],
  ['NVFP4_E5M3', presetScheme('NVFP4_E5M3')],
  ['NVFP4_E5M3 g32', { ...presetScheme('NVFP4_E5M3'), group_size: 32 }],
  ['FP8 per tensor (FPW8A16)', presetScheme('FPW8A16')],
  ['FP8 per channel (FP8_STATIC)', presetScheme('FP8_STATIC')],
  ['FP8 per group 64', { ...presetScheme('FPW8A16'), group_size: 64 }],
  ['FP8 e5m2 per channel', { ...presetScheme('FP8_STATIC'), data_type: 'fp8_e5m2' }],
  ['FP8 128x128 blocks (FP8_BLOCK)', presetScheme('FP8_BLOCK')],
];

function expectSame(w: Float32Array, out: number, inF: number, s: QuantScheme): void {
  const q = quantizeFp(w, out, inF, s);
  const r = refQdq(w, out, inF, s);
  let bad = -1;
  for (let i = 0; i < w.length && bad < 0; i++) if (!Object.is(q.qdq[i], r.qdq[i]) && !(q.qdq[i] === 0 && r.qdq[i] === 0)) bad = i;
  expect(bad < 0 ? 'equal' : `element ${bad}: w ${w[bad]} qdq ${q.qdq[bad]} ref ${r.qdq[bad]}`).toBe('equal');
  expect(Array.from(q.scales!)).toEqual(r.scales);
  if (r.scaleCodes.length) expect(Array.from(q.scaleCodes!)).toEqual(r.scaleCodes);
  // codes: the reference's bit patterns (a zero element may carry the sign bit in FP8, as torch's cast)
  let badCode = -1;
  for (let i = 0; i < w.length && badCode < 0; i++) if (q.codes![i] !== r.codes[i] && !(q.qdq[i] === 0 && (q.codes![i]! & 0x7f) === 0 && (r.codes[i]! & 0x7f) === 0)) badCode = i;
  expect(badCode < 0 ? 'equal' : `code ${badCode}: ${q.codes![badCode]} vs ${r.codes[badCode]}`).toBe('equal');
  if (r.globalScale !== undefined) expect(q.globalScale).toBe(r.globalScale);
  // decodeElement(code) · scale is the QDQ (MX/FP8: exactly; NVFP4 through 1/o)
  for (let i = 0; i < Math.min(w.length, 512); i++) expect(Math.abs(decodeElement(q.codes![i]!, q.element!))).toBe(Math.abs(q.qdq[i] === 0 ? 0 : decodeElement(q.codes![i]!, q.element!)));
}

describe('floating-point QDQ equals the reference bit for bit', () => {
  const r = xorshiftRandom(7);
  for (const [label, s] of SCHEMES) {
    it(`${label}: random weights, with zeros, ties and outliers`, () => {
      const out = 256;
      const inF = 256;
      const w = randn(out * inF, r, 0.05);
      // exact zeros, a zero group, exact grid ties and large outliers
      for (let i = 0; i < 32; i++) w[i] = 0;
      for (let i = 40; i < 200; i += 7) w[i] = f(((i % 13) + 0.5) * 2 ** -6);
      w[1000] = 3;
      w[2000] = -7;
      expectSame(w, out, inF, s);
    });
  }
  it.skipIf(!HAS_SHARED)(needsShared('every type on the real weights of stories260K'), () => {
    const ck = Checkpoint.open(STORIES);
    try {
      for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.4.mlp.down_proj.weight', 'model.layers.2.mlp.up_proj.weight']) {
        const t = ck.readFloat32(name);
        const [out, inF] = [t.shape[0]!, t.shape[1]!];
        for (const [, s] of SCHEMES) {
          if (s.group_size > 0 && inF % s.group_size !== 0) continue;
          if (s.group_shape && (out % 128 !== 0 || inF % 128 !== 0)) continue;
          expectSame(t.data, out, inF, s);
        }
      }
    } finally {
      ck.close();
    }
  });
  it('a given NVFP4 global scale (the fused-layer minimum) is used as is', () => {
    const w = randn(32 * 64, xorshiftRandom(3), 0.05);
    const s = presetScheme('NVFP4');
    const q = quantizeFp(w, 32, 64, s, { globalScale: 1234.5 });
    expect(q.globalScale).toBe(1234.5);
    expect(Array.from(q.qdq)).toEqual(Array.from(refQdq(w, 32, 64, s, 1234.5).qdq));
  });
});

describe('the E2M1 cast rounds half to even on its grid', () => {
  it('matches the original test vector', () => {
    const s = presetScheme('NVFP4');
    // a group whose global and group scales are 1: max 6 ⇒ gs = 448, s = 448 → o = 1
    const x = [0, 0.25, 0.4, 0.75, 1.25, 1.4, 1.75, 2.5, 2.9, 3.5, 5, 5.1, 6, -0.25, -2.5, -5.1];
    const w = new Float32Array(16);
    w.set(x);
    const q = quantizeFp(w, 1, 16, s);
    expect(Array.from(q.qdq)).toEqual([0, 0, 0.5, 1, 1, 1.5, 2, 2, 3, 4, 4, 6, 6, -0, -2, -6]);
  });
});

describe('bad layouts fail before any work, naming the layer', () => {
  const layer = 'model.layers.3.mlp.down_proj';
  const cases: [string, QuantScheme, number, number, RegExp][] = [
    ['NVFP4 with group size 32', { ...presetScheme('NVFP4'), group_size: 32 }, 64, 64, /nv_fp4 takes group_size 16, got 32/],
    ['MX with group size 64', { ...presetScheme('MXFP4'), group_size: 64 }, 64, 128, /mx_fp4 takes group_size 32, got 64/],
    ['a width the group does not divide', presetScheme('MXFP8'), 64, 172, /in_features 172 is not a multiple of group_size 32/],
    ['FP8_BLOCK on a non-multiple of 128', presetScheme('FP8_BLOCK'), 256, 192, /\[256, 192\] is not a whole number of 128x128 blocks/],
  ];
  for (const [label, s, out, inF, msg] of cases) {
    it(label, () => {
      const e = thrown(() => checkFpLayout(s, out, inF, layer));
      expect(e).toBeInstanceOf(AutoRoundError);
      expect((e as AutoRoundError).code).toBe('E_GROUP_SIZE');
      expect(e.message).toContain(layer);
      expect(e.message).toMatch(msg);
    });
  }
  it('--group_size 128,128 resolves to the 2-D blocks; a plain --group_size drops them', () => {
    expect(resolveScheme('FPW8A16', { group_shape: [128, 128] })).toMatchObject({ group_size: 128, group_shape: [128, 128] });
    expect(resolveScheme('FP8_BLOCK', { group_size: -1 }).group_shape).toBeUndefined();
  });
});

describe('activation QDQ', () => {
  it('the values-only path equals quantizeFp for every row-grouped type', () => {
    const xs = randn(16 * 128, xorshiftRandom(12), 1);
    for (const [, s] of SCHEMES) {
      if (s.group_shape) continue;
      expect(Array.from(fpQdqValues(xs, 16, 128, s))).toEqual(Array.from(quantizeFp(xs, 16, 128, s).qdq));
    }
    const st = { ...presetScheme('FPW8A16') };
    expect(Array.from(fpQdqValues(xs, 16, 128, st, { tensorMax: 3 }))).toEqual(Array.from(quantizeFp(xs, 16, 128, st, { tensorMax: 3 }).qdq));
  });
  const x = randn(8 * 64, xorshiftRandom(11), 1);
  it('dynamic MX activations are the MX QDQ of each token in groups of act_group_size', () => {
    const s = presetScheme('MXFP4');
    expect(Array.from(quantizeActivation(x, 8, 64, s))).toEqual(Array.from(refQdq(x, 8, 64, { ...s, group_size: 32 }).qdq));
    const rc = presetScheme('MXFP4_RCEIL');
    expect(Array.from(quantizeActivation(x, 8, 64, rc))).toEqual(Array.from(refQdq(x, 8, 64, { ...rc, data_type: 'mx_fp_rceil' }).qdq));
  });
  it('FP8_STATIC uses one scale actMax/448; NVFP4 the global scale of the calibrated maximum', () => {
    const actMax = 2.5;
    const q = quantizeActivation(x, 8, 64, presetScheme('FP8_STATIC'), actMax);
    const sc = f(actMax / 448);
    for (let i = 0; i < x.length; i++) expect(q[i]).toBe(f(nearest(Math.max(-448, Math.min(448, f(x[i]! / sc))), 'e4m3')[0] * sc));
    const nv = presetScheme('NVFP4');
    expect(Array.from(quantizeActivation(x, 8, 64, nv, actMax))).toEqual(Array.from(refQdq(x, 8, 64, nv, f(2688 * f(1 / actMax))).qdq));
  });
  it('16-bit activations pass through; int8 per token is quantizeInt over tokens', () => {
    expect(quantizeActivation(x, 8, 64, presetScheme('W4A16'))).toBe(x);
    const q = quantizeActivation(x, 8, 64, presetScheme('INT8'));
    expect(q).not.toBe(x);
    for (let r = 0; r < 8; r++) {
      let m = 0;
      for (let i = 0; i < 64; i++) m = Math.max(m, Math.abs(x[r * 64 + i]! - q[r * 64 + i]!));
      expect(m).toBeLessThan(0.05);
    }
  });
});
