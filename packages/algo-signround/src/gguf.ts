// GGUF layers in the calibrated algorithms: which block type each layer gets (the run's
// --format gguf:* file type, or the layer's GGUF preset), and llama.cpp's quantizer for it fed
// with the importance matrix collected on the block inputs.

import type { QuantScheme, QuantizeSession, QuantizedWeight } from '@autoround/core';
import { type GGMLType, QuantPool, ggufQuantizedWeight, ggufRunLayerTypes, importanceFromSums, layerGgufType } from '@autoround/export-gguf';

/** Σx² per input column and the number of rows (tokens) it was summed over, for one linear. */
export interface ActivationSums {
  readonly sumSq: Float64Array;
  tokens: number;
}

export function newActivationSums(inFeatures: number): ActivationSums {
  return { sumSq: new Float64Array(inFeatures), tokens: 0 };
}

/** Adds rows × inFeatures activations to the sums. */
export function accumulate(acc: ActivationSums, x: Float32Array, rows: number, inF: number): void {
  const s = acc.sumSq;
  for (let r = 0; r < rows; r++) {
    const o = r * inF;
    for (let i = 0; i < inF; i++) s[i] += x[o + i]! * x[o + i]!;
  }
  acc.tokens += rows;
}

/**
 * The GGUF layers of a run. With `hasImatrix` the per-layer types follow the mix llama-quantize
 * uses with an importance matrix (it differs only for Q4_0/Q5_0 files), which is also what the
 * gguf exporter plans when the host calibrates.
 */
export class GgufLayers {
  private readonly types: Map<string, GGMLType> | null;
  private pool: QuantPool | undefined;

  constructor(session: QuantizeSession, hasImatrix: boolean) {
    this.types = ggufRunLayerTypes(session, hasImatrix);
  }

  /** The block type of a layer, or null when the layer is not a GGUF one. */
  typeOf(layer: string, scheme: QuantScheme): GGMLType | null {
    return layerGgufType(this.types, layer, scheme);
  }

  /**
   * Quantizes a layer to `type` with llama.cpp's quantizer; with activation sums, through its
   * importance-matrix path (the vector is the per-token mean Σx²/tokens, as llama-imatrix stores it;
   * see importanceFromSums for zero columns).
   */
  quantize(layer: string, scheme: QuantScheme, type: GGMLType, weight: Float32Array, out: number, inF: number, sums?: ActivationSums): QuantizedWeight {
    const im = sums ? importanceFromSums(sums.sumSq, sums.tokens, layer) : null;
    this.pool ??= new QuantPool();
    return ggufQuantizedWeight(scheme, weight, out, inF, type, im, this.pool);
  }

  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }
}
