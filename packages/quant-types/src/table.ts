// The quantization types: one row per type (like llama.cpp's type_traits[]), from which block
// geometry, names, scale grouping, codecs, importance-matrix use and the frozen-scale layout for
// tuning all derive: the GGML block types, and integer weight-only quantization (sym/asym, by bits,
// groups chosen by the scheme). Adding a type (MXFP4, NVFP4, FP8 …) is adding its row here.
//
// The codec modules (quants/*) look their own geometry up here at call time, never while their
// module loads: the rows reference their functions, so the two import each other.

import type { QuantScheme, QuantizedWeight } from '@autoround/core';
import { GGMLType } from './ggml-types.js';
import { quantizeInt } from './int/int-qdq.js';
import { FP_FORMATS, type FpFormat, type FpQdqTuning, quantizeFp } from './fp/fp-qdq.js';
import { dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32 } from './quants/float.js';
import { dequantizeQ2_K, dequantizeQ3_K, dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, quantizeQ2_K, quantizeQ3_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from './quants/kquants.js';
import { dequantizeQ4_0, dequantizeQ4_1, dequantizeQ5_0, dequantizeQ5_1, dequantizeQ8_0, quantizeQ4_0, quantizeQ4_1, quantizeQ5_0, quantizeQ5_1, quantizeQ8_0 } from './quants/legacy.js';
import { dequantizeMXFP4, quantizeMXFP4 } from './quants/mxfp4.js';
import { type FrozenLayout, frozenQ2_K, frozenQ3_K, frozenQ4_0, frozenQ4_1, frozenQ4_K, frozenQ5_0, frozenQ5_1, frozenQ5_K, frozenQ6_K, frozenQ8_0 } from './quants/frozen.js';

/** Quantizes one row (or several whole rows, for the types whose blocks are independent). */
export type QuantizeFn = (x: Float32Array, imatrix?: Float32Array | null) => Uint8Array;
export type DequantizeFn = (bytes: Uint8Array, n: number) => Float32Array;

/** Quantize–dequantize of a weight [out, in] under a scheme whose groups the scheme chooses (the int and fp rows). */
export type SchemeQdqFn = (weight: Float32Array, out: number, inF: number, scheme: QuantScheme, tuning?: FpQdqTuning) => QuantizedWeight;

/** One quantization type. */
export interface QuantType {
  /** The type's name: as llama.cpp prints it for GGML types ("Q4_K", "F16"), `int<bits>_<sym|asym>` for int. */
  readonly name: string;
  /**
   * `ggml`: a GGML block type (fixed blocks, its own byte layout); `int`: integer levels with per-group scales (and
   * zero points) of the scheme's group size; `fp`: floating-point elements with MX, NVFP4 or FP8 scales
   * (docs/algorithms/fp-qdq.md), groups from the scheme.
   */
  readonly family: 'ggml' | 'int' | 'fp';
  /** fp rows: the element grid, scale format and the group sizes the type takes. */
  readonly fp?: FpFormat;
  /** enum ggml_type id (GGML rows). */
  readonly ggml?: GGMLType;
  /** Elements per block (0: the scheme's group_size decides, int rows). */
  readonly blockSize: number;
  /** Bytes per block (0 for the int rows, whose packing is the exporter's). */
  readonly typeSize: number;
  /** Bits per weight: storage bits with the block headers (typeSize · 8 / blockSize) for GGML rows, the level bits for int rows. */
  readonly bitsPerWeight: number;
  /** int rows: symmetric (full-range) or asymmetric (zero point). */
  readonly sym?: boolean;
  /** int and fp rows: quantize–dequantize under the scheme (quantizeInt, quantizeFp), with SignRound's tuned values if given. */
  readonly qdq?: SchemeQdqFn;
  /** The bits a scheme names for this type (Q4_K → 4; the learning-rate rule of GGUF tuning), when it has them. */
  readonly nominalBits?: number;
  /** Elements sharing one scale (the sub-block: QuantizedWeight.groupSize); 0 for types without scales. */
  readonly scaleGroup: number;
  /** The codec, for the types this package reads and writes (the others are only recognised in a file). */
  readonly quantize?: QuantizeFn;
  readonly dequantize?: DequantizeFn;
  /** Whether an importance vector changes the result (Q8_0 and the float types ignore it). */
  readonly usesImatrix: boolean;
  /** Whether the imatrix path needs whole rows (σ² over the row: the 32-element types). */
  readonly rowStatistics: boolean;
  /** The integer levels under frozen scales, for tuning (every quantized type this package writes). */
  readonly frozen?: FrozenLayout;
  /** The type llama-quantize falls back to when a row is not a multiple of blockSize (then F16 if that does not divide either). */
  readonly rowFallback?: GGMLType;
}

interface Row {
  name: keyof typeof GGMLType;
  blockSize: number;
  typeSize: number;
  nominalBits?: number;
  scaleGroup?: number;
  codec?: [QuantizeFn, DequantizeFn];
  usesImatrix?: boolean;
  rowStatistics?: boolean;
  frozen?: FrozenLayout;
  rowFallback?: GGMLType;
}

function row(r: Row): QuantType {
  return {
    name: r.name,
    family: 'ggml',
    ggml: GGMLType[r.name],
    blockSize: r.blockSize,
    typeSize: r.typeSize,
    bitsPerWeight: (r.typeSize * 8) / r.blockSize,
    ...(r.nominalBits !== undefined ? { nominalBits: r.nominalBits } : {}),
    scaleGroup: r.scaleGroup ?? 0,
    ...(r.codec ? { quantize: r.codec[0], dequantize: r.codec[1] } : {}),
    usesImatrix: r.usesImatrix ?? false,
    rowStatistics: r.rowStatistics ?? false,
    ...(r.frozen ? { frozen: r.frozen } : {}),
    ...(r.rowFallback !== undefined ? { rowFallback: r.rowFallback } : {}),
  };
}

/** An int row: levels of `bits` bits, groups and scale dtype from the scheme (docs/algorithms/qdq.md). */
function intRow(bits: number, sym: boolean): QuantType {
  return { name: `int${bits}_${sym ? 'sym' : 'asym'}`, family: 'int', blockSize: 0, typeSize: 0, bitsPerWeight: bits, sym, nominalBits: bits, scaleGroup: 0, qdq: quantizeInt, usesImatrix: false, rowStatistics: false };
}

/** An fp row: named like the original's data types ("mx_fp4", "nv_fp4", "fp8_e4m3"), groups from the scheme. */
function fpRow(t: FpFormat): QuantType {
  return { name: t.name, family: 'fp', fp: t, blockSize: 0, typeSize: 0, bitsPerWeight: t.bits, nominalBits: t.bits, scaleGroup: 0, qdq: quantizeFp, usesImatrix: false, rowStatistics: false };
}

const I = { usesImatrix: true };
const IR = { usesImatrix: true, rowStatistics: true };

/** Every type a GGUF file may hold (docs/formats/gguf.md#type-table), in ggml_type id order. */
export const QUANT_TYPES: readonly QuantType[] = [
  row({ name: 'F32', blockSize: 1, typeSize: 4, nominalBits: 32, codec: [quantizeF32, dequantizeF32] }),
  row({ name: 'F16', blockSize: 1, typeSize: 2, nominalBits: 16, codec: [quantizeF16, dequantizeF16] }),
  row({ name: 'Q4_0', blockSize: 32, typeSize: 18, nominalBits: 4, scaleGroup: 32, codec: [quantizeQ4_0, dequantizeQ4_0], ...IR, frozen: frozenQ4_0() }),
  row({ name: 'Q4_1', blockSize: 32, typeSize: 20, nominalBits: 4, scaleGroup: 32, codec: [quantizeQ4_1, dequantizeQ4_1], ...IR, frozen: frozenQ4_1() }),
  row({ name: 'Q5_0', blockSize: 32, typeSize: 22, nominalBits: 5, scaleGroup: 32, codec: [quantizeQ5_0, dequantizeQ5_0], ...IR, frozen: frozenQ5_0() }),
  row({ name: 'Q5_1', blockSize: 32, typeSize: 24, nominalBits: 5, scaleGroup: 32, codec: [quantizeQ5_1, dequantizeQ5_1], ...IR, frozen: frozenQ5_1() }),
  row({ name: 'Q8_0', blockSize: 32, typeSize: 34, nominalBits: 8, scaleGroup: 32, codec: [quantizeQ8_0, dequantizeQ8_0], frozen: frozenQ8_0() }),
  row({ name: 'Q8_1', blockSize: 32, typeSize: 36 }),
  row({ name: 'Q2_K', blockSize: 256, typeSize: 84, nominalBits: 2, scaleGroup: 16, codec: [quantizeQ2_K, dequantizeQ2_K], ...I, frozen: frozenQ2_K(), rowFallback: GGMLType.Q4_0 }),
  row({ name: 'Q3_K', blockSize: 256, typeSize: 110, nominalBits: 3, scaleGroup: 16, codec: [quantizeQ3_K, dequantizeQ3_K], ...I, frozen: frozenQ3_K(), rowFallback: GGMLType.Q4_0 }),
  row({ name: 'Q4_K', blockSize: 256, typeSize: 144, nominalBits: 4, scaleGroup: 32, codec: [quantizeQ4_K, dequantizeQ4_K], ...I, frozen: frozenQ4_K(), rowFallback: GGMLType.Q5_0 }),
  row({ name: 'Q5_K', blockSize: 256, typeSize: 176, nominalBits: 5, scaleGroup: 32, codec: [quantizeQ5_K, dequantizeQ5_K], ...I, frozen: frozenQ5_K(), rowFallback: GGMLType.Q5_1 }),
  row({ name: 'Q6_K', blockSize: 256, typeSize: 210, nominalBits: 6, scaleGroup: 16, codec: [quantizeQ6_K, dequantizeQ6_K], ...I, frozen: frozenQ6_K(), rowFallback: GGMLType.Q8_0 }),
  row({ name: 'Q8_K', blockSize: 256, typeSize: 292 }),
  row({ name: 'IQ2_XXS', blockSize: 256, typeSize: 66 }),
  row({ name: 'IQ2_XS', blockSize: 256, typeSize: 74 }),
  row({ name: 'IQ3_XXS', blockSize: 256, typeSize: 98 }),
  row({ name: 'IQ1_S', blockSize: 256, typeSize: 50 }),
  row({ name: 'IQ4_NL', blockSize: 32, typeSize: 18 }),
  row({ name: 'IQ3_S', blockSize: 256, typeSize: 110 }),
  row({ name: 'IQ2_S', blockSize: 256, typeSize: 82 }),
  row({ name: 'IQ4_XS', blockSize: 256, typeSize: 136 }),
  row({ name: 'I8', blockSize: 1, typeSize: 1 }),
  row({ name: 'I16', blockSize: 1, typeSize: 2 }),
  row({ name: 'I32', blockSize: 1, typeSize: 4 }),
  row({ name: 'I64', blockSize: 1, typeSize: 8 }),
  row({ name: 'F64', blockSize: 1, typeSize: 8 }),
  row({ name: 'IQ1_M', blockSize: 256, typeSize: 56 }),
  row({ name: 'BF16', blockSize: 1, typeSize: 2, nominalBits: 16, codec: [quantizeBF16, dequantizeBF16] }),
  row({ name: 'TQ1_0', blockSize: 256, typeSize: 54 }),
  row({ name: 'TQ2_0', blockSize: 256, typeSize: 66 }),
  row({ name: 'MXFP4', blockSize: 32, typeSize: 17, nominalBits: 4, scaleGroup: 32, codec: [quantizeMXFP4, dequantizeMXFP4] }),
  row({ name: 'NVFP4', blockSize: 64, typeSize: 36 }),
  row({ name: 'Q1_0', blockSize: 128, typeSize: 18 }),
  row({ name: 'Q2_0', blockSize: 64, typeSize: 18 }),
  ...[2, 3, 4, 5, 6, 7, 8].flatMap((bits) => [intRow(bits, true), intRow(bits, false)]),
  ...FP_FORMATS.map(fpRow),
];

const BY_ID = new Map<number, QuantType>(QUANT_TYPES.flatMap((t) => (t.ggml === undefined ? [] : [[t.ggml, t] as const])));
const BY_NAME = new Map<string, QuantType>(QUANT_TYPES.map((t) => [t.name.toUpperCase(), t]));

export function isKnownGgmlType(t: number): boolean {
  return BY_ID.has(t);
}

/** The row of a ggml type id (throws for an unknown id). */
export function quantTypeOf(t: number): QuantType {
  const r = BY_ID.get(t);
  if (!r) throw new Error(`unknown ggml type ${t}`);
  return r;
}

/** Looks a row up by name ("q4_k", "Q4_K", "bf16"). */
export function quantTypeByName(name: string): QuantType | undefined {
  return BY_NAME.get(name.trim().toUpperCase());
}

export function ggmlTypeName(t: number): string {
  return BY_ID.get(t)?.name ?? `type#${t}`;
}

/** Looks a type id up by name ("q4_k", "Q4_K", "bf16"). */
export function ggmlTypeByName(name: string): GGMLType | undefined {
  return quantTypeByName(name)?.ggml;
}

/** The int row of an int scheme's bits and symmetry (undefined for bits without a row). */
export function intQuantTypeOf(bits: number, sym: boolean): QuantType | undefined {
  return BY_NAME.get(`INT${bits}_${sym ? 'SYM' : 'ASYM'}`);
}

export function blockSizeOf(t: number): number {
  return quantTypeOf(t).blockSize;
}

export function typeSizeOf(t: number): number {
  return quantTypeOf(t).typeSize;
}

/** Bytes of one row of `ne0` elements (ne0 must be a multiple of the block size). */
export function rowBytes(t: number, ne0: number): number {
  return (ne0 / blockSizeOf(t)) * typeSizeOf(t);
}

/** Bytes of a tensor with dims `ne` (innermost first). */
export function tensorBytes(t: number, ne: readonly number[]): number {
  let rows = 1;
  for (let i = 1; i < ne.length; i++) rows *= ne[i]!;
  return rowBytes(t, ne[0]!) * rows;
}

/** Elements that share one scale in `type` (the sub-block, for QuantizedWeight.groupSize); the whole row for types without scales. */
export function scaleGroupOf(type: number, inFeatures: number): number {
  return quantTypeOf(type).scaleGroup || inFeatures;
}

/**
 * The type a row of `ne0` elements is stored as when `type`'s block does not divide it, as
 * llama-quantize falls back (Q4_K → Q5_0 …, then F16); `type` itself when it divides.
 */
export function rowFallbackOf(type: GGMLType, ne0: number): GGMLType {
  if (ne0 % blockSizeOf(type) === 0) return type;
  const fb = quantTypeOf(type).rowFallback ?? GGMLType.F16;
  return ne0 % blockSizeOf(fb) === 0 ? fb : GGMLType.F16;
}

/** The row of a type this package can quantize (throws for the types only recognised in a file). */
export function codecOf(type: number): QuantType & { readonly quantize: QuantizeFn; readonly dequantize: DequantizeFn } {
  const c = BY_ID.get(type);
  if (!c?.quantize || !c.dequantize) throw new RangeError(`no quantizer for ggml type ${ggmlTypeName(type)}`);
  return c as QuantType & { readonly quantize: QuantizeFn; readonly dequantize: DequantizeFn };
}
