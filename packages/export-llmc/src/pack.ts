import { AutoRoundError, type QuantizedWeight } from '@autoround/core';

/** Values per int32 word in compressed-tensors' pack_to_int32: floor(32 / bits) (10 for 3-bit; no value straddles two words). */
export function packFactor(bits: number): number {
  return Math.floor(32 / bits);
}

/**
 * compressed-tensors' pack_to_int32 for one row of unsigned values (already offset by 2^(bits−1)):
 * value k goes to word floor(k / pf) at bit (k mod pf)·bits, LSB first; the last word is zero-padded.
 */
export function packRowToInt32(values: ArrayLike<number>, bits: number, out: Int32Array, outOffset = 0, count = values.length): void {
  const pf = packFactor(bits);
  const mask = (1 << bits) - 1;
  for (let k0 = 0, w = outOffset; k0 < count; k0 += pf, w++) {
    const end = Math.min(count, k0 + pf);
    let word = out[w]!;
    for (let k = k0, sh = 0; k < end; k++, sh += bits) word |= (values[k]! & mask) << sh;
    out[w] = word;
  }
}

export interface LlmcTensors {
  /** [out, ceil(in/pf)] */
  weightPacked: Int32Array;
  /** [out, G], float32 values (the session stores them in the scale dtype) */
  weightScale: Float32Array;
  /** [ceil(out/pf), G], only for asymmetric schemes */
  weightZeroPoint?: Int32Array;
  /** [out, in] */
  weightShape: Int32Array;
  nGroups: number;
}

/**
 * The compressed-tensors "pack-quantized" layout of one layer. compressed-tensors quantizes int
 * weights to signed levels q ∈ [−2^(b−1), 2^(b−1)−1] with a signed zero point (asym) or none
 * (sym) and packs q + 2^(b−1). Our codes are unsigned (code = level + zero), so:
 *  - weight_packed holds our codes as they are (q_ct + 2^(b−1) = code);
 *  - asym: weight_zero_point holds our zero as it is (zp_ct + 2^(b−1) = zero), packed along the
 *    output dim (pack_to_int32(..., packed_dim=0));
 *  - sym (full range): our zero is always 2^(b−1), the level code − 2^(b−1) spans all of
 *    [−2^(b−1), 2^(b−1)−1], and dequantization is level · scale, so negative scales work unchanged.
 */
export function packLlmc(q: QuantizedWeight): LlmcTensors {
  const [out, inF] = q.shape;
  const b = q.scheme.bits;
  if (!q.codes || !q.scales || !q.zeros) throw new AutoRoundError('E_UNSUPPORTED', 'packLlmc needs integer codes, scales and zeros');
  if (b < 1 || b > 8) throw new AutoRoundError('E_UNSUPPORTED', `compressed-tensors packs 1…8-bit values, not ${b}`);
  const pf = packFactor(b);
  const G = Math.ceil(inF / q.groupSize);
  const wcols = Math.ceil(inF / pf);
  const weightPacked = new Int32Array(out * wcols);
  for (let o = 0; o < out; o++) packRowToInt32(q.codes.subarray(o * inF, (o + 1) * inF), b, weightPacked, o * wcols);
  const half = 1 << (b - 1);
  const res: LlmcTensors = { weightPacked, weightScale: Float32Array.from(q.scales), weightShape: Int32Array.of(out, inF), nGroups: G };
  if (q.scheme.sym) {
    for (let i = 0; i < q.zeros.length; i++) {
      if (q.zeros[i] !== half) {
        throw new AutoRoundError('E_UNSUPPORTED', `compressed-tensors stores symmetric schemes without zero points, but this layer has zero ${q.zeros[i]} (expected ${half}) in group ${i}`);
      }
    }
    return res;
  }
  // asym: zero points [out, G] packed along the output dim into [ceil(out/pf), G]
  const zrows = Math.ceil(out / pf);
  const zp = new Int32Array(zrows * G);
  const col = new Int32Array(out);
  const tmp = new Int32Array(zrows);
  for (let g = 0; g < G; g++) {
    for (let o = 0; o < out; o++) {
      const z = q.zeros[o * G + g]!;
      if (z < 0 || z >= 1 << b) throw new AutoRoundError('E_UNSUPPORTED', `zero point ${z} (output ${o}, group ${g}) does not fit ${b} bits`);
      col[o] = z;
    }
    tmp.fill(0);
    packRowToInt32(col, b, tmp);
    for (let r = 0; r < zrows; r++) zp[r * G + g] = tmp[r]!;
  }
  res.weightZeroPoint = zp;
  return res;
}
