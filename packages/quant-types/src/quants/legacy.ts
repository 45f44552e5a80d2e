// The 32-element block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (docs/formats/gguf.md#legacy-32-element-types, #importance-matrix).
// quantize*(row, imatrix?) takes one row (a multiple of 32 elements) and returns its blocks;
// dequantize*(bytes, n) returns n floats. Reference paths without an importance matrix, the
// quantize_row_*_impl paths with one (Q8_0 ignores it).

import { GGMLType } from '../ggml-types.js';
import { blockSizeOf, typeSizeOf } from '../table.js';
import { f, getF16, makeQkx3QuantsFast, makeQxQuantsFast, putF16, searchResult, F_0_05, F_0_9 } from './search.js';


/** Half the block: element j and j + 16 share a byte (low and high nibble). */
const HALF = 16;
/** The imatrix searches of Q4_1/Q5_1 (make_qkx3_quants arguments). */
const IMATRIX_RMIN = -F_0_9;
const IMATRIX_RDELTA = F_0_05;
const IMATRIX_NSTEP = 36;

const FLT_MAX = f(3.4028234663852886e38);

function checkRow(name: string, n: number, qk: number, imatrix?: Float32Array | null): void {
  if (n % qk !== 0) throw new RangeError(`${name}: row length ${n} is not a multiple of ${qk}`);
  if (imatrix && imatrix.length < n) throw new RangeError(`${name}: importance vector has ${imatrix.length} entries, row has ${n}`);
}

/** C's (int) conversion of a float: truncation toward zero. */
const trunc = Math.trunc;

/** C's roundf: nearest, ties away from zero. */
function roundf(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** Σx² over the row and σ² = Σx²/n, as the *_impl paths compute it. */
function rowSigma2(x: Float32Array): number {
  let sumX2 = 0;
  for (let j = 0; j < x.length; j++) sumX2 = f(sumX2 + f(x[j]! * x[j]!));
  return f(sumX2 / x.length);
}

const weight32 = new Float32Array(32);
const L32 = new Int8Array(32);
const Lu32 = new Uint8Array(32);
const Laux32 = new Uint8Array(32);

/** w_j = qw_j · sqrt(σ² + x_j²) for the block at xo. */
function imatrixWeights(x: Float32Array, xo: number, qw: Float32Array, sigma2: number): void {
  for (let j = 0; j < 32; j++) weight32[j] = f(qw[xo + j]! * f(Math.sqrt(f(sigma2 + f(x[xo + j]! * x[xo + j]!)))));
}

// ---------------------------------------------------------------- Q8_0

export function quantizeQ8_0(x: Float32Array, _imatrix?: Float32Array | null): Uint8Array {
  const qk = blockSizeOf(GGMLType.Q8_0);
  const blockBytes = typeSizeOf(GGMLType.Q8_0);
  checkRow('Q8_0', x.length, qk);
  const nb = x.length / qk;
  const out = new Uint8Array(nb * blockBytes);
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const o = i * blockBytes;
    let amax = 0;
    for (let j = 0; j < qk; j++) amax = Math.max(amax, Math.abs(x[xo + j]!));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    putF16(out, o, d);
    for (let j = 0; j < qk; j++) out[o + 2 + j] = roundf(f(x[xo + j]! * id)) & 0xff;
  }
  return out;
}

export function dequantizeQ8_0(b: Uint8Array, n: number): Float32Array {
  const qk = blockSizeOf(GGMLType.Q8_0);
  const blockBytes = typeSizeOf(GGMLType.Q8_0);
  const y = new Float32Array(n);
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o);
    for (let j = 0; j < qk; j++) y[i * qk + j] = ((b[o + 2 + j]! << 24) >> 24) * d;
  }
  return y;
}

// ---------------------------------------------------------------- Q4_0

export function quantizeQ4_0(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const qk = blockSizeOf(GGMLType.Q4_0);
  const blockBytes = typeSizeOf(GGMLType.Q4_0);
  checkRow('Q4_0', x.length, qk, imatrix);
  const nb = x.length / qk;
  const out = new Uint8Array(nb * blockBytes);
  if (imatrix) {
    const sigma2 = rowSigma2(x);
    for (let i = 0; i < nb; i++) {
      const xo = i * qk;
      const o = i * blockBytes;
      imatrixWeights(x, xo, imatrix, sigma2);
      const d = makeQxQuantsFast(qk, 8, x, xo, L32, 0, 1, weight32, 0);
      putF16(out, o, d);
      for (let j = 0; j < HALF; j++) out[o + 2 + j] = L32[j]! | (L32[j + HALF]! << 4);
    }
    return out;
  }
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const o = i * blockBytes;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    putF16(out, o, d);
    for (let j = 0; j < HALF; j++) {
      const x0 = f(x[xo + j]! * id);
      const x1 = f(x[xo + HALF + j]! * id);
      const xi0 = Math.min(15, trunc(f(x0 + 8.5)));
      const xi1 = Math.min(15, trunc(f(x1 + 8.5)));
      out[o + 2 + j] = xi0 | (xi1 << 4);
    }
  }
  return out;
}

export function dequantizeQ4_0(b: Uint8Array, n: number): Float32Array {
  const qk = blockSizeOf(GGMLType.Q4_0);
  const blockBytes = typeSizeOf(GGMLType.Q4_0);
  const y = new Float32Array(n);
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o);
    for (let j = 0; j < HALF; j++) {
      const q = b[o + 2 + j]!;
      y[i * qk + j] = ((q & 0x0f) - 8) * d;
      y[i * qk + j + HALF] = ((q >> 4) - 8) * d;
    }
  }
  return y;
}

// ---------------------------------------------------------------- Q4_1

export function quantizeQ4_1(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const qk = blockSizeOf(GGMLType.Q4_1);
  const blockBytes = typeSizeOf(GGMLType.Q4_1);
  checkRow('Q4_1', x.length, qk, imatrix);
  const nb = x.length / qk;
  const out = new Uint8Array(nb * blockBytes);
  if (imatrix) {
    const sigma2 = rowSigma2(x);
    for (let i = 0; i < nb; i++) {
      const xo = i * qk;
      const o = i * blockBytes;
      imatrixWeights(x, xo, imatrix, sigma2);
      const d = makeQkx3QuantsFast(qk, 15, x, xo, weight32, 0, Lu32, 0, Laux32, IMATRIX_RMIN, IMATRIX_RDELTA, IMATRIX_NSTEP, false);
      putF16(out, o, d);
      putF16(out, o + 2, -searchResult.min);
      for (let j = 0; j < HALF; j++) out[o + 4 + j] = Lu32[j]! | (Lu32[j + HALF]! << 4);
    }
    return out;
  }
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const o = i * blockBytes;
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 15);
    const id = d !== 0 ? f(1 / d) : 0;
    putF16(out, o, d);
    putF16(out, o + 2, min);
    for (let j = 0; j < HALF; j++) {
      const x0 = f(f(x[xo + j]! - min) * id);
      const x1 = f(f(x[xo + HALF + j]! - min) * id);
      const xi0 = Math.min(15, trunc(f(x0 + 0.5)));
      const xi1 = Math.min(15, trunc(f(x1 + 0.5)));
      out[o + 4 + j] = xi0 | (xi1 << 4);
    }
  }
  return out;
}

export function dequantizeQ4_1(b: Uint8Array, n: number): Float32Array {
  const qk = blockSizeOf(GGMLType.Q4_1);
  const blockBytes = typeSizeOf(GGMLType.Q4_1);
  const y = new Float32Array(n);
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o);
    const m = getF16(b, o + 2);
    for (let j = 0; j < HALF; j++) {
      const q = b[o + 4 + j]!;
      y[i * qk + j] = f((q & 0x0f) * d) + m;
      y[i * qk + j + HALF] = f((q >> 4) * d) + m;
    }
  }
  return y;
}

// ---------------------------------------------------------------- Q5_0

/** Stores 32 five-bit codes: low nibbles in qs (j, j+16 share a byte), bit 4 of code j in bit j of qh. */
function packQ5(codes: ArrayLike<number>, out: Uint8Array, qhOff: number, qsOff: number): void {
  let qh = 0;
  for (let j = 0; j < HALF; j++) {
    const xi0 = codes[j]! & 0xff;
    const xi1 = codes[j + HALF]! & 0xff;
    out[qsOff + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
    qh |= ((xi0 & 0x10) >>> 4) << j;
    qh |= ((xi1 & 0x10) >>> 4) << (j + HALF);
  }
  out[qhOff] = qh & 0xff;
  out[qhOff + 1] = (qh >>> 8) & 0xff;
  out[qhOff + 2] = (qh >>> 16) & 0xff;
  out[qhOff + 3] = (qh >>> 24) & 0xff;
}

function readQh(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

const codes32 = new Int32Array(32);

export function quantizeQ5_0(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const qk = blockSizeOf(GGMLType.Q5_0);
  const blockBytes = typeSizeOf(GGMLType.Q5_0);
  checkRow('Q5_0', x.length, qk, imatrix);
  const nb = x.length / qk;
  const out = new Uint8Array(nb * blockBytes);
  if (imatrix) {
    const sigma2 = rowSigma2(x);
    for (let i = 0; i < nb; i++) {
      const xo = i * qk;
      const o = i * blockBytes;
      imatrixWeights(x, xo, imatrix, sigma2);
      const d = makeQxQuantsFast(qk, 16, x, xo, L32, 0, 1, weight32, 0);
      putF16(out, o, d);
      packQ5(L32, out, o + 2, o + 6);
    }
    return out;
  }
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const o = i * blockBytes;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -16);
    const id = d !== 0 ? f(1 / d) : 0;
    putF16(out, o, d);
    for (let j = 0; j < qk; j++) codes32[j] = Math.min(31, trunc(f(f(x[xo + j]! * id) + 16.5)));
    packQ5(codes32, out, o + 2, o + 6);
  }
  return out;
}

export function dequantizeQ5_0(b: Uint8Array, n: number): Float32Array {
  const qk = blockSizeOf(GGMLType.Q5_0);
  const blockBytes = typeSizeOf(GGMLType.Q5_0);
  const y = new Float32Array(n);
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o);
    const qh = readQh(b, o + 2);
    for (let j = 0; j < HALF; j++) {
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      const q = b[o + 6 + j]!;
      y[i * qk + j] = (((q & 0x0f) | xh0) - 16) * d;
      y[i * qk + j + HALF] = (((q >> 4) | xh1) - 16) * d;
    }
  }
  return y;
}

// ---------------------------------------------------------------- Q5_1

export function quantizeQ5_1(x: Float32Array, imatrix?: Float32Array | null): Uint8Array {
  const qk = blockSizeOf(GGMLType.Q5_1);
  const blockBytes = typeSizeOf(GGMLType.Q5_1);
  checkRow('Q5_1', x.length, qk, imatrix);
  const nb = x.length / qk;
  const out = new Uint8Array(nb * blockBytes);
  if (imatrix) {
    const sigma2 = rowSigma2(x);
    for (let i = 0; i < nb; i++) {
      const xo = i * qk;
      const o = i * blockBytes;
      imatrixWeights(x, xo, imatrix, sigma2);
      const d = makeQkx3QuantsFast(qk, 31, x, xo, weight32, 0, Lu32, 0, Laux32, IMATRIX_RMIN, IMATRIX_RDELTA, IMATRIX_NSTEP, false);
      putF16(out, o, d);
      putF16(out, o + 2, -searchResult.min);
      packQ5(Lu32, out, o + 4, o + 8);
    }
    return out;
  }
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    const o = i * blockBytes;
    let min = FLT_MAX;
    let max = -FLT_MAX;
    for (let j = 0; j < qk; j++) {
      const v = x[xo + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 31);
    const id = d !== 0 ? f(1 / d) : 0;
    putF16(out, o, d);
    putF16(out, o + 2, min);
    for (let j = 0; j < qk; j++) codes32[j] = trunc(f(f(f(x[xo + j]! - min) * id) + 0.5)) & 0xff;
    packQ5(codes32, out, o + 4, o + 8);
  }
  return out;
}

export function dequantizeQ5_1(b: Uint8Array, n: number): Float32Array {
  const qk = blockSizeOf(GGMLType.Q5_1);
  const blockBytes = typeSizeOf(GGMLType.Q5_1);
  const y = new Float32Array(n);
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const o = i * blockBytes;
    const d = getF16(b, o);
    const m = getF16(b, o + 2);
    const qh = readQh(b, o + 4);
    for (let j = 0; j < HALF; j++) {
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      const q = b[o + 8 + j]!;
      y[i * qk + j] = f(((q & 0x0f) | xh0) * d) + m;
      y[i * qk + j + HALF] = f(((q >> 4) | xh1) * d) + m;
    }
  }
  return y;
}
