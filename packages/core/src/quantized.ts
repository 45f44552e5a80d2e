import type { QuantScheme } from './scheme.js';

/**
 * How one element of a floating-point / microscaling scheme is stored in `QuantizedWeight.codes`
 * (docs/formats/fp-weights.md): `e2m1` a nibble (magnitude index into [0, 0.5, 1, 1.5, 2, 3, 4, 6], bit 3 the
 * sign); `int4` (mx_int4) the same nibble convention over [0, 0.25, …, 1.75]; `e2m3`/`e3m2` the 6-bit pattern
 * (bit 5 the sign); `e4m3` (float8_e4m3fn) and `e5m2` (float8_e5m2) the byte; `int8` (mx_int8) the two's
 * complement byte of k where the element is k/64.
 */
export type FpElement = 'e2m1' | 'e2m3' | 'e3m2' | 'e4m3' | 'e5m2' | 'int4' | 'int8';

/**
 * How a floating-point scheme's per-group scale is stored: `e8m0` (MX: byte = shared exponent + 127), `e4m3`
 * (NVFP4: float8_e4m3fn byte), `ue5m3` (NVFP4_E5M3: unsigned e5m3 byte), `fp32` (FP8: `scales` only).
 */
export type FpScaleFormat = 'e8m0' | 'e4m3' | 'ue5m3' | 'fp32';

/**
 * The result of quantizing one linear weight, as algorithms hand it to exporters.
 * Integer schemes fill codes/scales/zeros; every scheme fills `qdq`.
 */
export interface QuantizedWeight {
  readonly scheme: QuantScheme;
  /** [out, in] */
  readonly shape: readonly [number, number];
  /** Elements per group along the input dim after the -1/0/in<gs rules (== in for per-row). */
  readonly groupSize: number;
  /** Dequantized weight, float32 [out, in], exactly what the quantized model computes with. */
  readonly qdq: Float32Array;
  /**
   * Unsigned integer codes [out, in] in [0, 2^bits − 1] (int schemes); for the floating-point schemes each
   * element's bit pattern as `element` says.
   */
  readonly codes?: Uint8Array;
  /**
   * Per-group scales [out, nGroups], already rounded to the scale dtype. May be negative (full-range sym).
   * Floating-point schemes: the decoded float32 multiplier of each group (MX: 2^shared_exp; NVFP4: the
   * E4M3-rounded scale, so an element is code · scale / globalScale; FP8: amax/448). FP8 per tensor: one value;
   * FP8 blocks: [ceil(out/blockShape[0]), ceil(in/blockShape[1])].
   */
  readonly scales?: Float32Array;
  /** Floating-point schemes: the element encoding of `codes`. */
  readonly element?: FpElement;
  /** Floating-point schemes: how the scales are stored; `scaleCodes` holds them for every format but fp32. */
  readonly scaleFormat?: FpScaleFormat;
  /** The stored scale bytes, laid out like `scales`: E8M0 (shared_exp + 127), E4M3 or UE5M3 bytes. */
  readonly scaleCodes?: Uint8Array;
  /** NVFP4: weight_global_scale (float32, 448·6/amax(W)), after the fused q/k/v and gate/up min rule. */
  readonly globalScale?: number;
  /** FP8_BLOCK: the [rows, cols] of a scale block ([128, 128]); `groupSize` is then blockShape[1]. */
  readonly blockShape?: readonly [number, number];
  /**
   * Static activation quantization, calibrated: the largest |x| of the layer's input seen during calibration
   * (always set when the scheme's activations are static or NVFP4's), and what the formats store from it:
   * `inputScale` (FP8_STATIC: actMax/448, float32) and `inputGlobalScale` (NVFP4: 448·6/actMax, float32).
   */
  readonly actMax?: number;
  readonly inputScale?: number;
  readonly inputGlobalScale?: number;
  /** Per-group integer zero points [out, nGroups]: code − zero is the signed level. */
  readonly zeros?: Int32Array;
  /**
   * The weight in a block type's own layout, when the algorithm quantized to one: `type` names the
   * row of @autoround/quant-types' table ("Q4_K"), `data` holds the blocks, rows in the Hugging Face order.
   */
  readonly blocks?: { readonly type: string; readonly data: Uint8Array };
  /** The importance vector (one non-negative weight per input column) the layer was quantized with. */
  readonly imatrix?: Float32Array;
}

/** Scale groups along one row (int and floating-point group layouts; not per tensor nor FP8 blocks). */
export function numGroups(q: QuantizedWeight): number {
  return Math.ceil(q.shape[1] / q.groupSize);
}
