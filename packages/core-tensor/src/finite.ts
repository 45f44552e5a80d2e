import type { DType, ArrayOf } from './dtype.js';
import { AutoRoundError } from './errors.js';
import type { Tensor } from './tensor.js';

/**
 * The one check that a tensor's values are finite, shared by the algorithms (the float32 weights they
 * quantize) and the host (every tensor it writes as it is): a NaN or ±Inf in a checkpoint must fail the
 * run naming the tensor, never be copied or quantized into a plausible-looking output.
 */

/** Index of the first NaN or ±Inf of a float32 array, or −1. A tight loop: it runs over every weight of a model. */
export function firstNonFiniteF32(a: Float32Array): number {
  // the exponent bits all set is exactly NaN or ±Inf; an integer compare per element, no float
  // classification, and the view shares memory (Float32Array offsets are 4-byte aligned)
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  for (let i = 0; i < u.length; i++) if ((u[i]! & 0x7f800000) === 0x7f800000) return i;
  return -1;
}

/**
 * Index of the first non-finite element of a tensor of any dtype, read from its stored bits (F16 and
 * BF16 by their exponent field, F8 by its NaN/Inf codes), or −1. Integer dtypes are always finite.
 */
export function firstNonFinite(dtype: DType, data: ArrayOf<DType>): number {
  switch (dtype) {
    case 'F32':
      return firstNonFiniteF32(data as Float32Array);
    case 'F64': {
      const a = data as Float64Array;
      for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
      return -1;
    }
    case 'F16':
      return firstMasked(data as Uint16Array, 0x7c00, 0x7c00);
    case 'BF16':
      return firstMasked(data as Uint16Array, 0x7f80, 0x7f80);
    case 'F8_E4M3':
      // e4m3fn has no infinities; 0x7f and 0xff are NaN
      return firstMasked(data as Uint8Array, 0x7f, 0x7f);
    case 'F8_E5M2':
      return firstMasked(data as Uint8Array, 0x7c, 0x7c);
    default:
      return -1;
  }
}

function firstMasked(a: Uint16Array | Uint8Array, mask: number, all: number): number {
  for (let i = 0; i < a.length; i++) if ((a[i]! & mask) === all) return i;
  return -1;
}

/** "NaN", "Infinity" or "-Infinity": the value at a non-finite index, for messages. */
function valueAt(dtype: DType, data: ArrayOf<DType>, i: number): string {
  if (dtype === 'F32' || dtype === 'F64') return String((data as Float32Array | Float64Array)[i]);
  const bits = (data as Uint16Array | Uint8Array)[i]!;
  const [sign, mantissa] =
    dtype === 'F16' ? [bits & 0x8000, bits & 0x3ff] : dtype === 'BF16' ? [bits & 0x8000, bits & 0x7f] : dtype === 'F8_E5M2' ? [bits & 0x80, bits & 0x3] : [0, 1];
  return mantissa !== 0 ? 'NaN' : sign ? '-Infinity' : 'Infinity';
}

/** Throws E_NONFINITE naming `name` (and where it came from) unless every value of the float32 array is finite. */
export function assertFinite(a: Float32Array, name: string, where?: string): void {
  const i = firstNonFiniteF32(a);
  if (i >= 0) throw nonFinite(name, where, String(a[i]), i);
}

/** assertFinite for a tensor of any dtype (its stored bits; no float32 copy). */
export function assertTensorFinite(t: Tensor, name: string, where?: string): void {
  const i = firstNonFinite(t.dtype, t.data);
  if (i >= 0) throw nonFinite(name, where, valueAt(t.dtype, t.data, i), i);
}

function nonFinite(name: string, where: string | undefined, value: string, i: number): AutoRoundError {
  return new AutoRoundError('E_NONFINITE', `${where ? `${where}: ` : ''}${name} holds a non-finite value (${value}) at element ${i}`, { subject: name });
}
