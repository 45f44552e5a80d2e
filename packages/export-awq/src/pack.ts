import { f32ToF16Bits } from '@autoround/core-tensor';
import { AutoRoundError, type QuantizedWeight } from '@autoround/core';

/**
 * AutoAWQ's GEMM interleave: of each 8 consecutive output columns, column j goes to nibble
 * AWQ_ORDER[j] of the int32 word (the packer walks order_map [0,2,4,6,1,3,5,7]; the unpacker
 * reverses with [0,4,1,5,2,6,3,7] over shifts 0,4,…,28).
 */
export const AWQ_ORDER = [0, 4, 1, 5, 2, 6, 3, 7] as const;

/** Packs 8·k 4-bit values into k int32 words with the AWQ interleave (values[8c+j] → word c, nibble AWQ_ORDER[j]). */
export function packAwqWords(values: ArrayLike<number>, out: Int32Array, outOffset = 0): void {
  for (let k = 0; k < values.length; k++) {
    const c = k >> 3;
    out[outOffset + c] = out[outOffset + c]! | ((values[k]! & 15) << (AWQ_ORDER[k & 7]! * 4));
  }
}

export interface AwqTensors {
  /** [in, out/8] */
  qweight: Int32Array;
  /** [G, out/8] */
  qzeros: Int32Array;
  /** fp16 bits [G, out] */
  scales: Uint16Array;
  nGroups: number;
}

/**
 * The AutoAWQ GEMM layout of one 4-bit layer (docs/formats/gptq-awq-llmc.md#awq-gemm-layout): codes packed along the output
 * dimension (qweight[i, c] holds outputs 8c…8c+7 of input i), zero points stored as they are,
 * scales fp16 [G, out]. `scaleBits` turns a scale into fp16 bits (sessions count inexact ones).
 */
export function packAwq(q: QuantizedWeight, scaleBits: (v: number) => number = f32ToF16Bits): AwqTensors {
  const [out, inF] = q.shape;
  if (!q.codes || !q.scales || !q.zeros) throw new AutoRoundError('E_UNSUPPORTED', 'packAwq needs integer codes, scales and zeros');
  if (q.scheme.bits !== 4) throw new AutoRoundError('E_UNSUPPORTED', `AWQ packing stores 4-bit weights only, not ${q.scheme.bits}`);
  if (out % 8 !== 0) throw new AutoRoundError('E_SHAPE', `AWQ packing needs out_features to be a multiple of 8 (got ${out})`);
  const gs = q.groupSize;
  const G = Math.ceil(inF / gs);
  const cols = out / 8;
  const qweight = new Int32Array(inF * cols);
  const codes = q.codes;
  // word (i, c) gathers input i of outputs 8c … 8c+7; stores run sequentially
  const sh = AWQ_ORDER.map((k) => k * 4);
  for (let i = 0; i < inF; i++) {
    const dst = i * cols;
    for (let c = 0; c < cols; c++) {
      const b = c * 8 * inF + i;
      qweight[dst + c] =
        ((codes[b]! & 15) << sh[0]!) |
        ((codes[b + inF]! & 15) << sh[1]!) |
        ((codes[b + 2 * inF]! & 15) << sh[2]!) |
        ((codes[b + 3 * inF]! & 15) << sh[3]!) |
        ((codes[b + 4 * inF]! & 15) << sh[4]!) |
        ((codes[b + 5 * inF]! & 15) << sh[5]!) |
        ((codes[b + 6 * inF]! & 15) << sh[6]!) |
        ((codes[b + 7 * inF]! & 15) << sh[7]!);
    }
  }
  const qzeros = new Int32Array(G * cols);
  const scales = new Uint16Array(G * out);
  const zrow = new Int32Array(out);
  for (let g = 0; g < G; g++) {
    for (let o = 0; o < out; o++) {
      const z = q.zeros[o * G + g]!;
      if (z < 0 || z > 15) throw new AutoRoundError('E_UNSUPPORTED', `AWQ packing: zero point ${z} (output ${o}, group ${g}) does not fit 4 bits`);
      zrow[o] = z;
      scales[g * out + o] = scaleBits(q.scales[o * G + g]!);
    }
    packAwqWords(zrow, qzeros, g * cols);
  }
  return { qweight, qzeros, scales, nGroups: G };
}
