// llama.cpp's MXFP4 block type (docs/formats/gguf.md#mxfp4): 32 elements in 17 bytes, one E8M0 exponent
// byte `e` then 16 bytes of E2M1 nibbles, element j in the low nibble of byte j and element j + 16 in
// its high nibble (as Q4_0). The nibble indexes kvalues (twice the E2M1 magnitudes, bit 3 the sign) and the
// block's unit is 2^(e − 128), half the E8M0 value, so the doubled table lands on the E2M1 grid.
// quantize_row_mxfp4_ref: e = floor(log2(amax)) − 2 + 127, then each element takes the nearest table
// entry (the first on a tie, in table order); the importance matrix is ignored (quantize_mxfp4).

import { GGMLType } from '../ggml-types.js';
import { blockSizeOf, typeSizeOf } from '../table.js';
import { f } from './search.js';

/** kvalues_mxfp4: twice the E2M1 magnitudes, indexes 8–15 negative. */
const KVALUES = new Int8Array([0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]);

/** GGML_E8M0_TO_FP32_HALF: 2^(e − 128) as a float32 (subnormal for e < 2). */
export function e8m0Half(e: number): number {
  return 2 ** (e - 128);
}

/** best_index_mxfp4: the nearest kvalue·d to x, float32 arithmetic, the first index on a tie. */
function bestIndex(x: number, d: number): number {
  let best = 0;
  let bestErr = Math.abs(f(KVALUES[0]! * d - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(f(KVALUES[i]! * d - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

export function quantizeMXFP4(x: Float32Array, _imatrix?: Float32Array | null): Uint8Array {
  const qk = blockSizeOf(GGMLType.MXFP4);
  const bytes = typeSizeOf(GGMLType.MXFP4);
  if (x.length % qk !== 0) throw new RangeError(`MXFP4: row length ${x.length} is not a multiple of ${qk}`);
  const nb = x.length / qk;
  const out = new Uint8Array(nb * bytes);
  const half = qk / 2;
  for (let i = 0; i < nb; i++) {
    const xo = i * qk;
    let amax = 0;
    for (let j = 0; j < qk; j++) {
      const v = Math.abs(x[xo + j]!);
      if (amax < v) amax = v;
    }
    // (uint8_t)(floorf(log2f(amax)) - 2 + 127): log2f rounds to float32 first (a value just below a power
    // of two lands on it), and the conversion keeps the low byte
    const e = amax > 0 ? (Math.floor(f(Math.log2(amax))) - 2 + 127) & 0xff : 0;
    const d = e8m0Half(e);
    const o = i * bytes;
    out[o] = e;
    for (let j = 0; j < half; j++) {
      out[o + 1 + j] = bestIndex(x[xo + j]!, d) | (bestIndex(x[xo + half + j]!, d) << 4);
    }
  }
  return out;
}

export function dequantizeMXFP4(b: Uint8Array, n: number): Float32Array {
  const qk = blockSizeOf(GGMLType.MXFP4);
  const bytes = typeSizeOf(GGMLType.MXFP4);
  const half = qk / 2;
  const y = new Float32Array(n);
  for (let i = 0; i < n / qk; i++) {
    const o = i * bytes;
    const d = e8m0Half(b[o]!);
    for (let j = 0; j < half; j++) {
      const q = b[o + 1 + j]!;
      y[i * qk + j] = KVALUES[q & 0x0f]! * d;
      y[i * qk + half + j] = KVALUES[q >> 4]! * d;
    }
  }
  return y;
}
