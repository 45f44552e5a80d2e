import type { QuantScheme } from './scheme.js';

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
  /** Unsigned integer codes [out, in] in [0, 2^bits − 1] (int schemes). */
  readonly codes?: Uint8Array;
  /** Per-group scales [out, nGroups], already rounded to the scale dtype. May be negative (full-range sym). */
  readonly scales?: Float32Array;
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

export function numGroups(q: QuantizedWeight): number {
  return Math.ceil(q.shape[1] / q.groupSize);
}
