// Exact conversions between float32 and the narrow float formats, bit for bit as
// PyTorch casts: round-to-nearest-even, subnormals kept, inf and NaN preserved.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE binary16 bit pattern, round-to-nearest-even. */
export function f32ToF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (exp === 0) return sign; // float32 subnormals are far below half's range
    mant |= 0x800000;
    const shift = 14 - e;
    if (shift > 24) return sign;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry rolls into the exponent, up to inf
  return sign | h;
}

let F16_TABLE: Float32Array | undefined;
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    let v: number;
    if (e === 0) v = m * 2 ** -24;
    else if (e === 0x1f) v = m === 0 ? Infinity : NaN;
    else v = (1 + m / 1024) * 2 ** (e - 15);
    t[h] = sign * v;
  }
  return (F16_TABLE = t);
}

export function f16BitsToF32(h: number): number {
  return f16Table()[h & 0xffff]!;
}

/** float32 -> bfloat16 bit pattern, round-to-nearest-even (NaN stays NaN). */
export function f32ToBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0]!;
}

/** Rounds a float32 value to the nearest fp16 value (as `x.half().float()` does). */
export function roundToF16(v: number): number {
  return f16BitsToF32(f32ToF16Bits(v));
}

export function roundToBf16(v: number): number {
  return bf16BitsToF32(f32ToBf16Bits(v));
}

/** float8 e4m3fn: bias 7, no infinities, 0x7f/0xff are NaN, largest finite 448. */
export const F8E4M3_MAX = 448;

/**
 * float32 -> float8_e4m3fn bits, round-to-nearest-even. Values beyond the largest finite
 * value (after rounding) become NaN, as torch's cast does; callers clamp first.
 */
export function f32ToF8E4M3Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 24) & 0x80;
  const a = Math.abs(v);
  if (Number.isNaN(v)) return 0x7f | sign;
  if (a < 2 ** -6) {
    // subnormal range: unit 2^-9; code 8 (carry) is the smallest normal, which is correct
    const q = a / 2 ** -9;
    let r = Math.floor(q);
    const frac = q - r;
    if (frac > 0.5 || (frac === 0.5 && (r & 1) === 1)) r++;
    return sign | r;
  }
  const exp = ((x >>> 23) & 0xff) - 127;
  const mant = x & 0x7fffff;
  let code = ((exp + 7) << 3) | (mant >>> 20);
  const rem = mant & 0xfffff;
  if (rem > 0x80000 || (rem === 0x80000 && (code & 1) === 1)) code++;
  if (code > 0x7e) return sign | 0x7f;
  return sign | code;
}

let F8_TABLE: Float32Array | undefined;
function f8Table(): Float32Array {
  if (F8_TABLE) return F8_TABLE;
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const e = (b >>> 3) & 0xf;
    const m = b & 7;
    let v: number;
    if ((b & 0x7f) === 0x7f) v = NaN;
    else if (e === 0) v = (m / 8) * 2 ** -6;
    else v = (1 + m / 8) * 2 ** (e - 7);
    t[b] = sign * v;
  }
  return (F8_TABLE = t);
}

export function f8E4M3BitsToF32(b: number): number {
  return f8Table()[b & 0xff]!;
}

/** float8 e5m2: bias 15, with infinities and NaN, round-to-nearest-even. */
export function f32ToF8E5M2Bits(v: number): number {
  if (Number.isNaN(v)) return 0x7e;
  return f32ToE5M2Direct(v);
}

function f32ToE5M2Direct(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 24) & 0x80;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c;
  if (a < 2 ** -14) {
    const q = a / 2 ** -16;
    let r = Math.floor(q);
    const frac = q - r;
    if (frac > 0.5 || (frac === 0.5 && (r & 1) === 1)) r++;
    return sign | r;
  }
  const exp = ((x >>> 23) & 0xff) - 127;
  const mant = x & 0x7fffff;
  let code = ((exp + 15) << 2) | (mant >>> 21);
  const rem = mant & 0x1fffff;
  if (rem > 0x100000 || (rem === 0x100000 && (code & 1) === 1)) code++;
  if (code >= 0x7c) return sign | 0x7c;
  return sign | code;
}

export function f8E5M2BitsToF32(b: number): number {
  return f16BitsToF32((b & 0xff) << 8);
}
