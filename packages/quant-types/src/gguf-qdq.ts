// GGUF block types as quantize-dequantize, for algorithms: a layer that a GGUF file stores as
// Q4_K is emitted as a QuantizedWeight whose `qdq` is exactly what llama.cpp computes with, and
// whose `blocks` carry the block bytes the gguf exporter writes as they are.

import { AutoRoundError } from '@autoround/core-tensor';
import type { QuantScheme, QuantizedWeight } from '@autoround/core';
import { GGMLType } from './ggml-types.js';
import { codecOf, ggmlTypeByName, ggmlTypeName, rowBytes, rowFallbackOf, scaleGroupOf } from './table.js';
import { dequantizeRows, quantizeRows } from './quants/index.js';
import type { QuantPool } from './pool.js';

/** The data types of the GGUF presets (docs/algorithms/schemes.md#preset-schemes): k-quants with quantized sub-scales, and Q4_1/Q5_1. */
export function isGgufDataType(dataType: string): boolean {
  return dataType.endsWith('_dq') || dataType === 'int_asym_float_zp';
}

/**
 * The block type a GGUF preset scheme stands for, before any file type's mix: int_asym_dq
 * 2/4/5 bits → Q2_K/Q4_K/Q5_K, int_sym_dq 3/6 → Q3_K/Q6_K, int_asym_float_zp 4/5 → Q4_1/Q5_1,
 * and, only when `ggufContext` (a plain `int` scheme is a GGUF one only in a GGUF run), symmetric
 * int with groups of 32 at 4/5/8 bits → Q4_0/Q5_0/Q8_0, and mx_fp 4-bit weight-only groups of 32 → MXFP4.
 * null for anything else.
 */
export function ggmlTypeOfScheme(s: QuantScheme, ggufContext = false): GGMLType | null {
  if (s.bits >= 16) return null;
  switch (s.data_type) {
    case 'int_asym_dq':
      return s.bits === 2 ? GGMLType.Q2_K : s.bits === 4 ? GGMLType.Q4_K : s.bits === 5 ? GGMLType.Q5_K : null;
    case 'int_sym_dq':
      return s.bits === 3 ? GGMLType.Q3_K : s.bits === 6 ? GGMLType.Q6_K : null;
    case 'int_asym_float_zp':
      return s.bits === 4 ? GGMLType.Q4_1 : s.bits === 5 ? GGMLType.Q5_1 : null;
    case 'int':
      if (!ggufContext || !s.sym || s.group_size !== 32) return null;
      return s.bits === 4 ? GGMLType.Q4_0 : s.bits === 5 ? GGMLType.Q5_0 : s.bits === 8 ? GGMLType.Q8_0 : null;
    case 'mx_fp':
      // llama.cpp's MXFP4 blocks: E2M1 elements, one E8M0 exponent per 32, weights only
      if (!ggufContext || s.bits !== 4 || s.group_size !== 32 || s.act_bits < 16) return null;
      return GGMLType.MXFP4;
    default:
      return null;
  }
}

export interface GgufQuantized {
  /** The type actually used (the requested one, or its row-size fallback). */
  readonly type: GGMLType;
  /** Block bytes, one row per output feature, in the Hugging Face row order. */
  readonly data: Uint8Array;
  /** The dequantized weight [out, in]. */
  readonly qdq: Float32Array;
}

/**
 * Quantizes a weight [out, in] (HF layout) to a GGUF block type with llama.cpp's quantizer (the
 * imatrix path when `imatrix`, one weight per input column, is given) and dequantizes it back.
 * A type whose block does not divide `in` falls back as llama-quantize does (Q4_K → Q5_0 …).
 */
export function ggufQuantize(weight: Float32Array, out: number, inF: number, type: GGMLType, imatrix?: Float32Array | null, pool?: QuantPool): GgufQuantized {
  if (weight.length !== out * inF) throw new RangeError(`weight has ${weight.length} values, expected ${out} x ${inF}`);
  if (imatrix && imatrix.length !== inF) throw new RangeError(`importance vector has ${imatrix.length} entries, the layer has ${inF} inputs`);
  const t = rowFallbackOf(type, inF);
  codecOf(t); // throws for types without a quantizer
  const data = pool ? pool.quantizeRows(t, weight, inF, imatrix ?? null) : quantizeRows(t, weight, inF, imatrix ?? null);
  return { type: t, data, qdq: dequantizeRows(t, data, out * inF) };
}

/** Only the dequantized weight of ggufQuantize. */
export function ggufQdq(weight: Float32Array, out: number, inF: number, type: GGMLType, imatrix?: Float32Array | null): Float32Array {
  return ggufQuantize(weight, out, inF, type, imatrix).qdq;
}

/** A layer's GGUF blocks as the gguf exporter uses them: the type id, its name and the bytes. */
export interface GgufBlocks {
  readonly type: GGMLType;
  readonly typeName: string;
  readonly data: Uint8Array;
}

/** A layer quantized to a GGUF type, as algorithms emit it. */
export function ggufQuantizedWeight(scheme: QuantScheme, weight: Float32Array, out: number, inF: number, type: GGMLType, imatrix?: Float32Array | null, pool?: QuantPool): QuantizedWeight {
  const r = ggufQuantize(weight, out, inF, type, imatrix, pool);
  return ggufWeight(scheme, out, inF, r.type, r.data, r.qdq, imatrix);
}

/**
 * The QuantizedWeight of a layer [out, inF] whose GGUF blocks of `type` (`data`, rows in the HF
 * order) dequantize to `qdq`; `imatrix` is the importance vector it was quantized with, if any.
 */
export function ggufWeight(scheme: QuantScheme, out: number, inF: number, type: GGMLType, data: Uint8Array, qdq: Float32Array, imatrix?: Float32Array | null): QuantizedWeight {
  return { scheme, shape: [out, inF], groupSize: scaleGroupOf(type, inF), qdq, blocks: { type: ggmlTypeName(type), data }, ...(imatrix ? { imatrix } : {}) };
}

/** The GGUF blocks an algorithm attached to a layer, checked; null when there is none. */
export function ggufBlocksOf(q: QuantizedWeight, layer = 'layer'): GgufBlocks | null {
  const b = q.blocks;
  if (!b) return null;
  const type = ggmlTypeByName(b.type);
  if (type === undefined) throw new AutoRoundError('E_GGUF_TENSOR', `${layer}: blocks of type "${b.type}" are not a GGUF type`, { subject: layer });
  const expect = rowBytes(type, q.shape[1]) * q.shape[0];
  if (b.data.length !== expect) throw new AutoRoundError('E_GGUF_TENSOR', `${layer}: blocks hold ${b.data.length} bytes of ${b.type}, expected ${expect}`, { subject: layer });
  return { type, typeName: ggmlTypeName(type), data: b.data };
}

/**
 * An importance vector from calibration sums, as llama.cpp's imatrix holds it: Σx² per input
 * column divided by the number of tokens (its in_sum2 / counts). Columns whose activations were
 * all zero get the mean of the others (a zero weight would let llama.cpp's searches ignore the
 * column, and a whole zero sub-block makes make_qx_quants return a zero scale); a layer whose
 * activations were all zero gets no vector (null: the reference quantizer runs).
 */
export function importanceFromSums(sumSq: ArrayLike<number>, tokens: number, layer = 'layer'): Float32Array | null {
  if (!(tokens > 0)) return null;
  const n = sumSq.length;
  const v = new Float32Array(n);
  let sum = 0;
  let positive = 0;
  for (let i = 0; i < n; i++) {
    const x = sumSq[i]! / tokens;
    if (!Number.isFinite(x) || x < 0) throw new AutoRoundError('E_NONFINITE', `${layer}: calibration activations give a non-finite importance (${x}) for input ${i}`, { subject: layer });
    v[i] = x;
    if (v[i]! > 0) {
      sum += v[i]!;
      positive++;
    }
  }
  if (positive === 0) return null;
  if (positive < n) {
    const mean = Math.fround(sum / positive);
    for (let i = 0; i < n; i++) if (!(v[i]! > 0)) v[i] = mean;
  }
  return v;
}
