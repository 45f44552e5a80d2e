// One (quantize, dequantize) pair per ggml type this package writes.

import { GGMLType, blockSizeOf, ggmlTypeName, rowBytes, typeSizeOf } from '../ggml-types.js';
import { dequantizeBF16, dequantizeF16, dequantizeF32, quantizeBF16, quantizeF16, quantizeF32 } from './float.js';
import {
  dequantizeQ2_K,
  dequantizeQ3_K,
  dequantizeQ4_K,
  dequantizeQ5_K,
  dequantizeQ6_K,
  quantizeQ2_K,
  quantizeQ3_K,
  quantizeQ4_K,
  quantizeQ5_K,
  quantizeQ6_K,
} from './kquants.js';
import {
  dequantizeQ4_0,
  dequantizeQ4_1,
  dequantizeQ5_0,
  dequantizeQ5_1,
  dequantizeQ8_0,
  quantizeQ4_0,
  quantizeQ4_1,
  quantizeQ5_0,
  quantizeQ5_1,
  quantizeQ8_0,
} from './legacy.js';

export * from './float.js';
export * from './legacy.js';
export * from './kquants.js';
export * from './frozen.js';
export { setWasmKernel, makeQkx3QuantsFast, makeQxQuantsFast, makeQkx2QuantsFast, makeQkx2Quants, makeQkx3Quants, makeQpQuants, makeQxQuants, makeQ3Quants, nearestInt, searchResult, GROUP_MAX_EPS } from './search.js';

/** Quantizes one row (or several whole rows, for the types whose blocks are independent). */
export type QuantizeFn = (x: Float32Array, imatrix?: Float32Array | null) => Uint8Array;
export type DequantizeFn = (bytes: Uint8Array, n: number) => Float32Array;

export interface BlockCodec {
  readonly type: GGMLType;
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
  readonly quantize: QuantizeFn;
  readonly dequantize: DequantizeFn;
  /** Whether an importance vector changes the result (Q8_0 and the float types ignore it). */
  readonly usesImatrix: boolean;
  /** Whether the imatrix path needs whole rows (σ² over the row: the 32-element types). */
  readonly rowStatistics: boolean;
}

function codec(type: GGMLType, quantize: QuantizeFn, dequantize: DequantizeFn, usesImatrix: boolean, rowStatistics = false): BlockCodec {
  return { type, name: ggmlTypeName(type), blockSize: blockSizeOf(type), typeSize: typeSizeOf(type), quantize, dequantize, usesImatrix, rowStatistics };
}

export const CODECS: Readonly<Partial<Record<GGMLType, BlockCodec>>> = {
  [GGMLType.F32]: codec(GGMLType.F32, quantizeF32, dequantizeF32, false),
  [GGMLType.F16]: codec(GGMLType.F16, quantizeF16, dequantizeF16, false),
  [GGMLType.BF16]: codec(GGMLType.BF16, quantizeBF16, dequantizeBF16, false),
  [GGMLType.Q8_0]: codec(GGMLType.Q8_0, quantizeQ8_0, dequantizeQ8_0, false),
  [GGMLType.Q4_0]: codec(GGMLType.Q4_0, quantizeQ4_0, dequantizeQ4_0, true, true),
  [GGMLType.Q4_1]: codec(GGMLType.Q4_1, quantizeQ4_1, dequantizeQ4_1, true, true),
  [GGMLType.Q5_0]: codec(GGMLType.Q5_0, quantizeQ5_0, dequantizeQ5_0, true, true),
  [GGMLType.Q5_1]: codec(GGMLType.Q5_1, quantizeQ5_1, dequantizeQ5_1, true, true),
  [GGMLType.Q2_K]: codec(GGMLType.Q2_K, quantizeQ2_K, dequantizeQ2_K, true),
  [GGMLType.Q3_K]: codec(GGMLType.Q3_K, quantizeQ3_K, dequantizeQ3_K, true),
  [GGMLType.Q4_K]: codec(GGMLType.Q4_K, quantizeQ4_K, dequantizeQ4_K, true),
  [GGMLType.Q5_K]: codec(GGMLType.Q5_K, quantizeQ5_K, dequantizeQ5_K, true),
  [GGMLType.Q6_K]: codec(GGMLType.Q6_K, quantizeQ6_K, dequantizeQ6_K, true),
};

export function codecOf(type: number): BlockCodec {
  const c = CODECS[type as GGMLType];
  if (!c) throw new RangeError(`no quantizer for ggml type ${ggmlTypeName(type)}`);
  return c;
}

/**
 * Quantizes `data` (rows of `ne0` floats, row-major) to `type`. `imatrix` holds one weight per
 * column (length ne0) and is applied to every row, as llama-quantize does.
 */
export function quantizeRows(type: number, data: Float32Array, ne0: number, imatrix?: Float32Array | null): Uint8Array {
  const c = codecOf(type);
  if (ne0 % c.blockSize !== 0) throw new RangeError(`${c.name}: row length ${ne0} is not a multiple of the block size ${c.blockSize}`);
  if (data.length % ne0 !== 0) throw new RangeError(`${c.name}: ${data.length} values are not whole rows of ${ne0}`);
  if (imatrix && imatrix.length !== ne0) throw new RangeError(`${c.name}: importance vector has ${imatrix.length} entries, rows have ${ne0}`);
  const qw = c.usesImatrix ? imatrix ?? null : null;
  if (!qw) return c.quantize(data);
  const nrows = data.length / ne0;
  const rb = rowBytes(type, ne0);
  const out = new Uint8Array(nrows * rb);
  for (let r = 0; r < nrows; r++) out.set(c.quantize(data.subarray(r * ne0, (r + 1) * ne0), qw), r * rb);
  return out;
}

export function dequantizeRows(type: number, bytes: Uint8Array, numel: number): Float32Array {
  return codecOf(type).dequantize(bytes, numel);
}
