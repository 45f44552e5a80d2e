import { describe, expect, it } from 'vitest';
import {
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  f32ToF8E4M3Bits,
  f8E4M3BitsToF32,
  f32ToF8E5M2Bits,
  f8E5M2BitsToF32,
} from '../src/index.js';

/** Nearest representable value by exhaustive search over a decoded table, ties to the even code. */
function nearestByTable(v: number, table: Float64Array, finiteMax: number): number {
  let best = -1;
  let bestErr = Infinity;
  for (let c = 0; c < table.length; c++) {
    const t = table[c]!;
    if (!Number.isFinite(t)) continue;
    if (Math.sign(t) !== Math.sign(v) && t !== 0) continue;
    const err = Math.abs(t - v);
    if (err < bestErr || (err === bestErr && (c & 1) === 0 && (best & 1) === 1)) {
      best = c;
      bestErr = err;
    }
  }
  void finiteMax;
  return best;
}

function halfTable(): Float64Array {
  // written from IEEE 754 binary16: sign, 5-bit exponent (bias 15), 10-bit fraction
  const t = new Float64Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h >> 15 ? -1 : 1;
    const e = (h >> 10) & 31;
    const m = h & 1023;
    t[h] = e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
}

describe('fp16', () => {
  const table = halfTable();
  it('decodes every bit pattern as IEEE binary16', () => {
    for (let h = 0; h < 65536; h++) {
      const want = table[h]!;
      const got = f16BitsToF32(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got)).toBe(true);
      else expect(Object.is(got, Math.fround(want)) || got === want).toBe(true);
    }
  });
  it('round-trips every finite half exactly', () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(f32ToF16Bits(f16BitsToF32(h))).toBe(h);
    }
  });
  it('rounds to nearest, ties to even, including subnormals', () => {
    const positive = table.slice(0, 0x7c00);
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 3000; i++) {
      const v = Math.fround(rnd() ** 3 * 65000);
      expect(f32ToF16Bits(v)).toBe(nearestByTable(v, positive, 65504));
    }
    // exact ties: halfway between 1 and the next half (1 + 2^-10) → even (1)
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // halfway between the two smallest subnormals
    expect(f32ToF16Bits(1.5 * 2 ** -24)).toBe(2);
    expect(f32ToF16Bits(0.5 * 2 ** -24)).toBe(0);
    expect(f32ToF16Bits(0.51 * 2 ** -24)).toBe(1);
  });
  it('keeps inf, NaN and signed zero; overflows to inf', () => {
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(Number.isNaN(f16BitsToF32(f32ToF16Bits(NaN)))).toBe(true);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // halfway to 2^16 rounds to even = inf
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
  });
});

describe('bf16', () => {
  it('truncates to the top 16 bits with round-to-nearest-even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    u[0] = 0x3f808000; // exactly halfway, lower bits 0 → even stays 3f80
    expect(f32ToBf16Bits(f[0]!)).toBe(0x3f80);
    u[0] = 0x3f818000; // halfway, odd → up
    expect(f32ToBf16Bits(f[0]!)).toBe(0x3f82);
    u[0] = 0x3f808001;
    expect(f32ToBf16Bits(f[0]!)).toBe(0x3f81);
    expect(Number.isNaN(bf16BitsToF32(f32ToBf16Bits(NaN)))).toBe(true);
    expect(bf16BitsToF32(f32ToBf16Bits(-Infinity))).toBe(-Infinity);
    for (let b = 0; b < 65536; b++) {
      if ((b & 0x7f80) === 0x7f80) continue;
      expect(f32ToBf16Bits(bf16BitsToF32(b))).toBe(b);
    }
  });
});

describe('fp8', () => {
  it('e4m3fn decodes to the OCP table and round-trips', () => {
    expect(f8E4M3BitsToF32(0x7e)).toBe(448);
    expect(f8E4M3BitsToF32(0x01)).toBe(2 ** -9);
    expect(f8E4M3BitsToF32(0x08)).toBe(2 ** -6);
    expect(Number.isNaN(f8E4M3BitsToF32(0x7f))).toBe(true);
    for (let b = 0; b < 256; b++) {
      if ((b & 0x7f) === 0x7f) continue;
      const v = f8E4M3BitsToF32(b);
      expect(f32ToF8E4M3Bits(v) & (v === 0 ? 0x7f : 0xff)).toBe(b & (v === 0 ? 0x7f : 0xff));
    }
  });
  it('e4m3fn rounds to nearest even and turns overflow into NaN', () => {
    const t = new Float64Array(128);
    for (let b = 0; b < 127; b++) t[b] = f8E4M3BitsToF32(b);
    t[127] = NaN;
    for (let i = 0; i < 2000; i++) {
      const v = Math.fround((i / 2000) ** 2 * 448);
      expect(f32ToF8E4M3Bits(v)).toBe(nearestByTable(v, t, 448));
    }
    expect(f32ToF8E4M3Bits(470)).toBe(0x7f);
    expect(f32ToF8E4M3Bits(-1.0625)).toBe(0x80 | 0x38); // tie between 1 and 1.125 → even (1)
  });
  it('e5m2 matches the top byte of fp16 for representable values', () => {
    for (let b = 0; b < 256; b++) {
      const v = f8E5M2BitsToF32(b);
      if (Number.isNaN(v)) continue;
      expect(f32ToF8E5M2Bits(v)).toBe(b);
    }
  });
});
