import { roundToBf16, roundToF16 } from '@autoround/core-tensor';
import type { ScaleDType } from '@autoround/core';

/** torch.round: half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The cast `.to(scale_dtype)` of a float32 value. */
export function castScale(v: number, dtype: ScaleDType): number {
  if (dtype === 'fp16') return roundToF16(v);
  if (dtype === 'bf16') return roundToBf16(v);
  return Math.fround(v);
}

/** q_scale_thresh as the clamp sees it: 1e-5 (1e-8 for fp32 scales), cast to the scale dtype. */
export function scaleThreshold(dtype: ScaleDType): number {
  return dtype === 'fp32' ? Math.fround(1e-8) : castScale(1e-5, dtype);
}
