// The floating-point layers (MX, NVFP4, FP8) in the calibrated algorithms (docs/algorithms/fp-qdq.md): the
// fused NVFP4 global scales of a block, the static activation ranges calibrated on the block inputs, and the
// activation QDQ the quantized block runs with.
import { type ActivationQdq, AutoRoundError, needsActivationCalibration, type QuantScheme, type QuantizeSession, type QuantizedWeight } from '@autoround/core';
import { activationQdqOf, blockGlobalScales, fpTuning } from '@autoround/algo-rtn';
import { fp8InputScale, fpDataTypeOf, hasFpOptRtn, isFpScheme, nvGlobalScale, quantizeFp, quantizeFpOptRtn } from '@autoround/quant-types';
import type { ActivationSums } from './gguf.js';
import { imatrixPerSequence } from './gguf.js';
import type { QuantizedLinear } from './blockwise.js';

/**
 * A quantized weight with the static activation fields of its scheme, from the largest |x| its input reached in
 * calibration: actMax, and FP8_STATIC's input_scale or NVFP4's input_global_scale.
 */
export function withActivationRanges(q: QuantizedWeight, sums: ActivationSums | undefined, layer: string): QuantizedWeight {
  const s = q.scheme;
  if (!needsActivationCalibration(s)) return q;
  if (!sums || sums.tokens === 0) throw new AutoRoundError('E_NO_DATASET', `${layer}: no calibration activations reached this layer, so its static activation range (act_max) is unknown`, { subject: layer });
  const actMax = sums.amax;
  const t = fpDataTypeOf(s.act_data_type, s.act_bits);
  if (t?.format.family === 'fp8') return { ...q, actMax, inputScale: fp8InputScale(actMax) };
  if (t?.format.family === 'nv') return { ...q, actMax, inputGlobalScale: nvGlobalScale(actMax) };
  return { ...q, actMax };
}

/** NVFP4 global scales of a block's floating-point layers after the fused-layer rule, by local name. */
export function blockFpGlobalScales(linears: readonly QuantizedLinear[]): Map<string, number> {
  return blockGlobalScales(new Map(linears.filter((x) => isFpScheme(x.scheme)).map((x) => [x.l.name, { scheme: x.scheme, weight: x.weight }])));
}

/**
 * Calibrated RTN of a floating-point layer: the original's optimized search (MX, NVFP4) with the importance matrix
 * unless --disable_opt_rtn, else plain RTN; with its fused global scale and static activation range.
 */
export function fpCalibratedRtn(session: QuantizeSession, x: QuantizedLinear, globalScale: number | undefined, sums: ActivationSums | undefined, sequences: number): QuantizedWeight {
  const { l, name, scheme, weight } = x;
  const tuning = fpTuning(globalScale);
  const q =
    !session.options.disableOptRtn && hasFpOptRtn(scheme) && sums
      ? quantizeFpOptRtn(weight, l.outFeatures, l.inFeatures, scheme, imatrixPerSequence(sums, sequences, name), tuning)
      : quantizeFp(weight, l.outFeatures, l.inFeatures, scheme, tuning);
  return withActivationRanges(q, sums, name);
}

/** The activation QDQ of a block's quantized layers (by local name), for its forward; undefined if none quantizes activations. */
export function blockActivationQdq(emitted: ReadonlyMap<string, QuantizedWeight>): ActivationQdq | undefined {
  return activationQdqOf(emitted);
}
