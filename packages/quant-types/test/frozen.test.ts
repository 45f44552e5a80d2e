import { describe, expect, it } from 'vitest';
import {
  GGMLType,
  dequantizeRows,
  freezeBlocks,
  frozenQdq,
  ggmlTypeName,
  packLevels,
  quantizeRows,
} from '../src/index.js';
import { blockLevels } from '../src/quants/frozen.js';
import { mulberry32 as rng, randn } from '@autoround/testing';

const TYPES = [GGMLType.Q8_0, GGMLType.Q4_0, GGMLType.Q5_0, GGMLType.Q4_1, GGMLType.Q5_1, GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K];
const K_TYPES = new Set<number>([GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K]);

describe('GGUF blocks under frozen scales', () => {
  const n = 4 * 512;
  const x = randn(n, rng(11), 0.03);
  const im = new Float32Array(512).map((_, i) => 0.2 + ((i * 13) % 7));

  for (const type of TYPES) {
    it(`${ggmlTypeName(type)}: levels and headers round-trip; any levels dequantize to frozenQdq`, () => {
      for (const qw of [null, im]) {
        const b = quantizeRows(type, x, 512, qw);
        const fr = freezeBlocks(type, b, n);
        const L = blockLevels(type, b, n);
        expect(Buffer.from(packLevels(fr, L)).equals(Buffer.from(b))).toBe(true);
        // y = s·l − m is what the dequantizer computes
        const y = new Float32Array(n);
        for (let g = 0; g < fr.scale.length; g++) for (let e = g * fr.group; e < (g + 1) * fr.group; e++) y[e] = Math.fround(Math.fround(fr.scale[g]! * L[e]!) - fr.min[g]!);
        expect(y).toEqual(dequantizeRows(type, b, n));
        // the k-quants' own requantization is round((x + m)/s): V = 0 gives their levels back
        const levels = new Int16Array(n);
        const q0 = frozenQdq(fr, x, null, undefined, levels);
        if (K_TYPES.has(type)) {
          let same = 0;
          for (let i = 0; i < n; i++) if (levels[i] === L[i] || fr.scale[Math.floor(i / fr.group)] === 0) same++;
          expect(same).toBe(n);
          expect(q0).toEqual(dequantizeRows(type, b, n));
        }
        // random offsets: the packed levels dequantize to exactly the QDQ values
        const r = rng(5);
        const v = Float32Array.from({ length: n }, () => Math.fround((r() - 0.5) * 1.6));
        const q = frozenQdq(fr, x, v, undefined, levels);
        for (const l of levels) expect(l >= fr.lo && l <= fr.hi).toBe(true);
        expect(dequantizeRows(type, packLevels(fr, levels), n)).toEqual(q);
      }
    });
  }

  it('rejects levels outside the range', () => {
    const b = quantizeRows(GGMLType.Q4_K, x, 512);
    const fr = freezeBlocks(GGMLType.Q4_K, b, n);
    const L = blockLevels(GGMLType.Q4_K, b, n);
    L[7] = 16;
    expect(() => packLevels(fr, L)).toThrow(/level 16 at element 7 is outside \[0, 15\]/);
  });
});
