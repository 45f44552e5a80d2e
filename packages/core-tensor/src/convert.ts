import { type ArrayOf, type DType } from './dtype.js';
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  f32ToF8E4M3Bits,
  f32ToF8E5M2Bits,
  f8E4M3BitsToF32,
  f8E5M2BitsToF32,
} from './float-codecs.js';

/** Widens any numeric array to float32 (exactly for every float dtype we read); F32 data is returned as it is. */
export function toFloat32<D extends DType>(dtype: D, data: ArrayOf<D>): Float32Array {
  if (dtype === 'F32') return data as Float32Array;
  return toFloat32Into(dtype, data, new Float32Array(data.length));
}

/**
 * toFloat32 into `out` (its first data.length values; F32 data is copied): streaming readers widen a tensor
 * piece by piece into one reused buffer instead of holding a float32 copy of it whole (the GGUF exporter,
 * docs/perf/whole-model.md). Returns the filled part of `out`.
 */
export function toFloat32Into<D extends DType>(dtype: D, data: ArrayOf<D>, out: Float32Array): Float32Array {
  const n = data.length;
  if (out.length < n) throw new RangeError(`toFloat32Into: ${n} ${dtype} values do not fit a buffer of ${out.length}`);
  const dst = out.length === n ? out : out.subarray(0, n);
  switch (dtype) {
    case 'F32': {
      dst.set(data as Float32Array);
      return dst;
    }
    case 'F16': {
      const a = data as Uint16Array;
      for (let i = 0; i < n; i++) dst[i] = f16BitsToF32(a[i]!);
      return dst;
    }
    case 'BF16': {
      const a = data as Uint16Array;
      const o = new Uint32Array(dst.buffer, dst.byteOffset, n);
      for (let i = 0; i < n; i++) o[i] = a[i]! << 16;
      return dst;
    }
    case 'F8_E4M3': {
      const a = data as Uint8Array;
      for (let i = 0; i < n; i++) dst[i] = f8E4M3BitsToF32(a[i]!);
      return dst;
    }
    case 'F8_E5M2': {
      const a = data as Uint8Array;
      for (let i = 0; i < n; i++) dst[i] = f8E5M2BitsToF32(a[i]!);
      return dst;
    }
    case 'I64':
    case 'U64': {
      const a = data as BigInt64Array;
      for (let i = 0; i < n; i++) dst[i] = Number(a[i]!);
      return dst;
    }
    default: {
      const a = data as unknown as ArrayLike<number>;
      for (let i = 0; i < n; i++) dst[i] = a[i]!;
      return dst;
    }
  }
}

/** Narrows float32 values to a float dtype, rounding as a PyTorch cast does. */
export function fromFloat32<D extends DType>(dtype: D, src: Float32Array): ArrayOf<D> {
  const n = src.length;
  switch (dtype) {
    case 'F32':
      return src as ArrayOf<D>;
    case 'F64':
      return Float64Array.from(src) as ArrayOf<D>;
    case 'F16': {
      const o = new Uint16Array(n);
      for (let i = 0; i < n; i++) o[i] = f32ToF16Bits(src[i]!);
      return o as ArrayOf<D>;
    }
    case 'BF16': {
      const o = new Uint16Array(n);
      for (let i = 0; i < n; i++) o[i] = f32ToBf16Bits(src[i]!);
      return o as ArrayOf<D>;
    }
    case 'F8_E4M3': {
      const o = new Uint8Array(n);
      for (let i = 0; i < n; i++) o[i] = f32ToF8E4M3Bits(src[i]!);
      return o as ArrayOf<D>;
    }
    case 'F8_E5M2': {
      const o = new Uint8Array(n);
      for (let i = 0; i < n; i++) o[i] = f32ToF8E5M2Bits(src[i]!);
      return o as ArrayOf<D>;
    }
    default:
      throw new TypeError(`fromFloat32: ${dtype} is not a float dtype`);
  }
}

export { bf16BitsToF32 };
