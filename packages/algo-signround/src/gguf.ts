// GGUF layers in the calibrated algorithms: which block type each layer gets (the run's
// --format gguf:* file type, or the layer's GGUF preset), and llama.cpp's quantizer for it fed
// with the importance matrix collected on the block inputs.

import { fullName, type BlockForwardOptions, type BlockSpec, type QuantScheme, type QuantizeSession, type QuantizedWeight } from '@autoround/core';
import { type GGMLType, QuantPool, ggufQuantizedWeight, importanceFromSums } from '@autoround/quant-types';
import { layerQuantType, rtnQuantize } from '@autoround/algo-rtn';
import { checkFinite } from './blockwise.js';

/** Σx² per input column and the number of rows (tokens) it was summed over, for one linear. */
export interface ActivationSums {
  readonly sumSq: Float64Array;
  tokens: number;
  /** Largest |x| seen (static activation ranges: FP8_STATIC's input_scale, NVFP4's input_global_scale); NaN if any was. */
  amax: number;
}

export function newActivationSums(inFeatures: number): ActivationSums {
  return { sumSq: new Float64Array(inFeatures), tokens: 0, amax: 0 };
}

/** Adds rows × inFeatures activations to the sums. */
export function accumulate(acc: ActivationSums, x: Float32Array, rows: number, inF: number): void {
  const s = acc.sumSq;
  let m = acc.amax;
  for (let r = 0; r < rows; r++) {
    const o = r * inF;
    for (let i = 0; i < inF; i++) {
      const v = x[o + i]!;
      s[i]! += v * v;
      const a = Math.abs(v);
      if (!(a <= m)) m = a;
    }
  }
  acc.amax = m;
  acc.tokens += rows;
}

/**
 * The importance matrix of optimized RTN's int search (and SignRoundV2's initial scales): Σx² divided
 * by the number of sequences seen, as the original's imatrix_cnt; checked finite with the layer's name.
 */
export function imatrixPerSequence(acc: ActivationSums, sequences: number, layer: string): Float32Array {
  const im = Float32Array.from(acc.sumSq, (v) => v / sequences);
  checkFinite(im, `${layer} calibration activations`);
  return im;
}

/**
 * Activation sums for every quantized linear of a block, and the forward hook that fills them
 * (Σx² of each linear's inputs, the importance matrix of optimized RTN and GGUF tuning).
 */
export function blockActivationSums(session: QuantizeSession, block: BlockSpec): { sums: Map<string, ActivationSums>; hook: BlockForwardOptions } {
  const sums = new Map<string, ActivationSums>();
  for (const l of block.linears) if (session.layerSchemes.get(fullName(block, l))) sums.set(l.name, newActivationSums(l.inFeatures));
  return {
    sums,
    hook: {
      onLinearInput(name, a, rows, inF) {
        const acc = sums.get(name);
        if (acc) accumulate(acc, a, rows, inF);
      },
    },
  };
}

/**
 * The GGUF layers of a run. Each layer's type is the one the output format planned
 * (`session.quantTypes`: the gguf exporter plans the mix llama-quantize uses with an importance
 * matrix, as this algorithm calibrates), else its GGUF preset scheme's.
 */
export class GgufLayers {
  private pool: QuantPool | undefined;

  constructor(private readonly session: Pick<QuantizeSession, 'quantTypes'>) {}

  /** The block type of a layer, or null when the layer is not a GGUF one. */
  typeOf(layer: string, scheme: QuantScheme): GGMLType | null {
    return layerQuantType(this.session, layer, scheme);
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

  /** A layer outside the blocks (embedding, lm_head): its GGUF type without an importance matrix, else RTN. */
  quantizeOrRtn(layer: string, scheme: QuantScheme, weight: Float32Array, out: number, inF: number): QuantizedWeight {
    const type = this.typeOf(layer, scheme);
    return type !== null ? this.quantize(layer, scheme, type, weight, out, inF) : rtnQuantize(weight, out, inF, scheme);
  }

  /** The pool, for callers that quantize themselves. */
  poolForTuning(): QuantPool {
    this.pool ??= new QuantPool();
    return this.pool;
  }

  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }
}
