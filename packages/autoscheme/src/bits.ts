// The bit cost of a layer under a scheme, as the original's AutoScheme counts it (compute_layer_bits;
// docs/autoscheme.md#bit-cost). The budget is met exactly in this count, which is not a file's size.

import type { QuantScheme } from '@autoround/core';

/** Groups of a [out, in] weight: group_size −1 → one per row, 0 → one per tensor, else out·⌈in/gs⌉. */
export function groupCount(s: QuantScheme, out: number, inF: number): number {
  if (s.group_size === -1) return out;
  if (s.group_size === 0) return 1;
  return out * Math.ceil(inF / s.group_size);
}

/**
 * bits·numel, plus per group the scale (8 bits for the MX/NV fp4 types, else 16) and a zero point
 * of `bits` bits when the scheme is asymmetric or its data_type contains "int" (sym int pays it
 * too); the GGUF double-quant types (data_type *_dq) pay n_groups·super_bits·2 plus 2·32 bits per
 * super-group instead. With `ignoreScaleZp`: bits·numel only.
 */
export function layerBits(s: QuantScheme, out: number, inF: number, ignoreScaleZp = false): number {
  const numel = out * inF;
  if (ignoreScaleZp) return s.bits * numel;
  const groups = groupCount(s, out, inF);
  if (s.data_type.endsWith('_dq')) {
    const superBits = s.super_bits ?? 0;
    const superGroups = Math.ceil(groups / (s.super_group_size ?? 1));
    return s.bits * numel + groups * superBits * 2 + superGroups * 32 * 2;
  }
  const fp4 = s.bits === 4 && (s.data_type.startsWith('mx_fp') || s.data_type.startsWith('nv_fp') || s.data_type.startsWith('nvfp'));
  const scaleBits = fp4 ? 8 : 16;
  const zpBits = !s.sym || s.data_type.includes('int') ? s.bits : 0;
  return s.bits * numel + groups * (scaleBits + zpBits);
}
