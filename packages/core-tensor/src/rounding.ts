// The rounding of integer quantization, shared by the plain QDQ (@autoround/quant-types' quantizeInt)
// and the autograd QDQ op (autograd/qdq.ts): one home until that op moves up beside it.
import { roundToBf16, roundToF16 } from './float-codecs.js';

/** The dtype a quantization scale is cast to (a scheme's `scale_dtype`, spelled as the original's configs spell it). */
export type ScaleDType = 'fp16' | 'bf16' | 'fp32';

/** 1.5·2^52: adding and subtracting it rounds a double to an integer, half to even (|x| < 2^51). */
export const RNE_MAGIC = 6755399441055744;

/** torch.round: round half to even, sign of zero kept (beyond 2^51 x is returned as it is). */
export function roundHalfEven(x: number): number {
  if (!(Math.abs(x) < 2251799813685248)) return x;
  const r = x + RNE_MAGIC - RNE_MAGIC;
  return r === 0 ? x * 0 : r;
}

/** The cast `.to(scale_dtype)` of a float32 value, as a function (hot loops hold it). */
export function scaleCast(dtype: ScaleDType): (v: number) => number {
  return dtype === 'fp16' ? roundToF16 : dtype === 'bf16' ? roundToBf16 : Math.fround;
}

/** The cast `.to(scale_dtype)` of a float32 value. */
export function castScale(v: number, dtype: ScaleDType): number {
  return scaleCast(dtype)(v);
}

/** q_scale_thresh before the cast: 1e-5, or 1e-8 for fp32 scales. */
export function scaleThresholdValue(dtype: ScaleDType): number {
  return dtype === 'fp32' ? 1e-8 : 1e-5;
}

/** q_scale_thresh as the clamp sees it: scaleThresholdValue cast to the scale dtype. */
export function scaleThreshold(dtype: ScaleDType): number {
  return castScale(scaleThresholdValue(dtype), dtype);
}
