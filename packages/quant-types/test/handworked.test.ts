// Blocks worked out by hand from docs/formats/gguf.md#block-types: the expected bytes/values below were derived on paper.
import { describe, expect, it } from 'vitest';
import { dequantizeQ4_K } from '../src/index.js';
import {
  dequantizeQ2_K,
  dequantizeQ3_K,
  dequantizeQ5_K,
  dequantizeQ6_K,
  getScaleMinK4,
  quantizeQ6_K,
} from '../src/quants/kquants.js';
import { nearestInt } from '../src/quants/search.js';
import { quantizeQ4_0, quantizeQ4_1, quantizeQ5_0, quantizeQ5_1, quantizeQ8_0 } from '../src/quants/legacy.js';
import { quantizeBF16, quantizeF16 } from '../src/quants/float.js';
import { independentDequantize } from './independent-dequant.js';

const F16_ONE = [0x00, 0x3c];
const F16_HALF = [0x00, 0x38];

describe('nearest_int', () => {
  it('rounds half to even, like adding 1.5·2^23', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001, -3.5].map((v) => nearestInt(v) + 0)).toEqual([0, 2, 2, 0, -2, 2, 3, -4]);
  });
});

describe('32-element blocks quantized by hand', () => {
  it('Q8_0: amax 127 gives d = 1 and qs = roundf(x), ties away from zero', () => {
    const x = new Float32Array(32);
    x.set([127, -127, 0, 1, -1, 2.4, 2.6, -2.5, 2.5, 0.49, -0.51, 100.5]);
    const b = quantizeQ8_0(x);
    expect([...b.slice(0, 2)]).toEqual(F16_ONE);
    const qs = [...b.slice(2, 14)].map((v) => (v << 24) >> 24);
    expect(qs).toEqual([127, -127, 0, 1, -1, 2, 3, -3, 3, 0, -1, 101]);
  });

  it('Q4_0: the extreme element (−8) maps to code 0, d = max/−8 = 1, q = min(15, trunc(x + 8.5))', () => {
    const x = new Float32Array(32);
    x.set([-8, 7, 7.4, 0, -0.6, 0.49, 0.5, 3]); // elements 0..7
    x[16] = 1; // shares byte 0 with element 0 (high nibble)
    x[17] = -1;
    const b = quantizeQ4_0(x);
    expect([...b.slice(0, 2)]).toEqual(F16_ONE);
    // low nibbles: 0, 15, 15, 8, 7, 8, 9, 11; high nibbles: elements 16.. = 9, 7, then 8 (zeros)
    expect([...b.slice(2, 10)]).toEqual([0x90, 0x7f, 0x8f, 0x88, 0x87, 0x88, 0x89, 0x8b]);
  });

  it('Q4_1: min 0, max 15 gives d = 1, m = 0, q = trunc(x − min + 0.5)', () => {
    const x = new Float32Array(32);
    x[0] = 15;
    x[1] = 3.49;
    x[2] = 3.5;
    x[16] = 7;
    const b = quantizeQ4_1(x);
    expect([...b.slice(0, 4)]).toEqual([...F16_ONE, 0, 0]);
    expect([...b.slice(4, 7)]).toEqual([0x7f, 0x03, 0x04]);
  });

  it('Q5_0: d = max/−16, q = min(31, trunc(x + 16.5)), bit 4 of element j in bit j of qh', () => {
    const x = new Float32Array(32);
    x[0] = -16; // q 0
    x[1] = 15; // q 31 → low 15, qh bit 1
    x[2] = 0; // q 16 → low 0, qh bit 2
    x[18] = -1; // q 15 → high nibble of byte 2, qh bit 18 clear
    x[19] = 1; // q 17 → high nibble of byte 3 = 1, qh bit 19
    const b = quantizeQ5_0(x);
    expect([...b.slice(0, 2)]).toEqual(F16_ONE);
    // every other element is 0 → q 16 → qh bit set; so qh = all ones except bits 0 and 18
    const qh = (b[2]! | (b[3]! << 8) | (b[4]! << 16) | (b[5]! << 24)) >>> 0;
    expect(qh).toBe((0xffffffff & ~(1 << 0) & ~(1 << 18)) >>> 0);
    expect([...b.slice(6, 10)]).toEqual([0x00, 0x0f, 0xf0, 0x10]);
  });

  it('Q5_1: min 0, max 31 gives d = 1, q = trunc(x + 0.5)', () => {
    const x = new Float32Array(32);
    x[0] = 31;
    x[1] = 16.4;
    x[17] = 2.5;
    const b = quantizeQ5_1(x);
    expect([...b.slice(0, 4)]).toEqual([...F16_ONE, 0, 0]);
    const qh = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
    expect(qh).toBe((1 << 0) | (1 << 1));
    expect([...b.slice(8, 10)]).toEqual([0x0f, 0x30]);
  });

  it('F16 and BF16 round to nearest even', () => {
    expect([...quantizeF16(new Float32Array([1, -2, 65504, 1 + 2 ** -11]))]).toEqual([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x00, 0x3c]);
    // 1 + 2^-8 is halfway between two bf16 values: ties to even (1.0); 1 + 3·2^-8 rounds up
    expect([...quantizeBF16(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8]))]).toEqual([0x80, 0x3f, 0x82, 0x3f]);
  });
});

describe('K-quant super-blocks decoded by hand', () => {
  it('Q4_K: the 6-bit scales and mins packed into 12 bytes', () => {
    // sc = 1..7, 63 and mn = 0..6, 60 for the eight sub-blocks, packed as docs/formats/gguf.md#q4_k-scale-packing says:
    // bytes 0-3: sc0-3 | top bits of sc4-7 << 6; bytes 4-7: mn0-3 | top bits of mn4-7 << 6;
    // bytes 8-11: (sc4-7 & 15) | (mn4-7 & 15) << 4.
    const scales = [1, 2, 3, 4 | (3 << 6), 0, 1, 2, 3 | (3 << 6), 0x45, 0x56, 0x67, 0xcf];
    const sc = [1, 2, 3, 4, 5, 6, 7, 63];
    const mn = [0, 1, 2, 3, 4, 5, 6, 60];
    const b = new Uint8Array(144);
    b.set(F16_ONE, 0); // d = 1
    b.set(F16_HALF, 2); // dmin = 0.5
    b.set(scales, 4);
    b.fill(0x21, 16); // every low nibble 1, every high nibble 2
    for (let j = 0; j < 8; j++) expect(getScaleMinK4(j, b, 4)).toEqual([sc[j], mn[j]]);
    const y = dequantizeQ4_K(b, 256);
    // sub-block 2c holds the low nibbles (q = 1), 2c+1 the high ones (q = 2): y = sc·q − 0.5·mn
    for (let i = 0; i < 256; i++) {
      const s = Math.floor(i / 32);
      expect(y[i]).toBe(sc[s]! * (s % 2 === 0 ? 1 : 2) - 0.5 * mn[s]!);
    }
    expect(y[255]).toBe(96); // 63·2 − 30
    expect(independentDequantize('Q4_K', b, 256)).toEqual(y);
  });

  it('Q5_K: bit 4 of element 64c+l is bit 2c of qh[l] (2c+1 for the high half)', () => {
    const b = new Uint8Array(176);
    b.set(F16_ONE, 0);
    b.set([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1], 4); // sc = 1, mn = 0 everywhere
    b[16 + 3] = 0b100; // qh[3] bit 2: element 64·1 + 3
    b[48 + 32 * 2 + 7] = 0x50; // high nibble of qs[71]: element 64·2 + 32 + 7 = 167
    const y = dequantizeQ5_K(b, 256);
    const want = new Float32Array(256);
    want[67] = 16;
    want[167] = 5;
    expect(y).toEqual(want);
    expect(independentDequantize('Q5_K', b, 256)).toEqual(want);
  });

  it('Q6_K: ql/qh split into quarters of each 128-half, signed 8-bit sub-scales', () => {
    const b = new Uint8Array(210);
    for (let s = 0; s < 16; s++) b[192 + s] = (s - 8) & 0xff; // scales −8 … 7
    b.set(F16_HALF, 208);
    b[64 + 5] = 0xa0; // high nibble of ql[69]: element 128 + 64 + 5 = 197 (third quarter of half 1)
    b[128 + 32 + 5] = 0x20; // qh[37] bits 4-5 = 2: same element → q = 10 | 2 << 4 = 42 − 32 = 10
    const y = dequantizeQ6_K(b, 256);
    for (let i = 0; i < 256; i++) {
      const sc = Math.floor(i / 16) - 8;
      expect(y[i]! + 0).toBe(i === 197 ? 0.5 * sc * 10 : 0.5 * sc * -32 + 0);
    }
    expect(y[197]).toBe(20);
    expect(independentDequantize('Q6_K', b, 256)).toEqual(y);
  });

  it('Q3_K: 6-bit scales with +32 offset, the high bit in hmask (clear → −4)', () => {
    const b = new Uint8Array(110);
    // all scales 33 (→ 1) except sub-block 9: 35 (→ 3). low nibbles in bytes 0-7, high 2 bits in 8-11
    b.set([0x11, 0x31, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0xaa, 0xaa, 0xaa, 0xaa], 96);
    b.set(F16_ONE, 108);
    b.fill(0xe4, 32, 96); // 2-bit value j in the j-th 32-element quarter of each half
    b[5] = 0x01; // hmask[5] bit 0: element 5 has its high bit
    const y = dequantizeQ3_K(b, 256);
    expect(y[0]).toBe(-4); // j 0, no high bit: 0 − 4
    expect(y[5]).toBe(0); // high bit set: 0 − 0
    expect(y[100]).toBe(-1); // j 3: 3 − 4
    expect(y[150]).toBe(-12); // sub-block 9 (scale 3), j 0: 3·(0 − 4)
    expect(y[170]).toBe(-3); // sub-block 10 (scale 1), j 1: 1 − 4
    expect(independentDequantize('Q3_K', b, 256)).toEqual(y);
  });

  it('Q2_K: 4-bit scale in the low nibble, 4-bit min in the high nibble', () => {
    const b = new Uint8Array(84);
    b.fill(0x21); // sc 1, mn 2
    b[3] = 0x54; // sub-block 3: sc 4, mn 5
    b.fill(0xe4, 16, 80);
    b.set(F16_ONE, 80);
    b.set(F16_HALF, 82);
    const y = dequantizeQ2_K(b, 256);
    expect(y[0]).toBe(-1); // 1·0 − 0.5·2
    expect(y[50]).toBe(1.5); // sub-block 3, j 1: 4·1 − 0.5·5
    expect(y[200]).toBe(1); // sub-block 12, j 2: 1·2 − 1
    expect(independentDequantize('Q2_K', b, 256)).toEqual(y);
  });

  it('Q6_K quantizes an all-zero block to all-zero bytes and a ±1 block with d = max/−128·…', () => {
    expect(quantizeQ6_K(new Float32Array(256)).every((v) => v === 0)).toBe(true);
    // every sub-block is [−1, 1, 1, …]: make_qx_quants picks l = −32 for −1 … the scale for each
    // sub-block is the same, so every stored 8-bit scale is the same value and d·sc·q ≈ x
    const x = new Float32Array(256).map((_, i) => (i % 16 === 0 ? -1 : 1));
    const y = dequantizeQ6_K(quantizeQ6_K(x), 256);
    for (let i = 0; i < 256; i++) expect(Math.abs(y[i]! - x[i]!)).toBeLessThan(0.05);
  });
});
