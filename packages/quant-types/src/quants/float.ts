// F32, F16 and BF16 rows (docs/formats/gguf.md#float-types).

import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '@autoround/core-tensor';

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function quantizeF32(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length * 4);
  if (LITTLE_ENDIAN) out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  else {
    const dv = new DataView(out.buffer);
    for (let i = 0; i < x.length; i++) dv.setFloat32(i * 4, x[i]!, true);
  }
  return out;
}

export function dequantizeF32(b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, n * 4);
  for (let i = 0; i < n; i++) y[i] = dv.getFloat32(i * 4, true);
  return y;
}

/** fp16 with round-to-nearest-even (ggml_fp32_to_fp16_row, numpy astype(float16)). */
export function quantizeF16(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToF16Bits(x[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

export function dequantizeF16(b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = f16BitsToF32(b[2 * i]! | (b[2 * i + 1]! << 8));
  return y;
}

/** bf16: round to nearest even, NaN forced quiet (ggml_compute_fp32_to_bf16). */
export function quantizeBF16(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const h = f32ToBf16Bits(x[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

export function dequantizeBF16(b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) y[i] = bf16BitsToF32(b[2 * i]! | (b[2 * i + 1]! << 8));
  return y;
}
