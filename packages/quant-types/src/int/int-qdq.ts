import { AutoRoundError, type QuantScheme, type QuantizedWeight, effectiveGroupSize, scaleDtypeOf } from '@autoround/core';
import { castScale, intRtnKernel, roundHalfEven, scaleThreshold } from '@autoround/core-tensor';

const f = Math.fround;

/** Tunable parameters of SignRound; plain RTN uses none (V = 0, alpha = beta = 1). */
export interface IntQdqTuning {
  /** rounding offsets, [out * nGroups * gs] laid out like the padded grouped weight */
  v?: Float32Array;
  /** min_scale (alpha) and max_scale (beta), one per group */
  minScale?: Float32Array;
  maxScale?: Float32Array;
  /**
   * SignRoundV2 (sym only): the base scale per group (the importance-weighted search's), which
   * maxScale multiplies: scale = cast(initScale · maxScale) instead of the scale from min/max.
   */
  initScale?: Float32Array;
}

/**
 * Quantize–dequantize of an integer weight-only scheme, bit for bit as the original's
 * quant_tensor_asym / quant_tensor_sym (full range) compute in float32 (docs/algorithms/qdq.md).
 * W is [out, in] row-major; groups run along `in` (the last partial group is zero-padded).
 */
export function quantizeInt(weight: Float32Array, out: number, inF: number, scheme: QuantScheme, params: IntQdqTuning = {}): QuantizedWeight {
  if (scheme.data_type !== 'int') throw new AutoRoundError('E_UNSUPPORTED', `quantizeInt: data_type "${scheme.data_type}" is not an int scheme`);
  if (weight.length !== out * inF) throw new RangeError(`quantizeInt: weight has ${weight.length} elements, expected ${out}x${inF}`);
  const bits = scheme.bits;
  const gs = effectiveGroupSize(scheme.group_size, inF, out);
  const perTensor = scheme.group_size === 0;
  const sdt = scaleDtypeOf(scheme);
  const thresh = scaleThreshold(sdt);
  // per-tensor: one group spanning everything; otherwise groups along each row
  const groupsPerRow = perTensor ? 1 : Math.ceil(inF / gs);
  const nScales = perTensor ? 1 : out * groupsPerRow;
  const scales = new Float32Array(nScales);
  const zeros = new Int32Array(nScales);
  const codes = new Uint8Array(out * inF);
  const qdq = new Float32Array(out * inF);
  const { v, minScale, maxScale, initScale } = params;
  if (initScale && (!scheme.sym || initScale.length !== nScales)) {
    throw new AutoRoundError('E_UNSUPPORTED', `quantizeInt: initScale needs a symmetric scheme and one value per group (${nScales}), got ${initScale.length}`);
  }
  const padded = perTensor ? out * inF : gs;
  // the largest code (asym) or the magnitude of the most negative level (sym, full range)
  const maxq = scheme.sym ? 2 ** (bits - 1) : 2 ** bits - 1;
  // The element loops run natively where kernels-cpu registered them (the same bits; the per-group scale and zero
  // point stay here). The native groups tile [kRows, kCols] by kGs: per-tensor is one row of one group.
  const kernel = bits <= 8 ? intRtnKernel() : null; // the native codes are 8-bit, as this function's
  const [kRows, kCols, kGs] = perTensor ? [1, out * inF, out * inF] : [out, inF, gs];
  const mins = kernel ? new Float32Array(nScales) : null;
  const maxs = kernel ? new Float32Array(nScales) : null;
  const zps = kernel ? new Float64Array(nScales) : null;
  if (kernel && nScales > 0) kernel.minMax(weight, kRows, kCols, kGs, mins!, maxs!);

  for (let g = 0; g < nScales; g++) {
    // element range of group g, in weight coordinates
    const row = perTensor ? 0 : Math.floor(g / groupsPerRow);
    const col0 = perTensor ? 0 : (g % groupsPerRow) * gs;
    const len = perTensor ? out * inF : Math.min(gs, inF - col0);
    const base = perTensor ? 0 : row * inF + col0;
    let mn = 0;
    let mx = 0;
    if (kernel) {
      mn = mins![g]!;
      mx = maxs![g]!;
    } else {
      for (let i = 0; i < len; i++) {
        const w = weight[base + i]!;
        if (w < mn) mn = w;
        if (w > mx) mx = w;
      }
    }
    if (minScale) mn = f(mn * minScale[g]!);
    if (maxScale) mx = f(mx * maxScale[g]!);
    const vOff = g * padded;
    if (!scheme.sym) {
      let s = castScale(f(f(mx - mn) / maxq), sdt);
      if (s < thresh) s = thresh;
      const zp = roundHalfEven(f(-mn / s));
      scales[g] = s;
      zeros[g] = zp;
      if (zps) {
        zps[g] = zp;
        continue;
      }
      for (let i = 0; i < len; i++) {
        let x = f(weight[base + i]! / s);
        if (v) x = f(x + v[vOff + i]!);
        let q = roundHalfEven(x) + zp;
        if (q < 0) q = 0;
        else if (q > maxq) q = maxq;
        codes[base + i] = q;
        qdq[base + i] = f(s * (q - zp));
      }
    } else {
      const a = -mn;
      const b = mx;
      const maxV = b < a ? a : -b;
      let s = initScale ? castScale(f(initScale[g]! * (maxScale ? maxScale[g]! : 1)), sdt) : castScale(f(maxV / maxq), sdt);
      if (s < 0) {
        if (s > -thresh) s = -thresh;
      } else if (s < thresh) s = thresh;
      scales[g] = s;
      zeros[g] = maxq;
      if (zps) continue;
      for (let i = 0; i < len; i++) {
        let x = f(weight[base + i]! / s);
        if (v) x = f(x + v[vOff + i]!);
        let q = roundHalfEven(x);
        if (q < -maxq) q = -maxq;
        else if (q > maxq - 1) q = maxq - 1;
        codes[base + i] = q + maxq;
        qdq[base + i] = f(s * q);
      }
    }
  }
  if (kernel && nScales > 0) {
    kernel.elements(weight, v ?? null, kRows, kCols, kGs, scales, zps!, maxq, scheme.sym, codes, qdq);
  }
  if (perTensor) {
    // exporters expect per-row groups; a per-tensor scale is the same scale on every row
    return {
      scheme,
      shape: [out, inF],
      groupSize: inF,
      qdq,
      codes,
      scales: new Float32Array(out).fill(scales[0]!),
      zeros: new Int32Array(out).fill(zeros[0]!),
    };
  }
  return { scheme, shape: [out, inF], groupSize: gs, qdq, codes, scales, zeros };
}
