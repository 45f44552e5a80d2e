import { f32ToF16Bits } from '@autoround/core-tensor';
import { AutoRoundError, type QuantizedWeight } from '@autoround/core';

/**
 * Packs unsigned b-bit values into int32 words as one LSB-first bit stream. For b = 2, 4, 8
 * this is "32/b values per word"; for b = 3 it is exactly the GPTQ 3-words-per-32-values
 * layout (a value may straddle two words).
 */
export function packBits(values: ArrayLike<number>, bits: number, out: Uint32Array, outOffset = 0, stride = 1): void {
  const mask = (1 << bits) - 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]! & mask;
    const bit = i * bits;
    const w = bit >>> 5;
    const sh = bit & 31;
    out[outOffset + w * stride] = (out[outOffset + w * stride]! | (v << sh)) >>> 0;
    if (sh + bits > 32) out[outOffset + (w + 1) * stride] = (out[outOffset + (w + 1) * stride]! | (v >>> (32 - sh))) >>> 0;
  }
}

export interface GptqTensors {
  /** [in·b/32, out] */
  qweight: Int32Array;
  /** [G, out·b/32] */
  qzeros: Int32Array;
  /** fp16 bits [G, out] */
  scales: Uint16Array;
  /** [in] (only when asked for) */
  gIdx?: Int32Array;
  nGroups: number;
  /** Zero points the layout cannot hold (GPTQ v1 stores zero − 1, so a zero of 0 wraps to 2^b − 1). */
  wrappedZeros: number;
}

export interface GptqPackOptions {
  /** GPTQ v1 stores zero − 1 (auto_gptq, auto_round:auto_gptq); v2 / auto_round asym store zero as is. */
  zeroMinusOne: boolean;
  gIdx?: boolean;
  /** fp16 bits of a scale (default: round to nearest); sessions use it to count inexact scales. */
  scaleBits?: (v: number) => number;
}

/** The GPTQ tensor layout of one quantized linear (docs/formats/gptq-awq-llmc.md#gptq-tensor-layout). */
export function packGptq(q: QuantizedWeight, opts: GptqPackOptions): GptqTensors {
  const [out, inF] = q.shape;
  const b = q.scheme.bits;
  if (!q.codes || !q.scales || !q.zeros) throw new AutoRoundError('E_UNSUPPORTED', 'packGptq needs integer codes, scales and zeros');
  if (![2, 3, 4, 8].includes(b)) throw new AutoRoundError('E_UNSUPPORTED', `GPTQ packing supports bits 2, 3, 4, 8, not ${b}`);
  if ((inF * b) % 32 !== 0 || (out * b) % 32 !== 0) {
    throw new AutoRoundError('E_SHAPE', `GPTQ packing needs in_features and out_features to be multiples of 32 (got ${inF}x${out})`);
  }
  const gs = q.groupSize;
  const G = Math.ceil(inF / gs);
  const rows = (inF * b) / 32;
  const qweight = new Uint32Array(rows * out);
  const codes = q.codes;
  if (32 % b === 0) {
    // 2/4/8 bits: word (r, o) holds inputs r·pf … r·pf+pf−1 of output o; written row by row so
    // the stores are sequential (packBits per column would store `out` words apart)
    const pf = 32 / b;
    const mask = (1 << b) - 1;
    const words = new Int32Array(qweight.buffer);
    for (let r = 0; r < rows; r++) {
      const dst = r * out;
      for (let o = 0; o < out; o++) {
        const src = o * inF + r * pf;
        let w = 0;
        for (let j = 0; j < pf; j++) w |= (codes[src + j]! & mask) << (j * b);
        words[dst + o] = w;
      }
    }
  } else {
    const col = new Uint8Array(inF);
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inF; i++) col[i] = codes[o * inF + i]!;
      // column o of qweight: words rows apart (3-bit: a value may straddle two words)
      packBits(col, b, qweight, o, out);
    }
  }
  const zcols = (out * b) / 32;
  const qzeros = new Uint32Array(G * zcols);
  const scales = new Uint16Array(G * out);
  const zrow = new Int32Array(out);
  const toF16 = opts.scaleBits ?? f32ToF16Bits;
  const maxZ = (1 << b) - 1;
  let wrappedZeros = 0;
  for (let g = 0; g < G; g++) {
    for (let o = 0; o < out; o++) {
      const z = q.zeros[o * G + g]!;
      const stored = opts.zeroMinusOne ? z - 1 : z;
      if (stored < 0 || stored > maxZ) wrappedZeros++;
      zrow[o] = stored;
      scales[g * out + o] = toF16(q.scales[o * G + g]!);
    }
    packBits(zrow, b, qzeros, g * zcols);
  }
  const res: GptqTensors = { qweight: new Int32Array(qweight.buffer), qzeros: new Int32Array(qzeros.buffer), scales, nGroups: G, wrappedZeros };
  if (opts.gIdx) {
    res.gIdx = new Int32Array(inF);
    for (let i = 0; i < inF; i++) res.gIdx[i] = Math.floor(i / gs);
  }
  return res;
}
