import { describe, expect, it } from 'vitest';
import { presetScheme } from '@autoround/core';
import { GGMLType, dequantizeRows, ggufBlocksOf, ggufQuantize, ggufQuantizedWeight, ggmlTypeOfScheme, importanceFromSums, quantizeRows } from '../src/index.js';
import { mulberry32 as rng, randn } from '@autoround/testing';

describe('GGUF types as QDQ', () => {
  it('ggufQuantize is quantizeRows + dequantizeRows, with the row-size fallback', () => {
    const w = randn(8 * 512, rng(3));
    const im = new Float32Array(512).map((_, i) => 0.5 + (i % 5));
    for (const type of [GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.Q2_K, GGMLType.Q4_0, GGMLType.Q8_0]) {
      for (const qw of [null, im]) {
        const r = ggufQuantize(w, 8, 512, type, qw);
        expect(r.type).toBe(type);
        expect(Buffer.from(r.data).equals(Buffer.from(quantizeRows(type, w, 512, qw)))).toBe(true);
        expect(r.qdq).toEqual(dequantizeRows(type, r.data, w.length));
      }
    }
    // 96 columns: Q4_K → Q5_0 as llama-quantize falls back; 40 columns: Q6_K → Q8_0 → F16
    expect(ggufQuantize(randn(4 * 96, rng(4)), 4, 96, GGMLType.Q4_K).type).toBe(GGMLType.Q5_0);
    expect(ggufQuantize(randn(4 * 40, rng(4)), 4, 40, GGMLType.Q6_K).type).toBe(GGMLType.F16);
  });

  it('maps the GGUF presets to their block types; a plain int scheme only in a GGUF run', () => {
    const t = (n: string, gguf = false) => ggmlTypeOfScheme(presetScheme(n), gguf);
    expect([t('GGUF:Q2_K_S'), t('GGUF:Q3_K_M'), t('GGUF:Q4_K_M'), t('GGUF:Q5_K_S'), t('GGUF:Q6_K'), t('GGUF:Q4_1'), t('GGUF:Q5_1')]).toEqual([
      GGMLType.Q2_K,
      GGMLType.Q3_K,
      GGMLType.Q4_K,
      GGMLType.Q5_K,
      GGMLType.Q6_K,
      GGMLType.Q4_1,
      GGMLType.Q5_1,
    ]);
    expect([t('GGUF:Q4_0'), t('GGUF:Q8_0'), t('W4A16')]).toEqual([null, null, null]);
    expect([t('GGUF:Q4_0', true), t('GGUF:Q5_0', true), t('GGUF:Q8_0', true), t('W4A16', true)]).toEqual([GGMLType.Q4_0, GGMLType.Q5_0, GGMLType.Q8_0, null]);
  });

  it('importance vectors: Σx²/tokens, zero columns get the mean, an all-zero layer gets none', () => {
    expect(importanceFromSums([4, 8, 0, 12], 4)).toEqual(new Float32Array([1, 2, 2, 3]));
    expect(importanceFromSums([0, 0], 10)).toBeNull();
    expect(() => importanceFromSums([1, Number.NaN], 1, 'model.layers.0.mlp.up_proj')).toThrow(/model\.layers\.0\.mlp\.up_proj.*non-finite/);
  });

  it('a GGUF-quantized weight is typed: blocks { type, data } and imatrix; ggufBlocksOf checks them', () => {
    const w = randn(4 * 256, rng(5));
    const im = new Float32Array(256).fill(1);
    const q = ggufQuantizedWeight(presetScheme('GGUF:Q4_K_M'), w, 4, 256, GGMLType.Q4_K, im);
    expect([q.blocks!.type, q.blocks!.data.length, q.groupSize, q.imatrix]).toEqual(['Q4_K', 4 * 144, 32, im]);
    expect(ggufBlocksOf(q, 'l')!.type).toBe(GGMLType.Q4_K);
    expect(() => ggufBlocksOf({ ...q, blocks: { type: 'Q4_K', data: new Uint8Array(3) } }, 'model.layers.0.mlp.up_proj')).toThrow(/model\.layers\.0\.mlp\.up_proj: blocks hold 3 bytes of Q4_K/);
    expect(() => ggufBlocksOf({ ...q, blocks: { type: 'int4_sym', data: q.blocks!.data } }, 'l')).toThrow(/not a GGUF type/);
  });
});
