// The bit cost of a layer under a scheme (docs/autoscheme.md#bit-cost). Two counts: the original AutoScheme's
// (compute_layer_bits), and, for runs whose options are all GGUF block types, the block types' real sizes
// (what the .gguf file stores), so that a target can be a llama.cpp file's bits per weight.

import type { QuantScheme } from '@autoround/core';
import { ggmlTypeOfScheme, rowBytes, rowFallbackOf } from '@autoround/quant-types';

/** 'autoround': the original's count; 'gguf': the GGUF block types' storage bits (docs/autoscheme.md#bit-cost). */
export type BitCount = 'autoround' | 'gguf';

/** Groups of a [out, in] weight: group_size −1 → one per row, 0 → one per tensor, else out·⌈in/gs⌉. */
export function groupCount(s: QuantScheme, out: number, inF: number): number {
  if (s.group_size === -1) return out;
  if (s.group_size === 0) return 1;
  return out * Math.ceil(inF / s.group_size);
}

/**
 * The bits a .gguf file stores a [out, in] weight in under a GGUF scheme: rows of the block type
 * (llama-quantize's row fallback when its block does not divide `in`), block headers included, as
 * the quant-types table sizes them (Q2_K 2.625, Q3_K 3.4375, Q4_K 4.5, Q6_K 6.5625 bits per weight …).
 * null when the scheme is no GGUF block type.
 */
export function ggufBits(s: QuantScheme, out: number, inF: number): number | null {
  const t = ggmlTypeOfScheme(s, true);
  return t === null ? null : rowBytes(rowFallbackOf(t, inF), inF) * out * 8;
}

/**
 * The original's count: bits·numel, plus per group the scale (8 bits for the MX/NV fp4 types, else 16)
 * and a zero point of `bits` bits when the scheme is asymmetric or its data_type contains "int" (sym
 * int pays it too); the GGUF double-quant types (data_type *_dq) pay n_groups·super_bits·2 plus 2·32
 * bits per super-group instead. With `ignoreScaleZp`: bits·numel only. With `count` 'gguf', a scheme
 * that is a GGUF block type costs its storage bits (`ggufBits`) instead, unless `ignoreScaleZp`.
 */
export function layerBits(s: QuantScheme, out: number, inF: number, ignoreScaleZp = false, count: BitCount = 'autoround'): number {
  const numel = out * inF;
  if (ignoreScaleZp) return s.bits * numel;
  if (count === 'gguf') {
    const b = ggufBits(s, out, inF);
    if (b !== null) return b;
  }
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
