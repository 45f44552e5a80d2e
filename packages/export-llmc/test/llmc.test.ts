import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, completeScheme, silentLogger, writeDemoModel, type QuantizedWeight } from '@autoround/autoround';
import exportLlmcPlugin, { autoRoundLlmcPacking, llmCompressorExporter, packLlmc, packRowToInt32 } from '@autoround/export-llmc';
import { autoRoundExporterWith } from '@autoround/export-autoround';
import { f32Of, readSafetensors, comparePackedWithFake, expectSameValues, dequantizeLlmc } from '@autoround/testing/formats';
import { tempDir } from '@autoround/testing';

// the auto_round exporter as a registry builds it with this package installed
const autoRoundExporter = autoRoundExporterWith([autoRoundLlmcPacking]);

const work = tempDir();
afterAll(() => work.cleanup());

const u32 = (a: Int32Array) => Array.from(a, (v) => v >>> 0);

describe('compressed-tensors golden words (computed by hand)', () => {
  it('packs along the input dim, LSB first, 32 // bits values per word', () => {
    const w4 = new Int32Array(1);
    packRowToInt32([1, 2, 3, 4, 5, 6, 7, 8], 4, w4);
    expect(u32(w4)).toEqual([0x87654321]);
    // pack_to_int32's own docstring: int8 [1, 2] → +128 → [129, 130] → 33409
    const w8 = new Int32Array(1);
    packRowToInt32([129, 130], 8, w8);
    expect(w8[0]).toBe(33409);
    // 3-bit: 10 values per word (bits 0..29), the 11th starts the next word, bits 30–31 stay 0
    const w3 = new Int32Array(2);
    packRowToInt32([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 7], 3, w3);
    expect(u32(w3)).toEqual([0o1111111111, 7]);
  });

  it('stores codes as level + 2^(b−1), zero points of asym layers packed along the output dim', () => {
    const out = 8;
    const inF = 8;
    const codes = new Uint8Array(out * inF);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) codes[o * inF + i] = (o + i) % 16;
    const base = { shape: [out, inF] as [number, number], groupSize: inF, qdq: new Float32Array(out * inF), codes, scales: new Float32Array(out).fill(-0.5) };
    const sym: QuantizedWeight = { ...base, scheme: completeScheme({ bits: 4, group_size: -1, data_type: 'int' }), zeros: new Int32Array(out).fill(8) };
    const t = packLlmc(sym);
    expect(u32(t.weightPacked).slice(0, 2)).toEqual([0x76543210, 0x87654321]); // rows 0 and 1
    expect(t.weightZeroPoint).toBeUndefined(); // symmetric: no zero point (level = code − 8 ∈ [−8, 7])
    expect(Array.from(t.weightShape)).toEqual([8, 8]);
    const asym: QuantizedWeight = { ...base, scheme: completeScheme({ bits: 4, group_size: -1, sym: false, data_type: 'int' }), zeros: Int32Array.from({ length: out }, (_, o) => o + 1) };
    expect(u32(packLlmc(asym).weightZeroPoint!)).toEqual([0x87654321]); // [ceil(8/8), 1]
    expect(() => packLlmc({ ...sym, zeros: new Int32Array(out).fill(7) })).toThrow(/without zero points/);
  });
});

describe('llm_compressor scheme checks', () => {
  const s = (o: Partial<Parameters<typeof completeScheme>[0]>) => completeScheme({ bits: 4, group_size: 128, data_type: 'int', ...o });
  it('takes W4A16 and W8A16, sym or asym, group or channel; explains everything else', () => {
    for (const bits of [4, 8]) for (const sym of [true, false]) for (const group_size of [32, 128, -1]) expect(llmCompressorExporter.check(s({ bits, sym, group_size }), 'llm_compressor')).toBeNull();
    expect(llmCompressorExporter.check(s({ bits: 2 }), 'llm_compressor')).toMatch(/4 or 8 bits .* not 2/);
    expect(llmCompressorExporter.check(s({ bits: 3 }), 'llm_compressor')).toMatch(/not 3/);
    expect(llmCompressorExporter.check(s({ group_size: 0 }), 'llm_compressor')).toMatch(/group_size 0/);
    expect(autoRoundExporter.check(s({ bits: 2 }), 'auto_round:llm_compressor')).toMatch(/auto_round:llm_compressor writes int weight-only schemes with 4 or 8 bits/);
  });
  it('refuses W2A16 before writing anything', async () => {
    const demo = join(work.dir, 'demo-small');
    writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
    const out = join(work.dir, 'w2');
    await expect(
      new AutoRound(demo, { scheme: 'W2A16', iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [exportLlmcPlugin] }).quantizeAndSave(out, { format: 'llm_compressor' }),
    ).rejects.toThrow(/--format llm_compressor: llm_compressor writes int weight-only schemes with 4 or 8 bits/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('llm_compressor and auto_round:llm_compressor decode to the fake export bit for bit', () => {
  const demo = join(work.dir, 'demo');
  writeDemoModel(demo, { hidden: 128, intermediate: 256, layers: 1, heads: 4, kvHeads: 2 });
  for (const bits of [4, 8]) {
    for (const sym of [true, false]) {
      for (const gs of [32, 64, 128, -1]) {
        it(`W${bits} ${sym ? 'sym' : 'asym'} g${gs}`, async () => {
          const out = join(work.dir, `l-${bits}-${sym}-${gs}`);
          const ar = new AutoRound(demo, { scheme: 'W4A16', bits, sym, groupSize: gs, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [exportLlmcPlugin] });
          await ar.quantizeAndSave(out, { format: 'llm_compressor,auto_round:llm_compressor,fake' });
          const ct = JSON.parse(readFileSync(join(out, 'llm_compressor', 'config.json'), 'utf8'));
          expect(ct.quantization_config).toEqual({
            config_groups: {
              group_0: {
                targets: ['Linear'],
                weights: {
                  num_bits: bits,
                  type: 'int',
                  symmetric: sym,
                  group_size: gs === -1 ? null : gs,
                  strategy: gs === -1 ? 'channel' : 'group',
                  block_structure: null,
                  dynamic: false,
                  actorder: null,
                  observer: 'minmax',
                  observer_kwargs: {},
                },
                input_activations: null,
                output_activations: null,
              },
            },
            format: 'pack-quantized',
            global_compression_ratio: null,
            ignore: ['lm_head'],
            kv_cache_scheme: null,
            quant_method: 'compressed-tensors',
            quantization_status: 'compressed',
            provider: 'auto-round',
          });
          const ar2 = JSON.parse(readFileSync(join(out, 'auto_round-llm_compressor', 'config.json'), 'utf8'));
          expect(ar2.quantization_config).toMatchObject({ bits, group_size: gs, sym, quant_method: 'auto-round', packing_format: 'auto_round:llm_compressor' });
          for (const [sub, config, exporter] of [['llm_compressor', ct, llmCompressorExporter], ['auto_round-llm_compressor', ar2, autoRoundExporter]] as const) {
            const dir = join(out, sub);
            expect(
              comparePackedWithFake(dir, join(out, 'fake'), demo, (t, l) => {
                if (!t.has(`${l}.weight_packed`)) return undefined;
                const d = dequantizeLlmc(t, l, bits, gs === -1 ? null : gs);
                expect(d.zeroPoint).toBe(!sym);
                return d.w;
              }),
            ).toBe(7);
            const t = readSafetensors(dir);
            const pf = 32 / bits;
            expect(t.get('model.layers.0.mlp.down_proj.weight_packed')!.shape).toEqual([128, 256 / pf]);
            expect(t.get('model.layers.0.mlp.down_proj.weight_scale')!).toMatchObject({ dtype: 'F16', shape: [128, gs === -1 ? 1 : 256 / gs] });
            expect(t.get('model.layers.0.mlp.down_proj.weight_shape')!).toMatchObject({ dtype: 'I64', shape: [2] });
            if (!sym) expect(t.get('model.layers.0.mlp.down_proj.weight_zero_point')!).toMatchObject({ dtype: 'I32', shape: [128 / pf, gs === -1 ? 1 : 256 / gs] });
            expect(exporter.detect!(config)).toBe(true);
            const fake = f32Of(readSafetensors(join(out, 'fake')).get('model.layers.0.self_attn.k_proj.weight')!);
            expectSameValues(`${sub} read()`, exporter.read!(dir, config).readFloat32('model.layers.0.self_attn.k_proj.weight').data, fake);
          }
        });
      }
    }
  }
});

describe('llm_compressor with per-layer schemes', () => {
  it('writes one config group per scheme with exact targets, ignore for kept layers', async () => {
    const demo = join(work.dir, 'demo-mixed');
    writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 2, heads: 2, kvHeads: 1 });
    const out = join(work.dir, 'mixed');
    await new AutoRound(demo, {
      scheme: 'W4A16',
      groupSize: 32,
      iters: 0,
      disableOptRtn: true,
      ignoreLayers: 'model.layers.1.mlp.down_proj',
      layerConfig: { 'model.layers.0.mlp.down_proj': { bits: 8, sym: false } },
      log: silentLogger,
      discoverPlugins: false,
    }).quantizeAndSave(out, { format: 'llm_compressor,fake' });
    const config = JSON.parse(readFileSync(join(out, 'llm_compressor', 'config.json'), 'utf8'));
    const qc = config.quantization_config;
    expect(Object.keys(qc.config_groups)).toEqual(['group_0', 'group_1']);
    expect(qc.config_groups.group_0.targets).toHaveLength(12);
    expect(qc.config_groups.group_0.targets).not.toContain('model.layers.0.mlp.down_proj');
    expect(qc.config_groups.group_1).toMatchObject({ targets: ['model.layers.0.mlp.down_proj'], weights: { num_bits: 8, symmetric: false, group_size: 32 } });
    expect(qc.ignore).toEqual(['model.layers.1.mlp.down_proj', 'lm_head']);
    const n = comparePackedWithFake(join(out, 'llm_compressor'), join(out, 'fake'), demo, (t, l) => {
      if (!t.has(`${l}.weight_packed`)) return undefined;
      return dequantizeLlmc(t, l, l === 'model.layers.0.mlp.down_proj' ? 8 : 4, 32).w;
    });
    expect(n).toBe(13);
    const fake = f32Of(readSafetensors(join(out, 'fake')).get('model.layers.0.mlp.down_proj.weight')!);
    expectSameValues('read() down_proj', llmCompressorExporter.read!(join(out, 'llm_compressor'), config).readFloat32('model.layers.0.mlp.down_proj.weight').data, fake);
  });
});
