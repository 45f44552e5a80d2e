// The K-quants Q2_K … Q6_K: 256-element super-blocks (docs/formats/gguf.md#k-quants, #importance-matrix).
// quantize*(row, imatrix?) takes one row (a multiple of 256 elements); without an importance
// vector it runs quantize_row_*_ref, with one quantize_row_*_impl, bit for bit.

import {
  f,
  getF16,
  GROUP_MAX_EPS,
  makeQkx2QuantsFast,
  makeQkx3QuantsFast,
  makeQ3Quants,
  makeQpQuants,
  makeQxQuantsFast,
  nearestInt,
  putF16,
  searchResult,
  F_0_05,
  F_0_1,
  F_0_5,
  F_0_9,
} from './search.js';
import { GGMLType, QK_K } from '../ggml-types.js';
import { typeSizeOf } from '../table.js';


/** Byte offsets of the fields inside each block (struct order of ggml-common.h). */
const Q2K = { scales: 0, qs: 16, d: 80, dmin: 82 } as const;
const Q3K = { hmask: 0, qs: 32, scales: 96, d: 108 } as const;
const Q4K = { d: 0, dmin: 2, scales: 4, qs: 16 } as const;
const Q5K = { d: 0, dmin: 2, scales: 4, qh: 16, qs: 48 } as const;
const Q6K = { ql: 0, qh: 128, scales: 192, d: 208 } as const;

/** Sub-blocks of 16 (Q2_K, Q3_K, Q6_K) and of 32 (Q4_K, Q5_K). */
const SUB16 = 16;
const SUB32 = 32;
const N_SUB16 = QK_K / SUB16;
const N_SUB32 = QK_K / SUB32;

/** The reference searches' arguments (rmin, rdelta, nstep). */
const Q2K_SEARCH = { rmin: -F_0_5, rdelta: F_0_1, nstep: 15 } as const;
const Q4K_SEARCH = { rmin: -1, rdelta: F_0_1, nstep: 20 } as const;
const Q5K_SEARCH = { rmin: -F_0_5, rdelta: F_0_1, nstep: 15 } as const;
const IMATRIX_SEARCH = { rmin: -F_0_9, rdelta: F_0_05, nstep: 36 } as const;
/** 4-bit sub-scales of Q2_K, 6-bit ones of Q3_K/Q4_K/Q5_K, 8-bit of Q6_K. */
const Q2K_SCALE_MAX = 15;
const K6_SCALE_MAX = 63;
const Q3K_SCALE_HALF = 32;
const Q6K_SCALE_RANGE = 128;

function checkRow(name: string, n: number, imatrix?: Float32Array | null): void {
  if (n % QK_K !== 0) throw new RangeError(`${name}: row length ${n} is not a multiple of ${QK_K}`);
  if (imatrix && imatrix.length < n) throw new RangeError(`${name}: importance vector has ${imatrix.length} entries, row has ${n}`);
}

// scratch, reused by every call (quantization is single-threaded per worker)
const Lu = new Uint8Array(QK_K);
const Li = new Int8Array(QK_K);
const Laux = new Uint8Array(32);
const weights = new Float32Array(32);
const scales = new Float32Array(16);
const mins = new Float32Array(16);
const sw = new Float32Array(16);
const Ls = new Uint8Array(16);
const Lm = new Uint8Array(16);
const LsI = new Int8Array(16);

/** Σx² over the super-block at xo. */
function blockSumX2(x: Float32Array, xo: number): number {
  let s = 0;
  for (let j = 0; j < QK_K; j++) s = f(s + f(x[xo + j]! * x[xo + j]!));
  return s;
}

/** 2-bit codes: element j + 32k (k = 0..3) of each 128-half in bits 2k of qs[j]. */
function pack2bit(L: Uint8Array | Int8Array, out: Uint8Array, qsOff: number): void {
  for (let j = 0; j < QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      out[qsOff + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
}

/** get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes at so. */
export function getScaleMinK4(j: number, q: Uint8Array, so: number): [number, number] {
  if (j < 4) return [q[so + j]! & 63, q[so + j + 4]! & 63];
  return [(q[so + j + 4]! & 0xf) | ((q[so + j - 4]! >> 6) << 4), (q[so + j + 4]! >> 4) | ((q[so + j]! >> 6) << 4)];
}

/** Packs eight 6-bit (scale, min) pairs into 12 bytes (the inverse of getScaleMinK4). */
function packScaleMinK4(ls: ArrayLike<number>, lm: ArrayLike<number>, out: Uint8Array, so: number): void {
  for (let j = 0; j < N_SUB32; j++) {
    const a = ls[j]!;
    const m = lm[j]!;
    if (j < 4) {
      out[so + j] = a;
      out[so + j + 4] = m;
    } else {
      out[so + j + 4] = (a & 0xf) | ((m & 0xf) << 4);
      out[so + j - 4]! |= (a >> 4) << 6;
      out[so + j]! |= (m >> 4) << 6;
    }
  }
}

/** The 16 signed 6-bit scales of a Q3_K block (value − 32). */
function q3kScale(out: Uint8Array, so: number, j: number): number {
  let sc = j < 8 ? out[so + j]! & 0xf : out[so + j - 8]! >> 4;
  sc = (sc | (((out[so + 8 + (j % 4)]! >> (2 * Math.floor(j / 4))) & 3) << 4)) - Q3K_SCALE_HALF;
  return sc;
}

function packQ3kScale(out: Uint8Array, so: number, j: number, l: number): void {
  if (j < 8) out[so + j] = l & 0xf;
  else out[so + j - 8]! |= (l & 0xf) << 4;
  out[so + 8 + (j % 4)]! |= (l >> 4) << (2 * Math.floor(j / 4));
}

// ================================================================ Q2_K

export function quantizeQ2_K(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const blockBytes = typeSizeOf(GGMLType.Q2_K);
  checkRow('Q2_K', x.length, imatrix);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * blockBytes);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK_K;
    const o = i * blockBytes;
    if (imatrix) q2kImpl(x, xo, imatrix, out, o);
    else q2kRef(x, xo, out, o);
    pack2bit(Lu, out, o + Q2K.qs);
  }
  return out;
}

function q2kRef(x: Float32Array, xo: number, out: Uint8Array, o: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < N_SUB16; j++) {
    for (let l = 0; l < SUB16; l++) weights[l] = Math.abs(x[xo + SUB16 * j + l]!);
    scales[j] = makeQkx2QuantsFast(SUB16, 3, x, xo + SUB16 * j, weights, 0, Lu, SUB16 * j, Laux, Q2K_SEARCH.rmin, Q2K_SEARCH.rdelta, Q2K_SEARCH.nstep, true);
    mins[j] = searchResult.min;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const so = o + Q2K.scales;
  if (maxScale > 0) {
    const iscale = f(Q2K_SCALE_MAX / maxScale);
    for (let j = 0; j < N_SUB16; j++) out[so + j] = nearestInt(f(iscale * scales[j]!));
    putF16(out, o + Q2K.d, f(maxScale / Q2K_SCALE_MAX));
  } else {
    for (let j = 0; j < N_SUB16; j++) out[so + j] = 0;
    putF16(out, o + Q2K.d, 0);
  }
  if (maxMin > 0) {
    const iscale = f(Q2K_SCALE_MAX / maxMin);
    for (let j = 0; j < N_SUB16; j++) out[so + j]! |= nearestInt(f(iscale * mins[j]!)) << 4;
    putF16(out, o + Q2K.dmin, f(maxMin / Q2K_SCALE_MAX));
  } else {
    putF16(out, o + Q2K.dmin, 0);
  }
  q2kRequantize(x, xo, out, o, getF16(out, o + Q2K.d), getF16(out, o + Q2K.dmin));
}

function q2kImpl(x: Float32Array, xo: number, qw: Float32Array, out: Uint8Array, o: number): void {
  sw.fill(0);
  const sigma2 = f(blockSumX2(x, xo) / QK_K);
  for (let j = 0; j < N_SUB16; j++) {
    const b = xo + SUB16 * j;
    for (let l = 0; l < SUB16; l++) weights[l] = f(qw[b + l]! * f(Math.sqrt(f(sigma2 + f(x[b + l]! * x[b + l]!)))));
    for (let l = 0; l < SUB16; l++) sw[j] = f(sw[j]! + weights[l]!);
    scales[j] = makeQkx3QuantsFast(SUB16, 3, x, b, weights, 0, Lu, SUB16 * j, Laux, IMATRIX_SEARCH.rmin, IMATRIX_SEARCH.rdelta, IMATRIX_SEARCH.nstep, false);
    mins[j] = searchResult.min;
  }
  const dm = makeQpQuants(N_SUB16, Q2K_SCALE_MAX, scales, Ls, sw);
  const mm = makeQpQuants(N_SUB16, Q2K_SCALE_MAX, mins, Lm, sw);
  putF16(out, o + Q2K.d, dm);
  putF16(out, o + Q2K.dmin, mm);
  for (let j = 0; j < N_SUB16; j++) out[o + Q2K.scales + j] = Ls[j]! | (Lm[j]! << 4);
  q2kRequantize(x, xo, out, o, getF16(out, o + Q2K.d), getF16(out, o + Q2K.dmin));
}

/** Re-quantizes every element with the stored (fp16) super-scales and 4-bit sub-scales. */
function q2kRequantize(x: Float32Array, xo: number, out: Uint8Array, o: number, dAll: number, mAll: number): void {
  for (let j = 0; j < N_SUB16; j++) {
    const sc = out[o + Q2K.scales + j]!;
    const d = f(dAll * (sc & 0xf));
    if (d === 0) continue;
    const dm = f(mAll * (sc >> 4));
    for (let ii = 0; ii < SUB16; ii++) {
      const l = nearestInt(f(f(x[xo + SUB16 * j + ii]! + dm) / d));
      Lu[SUB16 * j + ii] = Math.max(0, Math.min(3, l));
    }
  }
}

export function dequantizeQ2_K(b: Uint8Array, n: number): Float32Array {
  const blockBytes = typeSizeOf(GGMLType.Q2_K);
  const y = new Float32Array(n);
  const nb = n / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o + Q2K.d);
    const min = getF16(b, o + Q2K.dmin);
    let q = o + Q2K.qs;
    let is = 0;
    for (let n128 = 0; n128 < QK_K; n128 += 128) {
      let shift = 0;
      for (let j = 0; j < 4; j++) {
        let sc = b[o + Q2K.scales + is++]!;
        let dl = f(d * (sc & 0xf));
        let ml = f(min * (sc >> 4));
        for (let l = 0; l < 16; l++) y[yo++] = f(dl * ((b[q + l]! >> shift) & 3)) - ml;
        sc = b[o + Q2K.scales + is++]!;
        dl = f(d * (sc & 0xf));
        ml = f(min * (sc >> 4));
        for (let l = 0; l < 16; l++) y[yo++] = f(dl * ((b[q + l + 16]! >> shift) & 3)) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
  return y;
}

// ================================================================ Q3_K

export function quantizeQ3_K(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const blockBytes = typeSizeOf(GGMLType.Q3_K);
  checkRow('Q3_K', x.length, imatrix);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * blockBytes);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK_K;
    const o = i * blockBytes;
    if (imatrix) q3kImpl(x, xo, imatrix, out, o);
    else q3kRef(x, xo, out, o);
    // requantize with the stored scales
    const dAll = getF16(out, o + Q3K.d);
    for (let j = 0; j < N_SUB16; j++) {
      const sc = q3kScale(out, o + Q3K.scales, j);
      const d = f(dAll * sc);
      if (d === 0) continue;
      for (let ii = 0; ii < SUB16; ii++) {
        const l = nearestInt(f(x[xo + SUB16 * j + ii]! / d));
        Li[SUB16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
      }
    }
    // the high bit of the first 32 codes goes to bit 0 of hmask[0..31], the next 32 to bit 1, …
    let m = 0;
    let hm = 1;
    for (let j = 0; j < QK_K; j++) {
      if (Li[j]! > 3) {
        out[o + Q3K.hmask + m]! |= hm;
        Li[j] = Li[j]! - 4;
      }
      if (++m === QK_K / 8) {
        m = 0;
        hm <<= 1;
      }
    }
    pack2bit(Li, out, o + Q3K.qs);
  }
  return out;
}

function q3kRef(x: Float32Array, xo: number, out: Uint8Array, o: number): void {
  let maxScale = 0;
  let amax = 0;
  for (let j = 0; j < N_SUB16; j++) {
    scales[j] = makeQ3Quants(SUB16, 4, x, xo + SUB16 * j, Li, SUB16 * j, true);
    const scale = Math.abs(scales[j]!);
    if (scale > amax) {
      amax = scale;
      maxScale = scales[j]!;
    }
  }
  if (maxScale !== 0) {
    const iscale = f(-Q3K_SCALE_HALF / maxScale);
    for (let j = 0; j < N_SUB16; j++) {
      let l = (nearestInt(f(iscale * scales[j]!)) << 24) >> 24; // int8_t
      l = Math.max(-32, Math.min(31, l)) + Q3K_SCALE_HALF;
      packQ3kScale(out, o + Q3K.scales, j, l);
    }
    putF16(out, o + Q3K.d, f(1 / iscale));
  } else {
    putF16(out, o + Q3K.d, 0);
  }
}

function q3kImpl(x: Float32Array, xo: number, qw: Float32Array, out: Uint8Array, o: number): void {
  const sigma2 = f(f(2 * blockSumX2(x, xo)) / QK_K);
  for (let j = 0; j < N_SUB16; j++) {
    const b = xo + SUB16 * j;
    for (let l = 0; l < SUB16; l++) weights[l] = f(qw[b + l]! * f(Math.sqrt(f(sigma2 + f(x[b + l]! * x[b + l]!)))));
    let sumw = 0;
    for (let l = 0; l < SUB16; l++) sumw = f(sumw + weights[l]!);
    sw[j] = sumw;
    scales[j] = makeQxQuantsFast(SUB16, 4, x, b, Li, SUB16 * j, 1, weights, 0);
  }
  const dBlock = makeQxQuantsFast(N_SUB16, 32, scales, 0, LsI, 0, 1, sw, 0);
  for (let j = 0; j < N_SUB16; j++) packQ3kScale(out, o + Q3K.scales, j, LsI[j]!);
  putF16(out, o + Q3K.d, dBlock);
}

export function dequantizeQ3_K(b: Uint8Array, n: number): Float32Array {
  const blockBytes = typeSizeOf(GGMLType.Q3_K);
  const y = new Float32Array(n);
  const nb = n / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const dAll = getF16(b, o + Q3K.d);
    let q = o + Q3K.qs;
    const hmo = o + Q3K.hmask;
    let m = 1;
    let is = 0;
    for (let n128 = 0; n128 < QK_K; n128 += 128) {
      let shift = 0;
      for (let j = 0; j < 4; j++) {
        let dl = f(dAll * q3kScale(b, o + Q3K.scales, is++));
        for (let l = 0; l < 16; l++) y[yo++] = dl * (((b[q + l]! >> shift) & 3) - (b[hmo + l]! & m ? 0 : 4));
        dl = f(dAll * q3kScale(b, o + Q3K.scales, is++));
        for (let l = 0; l < 16; l++) y[yo++] = dl * (((b[q + l + 16]! >> shift) & 3) - (b[hmo + l + 16]! & m ? 0 : 4));
        shift += 2;
        m <<= 1;
      }
      q += 32;
    }
  }
  return y;
}

// ================================================================ Q4_K / Q5_K

/** Reference sub-block search of Q4_K/Q5_K: weights av_x + |x| with av_x = sqrt(Σx²/32) of the sub-block. */
function k45RefSearch(x: Float32Array, xo: number, nmax: number, search: { rmin: number; rdelta: number; nstep: number }): [number, number] {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < N_SUB32; j++) {
    const b = xo + SUB32 * j;
    let sumX2 = 0;
    for (let l = 0; l < SUB32; l++) sumX2 = f(sumX2 + f(x[b + l]! * x[b + l]!));
    const avX = f(Math.sqrt(f(sumX2 / SUB32)));
    for (let l = 0; l < SUB32; l++) weights[l] = f(avX + Math.abs(x[b + l]!));
    scales[j] = makeQkx2QuantsFast(SUB32, nmax, x, b, weights, 0, Lu, SUB32 * j, Laux, search.rmin, search.rdelta, search.nstep, false);
    mins[j] = searchResult.min;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  return [maxScale, maxMin];
}

/** Reference: 6-bit sub-scales/mins against the largest ones, d = max/63. */
function k45RefScales(maxScale: number, maxMin: number, out: Uint8Array, o: number): void {
  const invScale = maxScale > 0 ? f(K6_SCALE_MAX / maxScale) : 0;
  const invMin = maxMin > 0 ? f(K6_SCALE_MAX / maxMin) : 0;
  for (let j = 0; j < N_SUB32; j++) {
    Ls[j] = Math.min(K6_SCALE_MAX, nearestInt(f(invScale * scales[j]!)) & 0xff);
    Lm[j] = Math.min(K6_SCALE_MAX, nearestInt(f(invMin * mins[j]!)) & 0xff);
  }
  packScaleMinK4(Ls, Lm, out, o + Q4K.scales);
  putF16(out, o + Q4K.d, f(maxScale / K6_SCALE_MAX));
  putF16(out, o + Q4K.dmin, f(maxMin / K6_SCALE_MAX));
}

/** imatrix: make_qkx3_quants per sub-block, then make_qp_quants for the scales and the mins. */
function k45Impl(x: Float32Array, xo: number, qw: Float32Array, nmax: number, out: Uint8Array, o: number): void {
  const sigma2 = f(f(2 * blockSumX2(x, xo)) / QK_K);
  for (let j = 0; j < N_SUB32; j++) {
    const b = xo + SUB32 * j;
    for (let l = 0; l < SUB32; l++) weights[l] = f(qw[b + l]! * f(Math.sqrt(f(sigma2 + f(x[b + l]! * x[b + l]!)))));
    let sumw = 0;
    for (let l = 0; l < SUB32; l++) sumw = f(sumw + weights[l]!);
    sw[j] = sumw;
    scales[j] = makeQkx3QuantsFast(SUB32, nmax, x, b, weights, 0, Lu, SUB32 * j, Laux, IMATRIX_SEARCH.rmin, IMATRIX_SEARCH.rdelta, IMATRIX_SEARCH.nstep, false);
    mins[j] = searchResult.min;
  }
  const dBlock = makeQpQuants(N_SUB32, K6_SCALE_MAX, scales, Ls, sw);
  const mBlock = makeQpQuants(N_SUB32, K6_SCALE_MAX, mins, Lm, sw);
  for (let j = 0; j < N_SUB32; j++) {
    Ls[j] = Math.min(K6_SCALE_MAX, Ls[j]!);
    Lm[j] = Math.min(K6_SCALE_MAX, Lm[j]!);
  }
  packScaleMinK4(Ls, Lm, out, o + Q4K.scales);
  putF16(out, o + Q4K.d, dBlock);
  putF16(out, o + Q4K.dmin, mBlock);
}

function k45Requantize(x: Float32Array, xo: number, nmax: number, out: Uint8Array, o: number): void {
  const dAll = getF16(out, o + Q4K.d);
  const mAll = getF16(out, o + Q4K.dmin);
  for (let j = 0; j < N_SUB32; j++) {
    const [sc, m] = getScaleMinK4(j, out, o + Q4K.scales);
    const d = f(dAll * sc);
    if (d === 0) continue;
    const dm = f(mAll * m);
    for (let ii = 0; ii < SUB32; ii++) {
      const l = nearestInt(f(f(x[xo + SUB32 * j + ii]! + dm) / d));
      Lu[SUB32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

export function quantizeQ4_K(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const blockBytes = typeSizeOf(GGMLType.Q4_K);
  checkRow('Q4_K', x.length, imatrix);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * blockBytes);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK_K;
    const o = i * blockBytes;
    if (imatrix) k45Impl(x, xo, imatrix, 15, out, o);
    else {
      const [maxScale, maxMin] = k45RefSearch(x, xo, 15, Q4K_SEARCH);
      k45RefScales(maxScale, maxMin, out, o);
    }
    k45Requantize(x, xo, 15, out, o);
    for (let j = 0, q = o + Q4K.qs; j < QK_K; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) out[q + l] = Lu[j + l]! | (Lu[j + l + 32]! << 4);
    }
  }
  return out;
}

export function dequantizeQ4_K(b: Uint8Array, n: number): Float32Array {
  const blockBytes = typeSizeOf(GGMLType.Q4_K);
  const y = new Float32Array(n);
  const nb = n / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o + Q4K.d);
    const min = getF16(b, o + Q4K.dmin);
    let q = o + Q4K.qs;
    for (let j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
      const [sc1, m1i] = getScaleMinK4(is, b, o + Q4K.scales);
      const d1 = f(d * sc1);
      const m1 = f(min * m1i);
      const [sc2, m2i] = getScaleMinK4(is + 1, b, o + Q4K.scales);
      const d2 = f(d * sc2);
      const m2 = f(min * m2i);
      for (let l = 0; l < 32; l++) y[yo++] = f(d1 * (b[q + l]! & 0xf)) - m1;
      for (let l = 0; l < 32; l++) y[yo++] = f(d2 * (b[q + l]! >> 4)) - m2;
    }
  }
  return y;
}

export function quantizeQ5_K(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const blockBytes = typeSizeOf(GGMLType.Q5_K);
  checkRow('Q5_K', x.length, imatrix);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * blockBytes);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK_K;
    const o = i * blockBytes;
    if (imatrix) k45Impl(x, xo, imatrix, 31, out, o);
    else {
      const [maxScale, maxMin] = k45RefSearch(x, xo, 31, Q5K_SEARCH);
      k45RefScales(maxScale, maxMin, out, o);
    }
    k45Requantize(x, xo, 31, out, o);
    let m1 = 1;
    let m2 = 2;
    for (let n64 = 0, ql = o + Q5K.qs; n64 < QK_K; n64 += 64, ql += 32) {
      for (let j = 0; j < 32; j++) {
        let l1 = Lu[n64 + j]!;
        if (l1 > 15) {
          l1 -= 16;
          out[o + Q5K.qh + j]! |= m1;
        }
        let l2 = Lu[n64 + j + 32]!;
        if (l2 > 15) {
          l2 -= 16;
          out[o + Q5K.qh + j]! |= m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
    }
  }
  return out;
}

export function dequantizeQ5_K(b: Uint8Array, n: number): Float32Array {
  const blockBytes = typeSizeOf(GGMLType.Q5_K);
  const y = new Float32Array(n);
  const nb = n / QK_K;
  let yo = 0;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o + Q5K.d);
    const min = getF16(b, o + Q5K.dmin);
    const qh = o + Q5K.qh;
    let ql = o + Q5K.qs;
    let u1 = 1;
    let u2 = 2;
    for (let j = 0, is = 0; j < QK_K; j += 64, is += 2, ql += 32) {
      const [sc1, m1i] = getScaleMinK4(is, b, o + Q5K.scales);
      const d1 = f(d * sc1);
      const m1 = f(min * m1i);
      const [sc2, m2i] = getScaleMinK4(is + 1, b, o + Q5K.scales);
      const d2 = f(d * sc2);
      const m2 = f(min * m2i);
      for (let l = 0; l < 32; l++) y[yo++] = f(d1 * ((b[ql + l]! & 0xf) + (b[qh + l]! & u1 ? 16 : 0))) - m1;
      for (let l = 0; l < 32; l++) y[yo++] = f(d2 * ((b[ql + l]! >> 4) + (b[qh + l]! & u2 ? 16 : 0))) - m2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
  return y;
}

// ================================================================ Q6_K

export function quantizeQ6_K(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const blockBytes = typeSizeOf(GGMLType.Q6_K);
  checkRow('Q6_K', x.length, imatrix);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * blockBytes);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK_K;
    const o = i * blockBytes;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < N_SUB16; ib++) {
      const scale = makeQxQuantsFast(SUB16, 32, x, xo + SUB16 * ib, Li, SUB16 * ib, 1, imatrix ?? null, xo + SUB16 * ib);
      scales[ib] = scale;
      const absScale = Math.abs(scale);
      if (absScale > maxAbsScale) {
        maxAbsScale = absScale;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // the block stays all zeros (d = 0)
    const iscale = f(-Q6K_SCALE_RANGE / maxScale);
    putF16(out, o + Q6K.d, f(1 / iscale));
    for (let ib = 0; ib < N_SUB16; ib++) out[o + Q6K.scales + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]!))) & 0xff;
    const dAll = getF16(out, o + Q6K.d);
    for (let j = 0; j < N_SUB16; j++) {
      const d = f(dAll * ((out[o + Q6K.scales + j]! << 24) >> 24));
      if (d === 0) continue;
      for (let ii = 0; ii < SUB16; ii++) {
        const l = nearestInt(f(x[xo + SUB16 * j + ii]! / d));
        Li[SUB16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let j = 0, ql = o + Q6K.ql, qh = o + Q6K.qh; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const q1 = Li[j + l]! & 0xf;
        const q2 = Li[j + l + 32]! & 0xf;
        const q3 = Li[j + l + 64]! & 0xf;
        const q4 = Li[j + l + 96]! & 0xf;
        out[ql + l] = q1 | (q3 << 4);
        out[ql + l + 32] = q2 | (q4 << 4);
        out[qh + l] = (Li[j + l]! >> 4) | ((Li[j + l + 32]! >> 4) << 2) | ((Li[j + l + 64]! >> 4) << 4) | ((Li[j + l + 96]! >> 4) << 6);
      }
    }
  }
  return out;
}

export function dequantizeQ6_K(b: Uint8Array, n: number): Float32Array {
  const blockBytes = typeSizeOf(GGMLType.Q6_K);
  const y = new Float32Array(n);
  const nb = n / QK_K;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o + Q6K.d);
    for (let n128 = 0, ql = o + Q6K.ql, qh = o + Q6K.qh, sc = o + Q6K.scales; n128 < QK_K; n128 += 128, ql += 64, qh += 32, sc += 8) {
      const yo = i * QK_K + n128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const q1 = ((b[ql + l]! & 0xf) | (((b[qh + l]! >> 0) & 3) << 4)) - 32;
        const q2 = ((b[ql + l + 32]! & 0xf) | (((b[qh + l]! >> 2) & 3) << 4)) - 32;
        const q3 = ((b[ql + l]! >> 4) | (((b[qh + l]! >> 4) & 3) << 4)) - 32;
        const q4 = ((b[ql + l + 32]! >> 4) | (((b[qh + l]! >> 6) & 3) << 4)) - 32;
        y[yo + l] = f(d * ((b[sc + is]! << 24) >> 24)) * q1;
        y[yo + l + 32] = f(d * ((b[sc + is + 2]! << 24) >> 24)) * q2;
        y[yo + l + 64] = f(d * ((b[sc + is + 4]! << 24) >> 24)) * q3;
        y[yo + l + 96] = f(d * ((b[sc + is + 6]! << 24) >> 24)) * q4;
      }
    }
  }
  return y;
}
