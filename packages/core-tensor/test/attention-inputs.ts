import { uniformArray as rand } from '@autoround/testing';

export interface AttentionDims {
  B: number;
  T: number;
  H: number;
  KV: number;
  D: number;
}

/**
 * Random attention inputs for kernel tests: q/k in [−2, 2), v and the output gradient in [−1, 1), and with
 * `deadRow` a mask (20% −∞, the rest in [−0.5, 0.5)) whose row `deadRow` of batch 0 is masked out entirely.
 */
export function attentionInputs(r: () => number, { B, T, H, KV, D }: AttentionDims, deadRow?: number): { q: Float32Array; k: Float32Array; v: Float32Array; gOut: Float32Array; mask: Float32Array | undefined } {
  const q = rand(B * T * H * D, r, -2, 2);
  const k = rand(B * T * KV * D, r, -2, 2);
  const v = rand(B * T * KV * D, r);
  const gOut = rand(B * T * H * D, r);
  let mask: Float32Array | undefined;
  if (deadRow !== undefined) {
    mask = new Float32Array(B * T * T);
    for (let i = 0; i < mask.length; i++) mask[i] = r() < 0.2 ? -Infinity : r() - 0.5;
    for (let s = 0; s < T; s++) mask[deadRow * T + s] = -Infinity;
  }
  return { q, k, v, gOut, mask };
}
