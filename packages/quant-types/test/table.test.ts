import { describe, expect, it } from 'vitest';
import { completeScheme } from '@autoround/core';
import {
  GGMLType,
  QUANT_TYPES,
  ggmlTypeByName,
  intQuantTypeOf,
  quantTypeByName,
  quantTypeOf,
  quantizeInt,
} from '../src/index.js';
import { codecOf, rowFallbackOf, scaleGroupOf } from '../src/table.js';

describe('the quantization-type table', () => {
  it('one row per name and per ggml id; geometry and bits per weight agree', () => {
    expect(new Set(QUANT_TYPES.map((t) => t.name)).size).toBe(QUANT_TYPES.length);
    const ids = QUANT_TYPES.flatMap((t) => (t.ggml === undefined ? [] : [t.ggml]));
    expect(new Set(ids).size).toBe(ids.length);
    for (const t of QUANT_TYPES.filter((r) => r.family === 'ggml')) {
      expect(t.bitsPerWeight, t.name).toBe((t.typeSize * 8) / t.blockSize);
      expect(quantTypeOf(t.ggml!)).toBe(t);
      expect(ggmlTypeByName(t.name.toLowerCase())).toBe(t.ggml);
    }
    expect(quantTypeOf(GGMLType.Q4_K).bitsPerWeight).toBe(4.5);
  });

  it('a codec writes typeSize bytes per block; a frozen layout groups by the row scaleGroup', () => {
    const x = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i * 0.7) / 8);
    for (const t of QUANT_TYPES.filter((r) => r.quantize)) {
      expect(codecOf(t.ggml!).quantize(x).length, t.name).toBe((512 / t.blockSize) * t.typeSize);
      if (t.frozen) expect(t.blockSize % t.scaleGroup, t.name).toBe(0);
    }
    expect(QUANT_TYPES.filter((t) => t.frozen).map((t) => t.name).sort()).toEqual(['Q2_K', 'Q3_K', 'Q4_0', 'Q4_1', 'Q4_K', 'Q5_0', 'Q5_1', 'Q5_K', 'Q6_K', 'Q8_0']);
  });

  it('nominal bits, scale groups and row fallbacks as the GGUF tuning and planner use them', () => {
    const bits = Object.fromEntries(QUANT_TYPES.filter((t) => t.frozen).map((t) => [t.name, t.nominalBits]));
    expect(bits).toEqual({ Q4_0: 4, Q4_1: 4, Q5_0: 5, Q5_1: 5, Q8_0: 8, Q2_K: 2, Q3_K: 3, Q4_K: 4, Q5_K: 5, Q6_K: 6 });
    expect([GGMLType.Q2_K, GGMLType.Q4_K, GGMLType.Q8_0, GGMLType.F16].map((t) => scaleGroupOf(t, 96))).toEqual([16, 32, 32, 96]);
    expect([GGMLType.Q2_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.Q8_0].map((t) => rowFallbackOf(t, 96))).toEqual([GGMLType.Q4_0, GGMLType.Q5_0, GGMLType.Q5_1, GGMLType.Q8_0, GGMLType.Q8_0]);
    expect(rowFallbackOf(GGMLType.Q4_K, 80)).toBe(GGMLType.F16);
    expect(rowFallbackOf(GGMLType.Q4_K, 512)).toBe(GGMLType.Q4_K);
  });

  it('int rows: sym/asym by bits, quantize–dequantize through quantizeInt', () => {
    const r = intQuantTypeOf(4, true)!;
    expect(r).toBe(quantTypeByName('int4_sym'));
    expect([r.family, r.bitsPerWeight, r.sym, r.ggml]).toEqual(['int', 4, true, undefined]);
    const w = Float32Array.from({ length: 64 }, (_, i) => Math.cos(i) / 10);
    const scheme = completeScheme({ bits: 4, group_size: 32, sym: true, data_type: 'int' });
    expect(r.qdq!(w, 2, 32, scheme).qdq).toEqual(quantizeInt(w, 2, 32, scheme).qdq);
  });
});
