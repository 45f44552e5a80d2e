// The row quantizer and dequantizer over the table's codecs, and the codec modules' exports.

import { codecOf, rowBytes } from '../table.js';
import { nativeQuantizer } from './backend.js';

export * from './float.js';
export * from './legacy.js';
export * from './kquants.js';
export * from './mxfp4.js';
export { type FrozenBlocks, type FrozenLayout, blockLevels, freezeBlocks, frozenQdq, hasFrozenLayout, packLevels } from './frozen.js';
export { type QuantBackendName, nativeQuantizer, quantBackendOf, setNativeQuantizers } from './backend.js';
export { setWasmKernel, wasmKernelLoaded, makeQkx3QuantsFast, makeQxQuantsFast, makeQkx2QuantsFast, makeQkx2Quants, makeQkx3Quants, makeQpQuants, makeQxQuants, makeQ3Quants, nearestInt, searchResult, GROUP_MAX_EPS } from './search.js';

/**
 * Quantizes `data` (rows of `ne0` floats, row-major) to `type`. `imatrix` holds one weight per
 * column (length ne0) and is applied to every row, as llama-quantize does. The first backend of
 * backend.ts that has the type does the work (native: on `threads` threads of the addon's pool; the
 * WebAssembly/TypeScript codecs: on the calling thread, `threads` is for QuantPool to use).
 */
export function quantizeRows(type: number, data: Float32Array, ne0: number, imatrix?: Float32Array | null, threads = 1): Uint8Array {
  const c = codecOf(type);
  if (ne0 % c.blockSize !== 0) throw new RangeError(`${c.name}: row length ${ne0} is not a multiple of the block size ${c.blockSize}`);
  if (data.length % ne0 !== 0) throw new RangeError(`${c.name}: ${data.length} values are not whole rows of ${ne0}`);
  if (imatrix && imatrix.length !== ne0) throw new RangeError(`${c.name}: importance vector has ${imatrix.length} entries, rows have ${ne0}`);
  const qw = c.usesImatrix ? imatrix ?? null : null;
  const nq = data.length > 0 ? nativeQuantizer(type) : null;
  if (nq) {
    const out = new Uint8Array((data.length / ne0) * rowBytes(type, ne0));
    nq(type, data, ne0, qw, out, threads);
    return out;
  }
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
