import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, writeDemoModel, silentLogger } from '@autoround/autoround';
import { packBits } from '@autoround/export-gptq';
import { dequantizeLayer, f32Of, readSafetensors } from '@autoround/testing/formats';
import { HAS_SHARED, STORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

function checkFolderPair(autoDir: string, fakeDir: string, sourceDir: string): number {
  const qc = JSON.parse(readFileSync(join(autoDir, 'config.json'), 'utf8')).quantization_config;
  const packed = readSafetensors(autoDir);
  const fake = readSafetensors(fakeDir);
  const src = readSafetensors(sourceDir);
  let layers = 0;
  for (const [name, t] of fake) {
    const layer = name.replace(/\.weight$/, '');
    if (packed.has(`${layer}.qweight`)) {
      const bits = qc.extra_config?.[layer]?.bits ?? qc.bits;
      const gs = qc.extra_config?.[layer]?.group_size ?? qc.group_size;
      const { w } = dequantizeLayer(packed, layer, bits, gs, qc.packing_format === 'auto_round:auto_gptq');
      const f = f32Of(t);
      expect(w.length).toBe(f.length);
      for (let i = 0; i < f.length; i++) if (w[i] !== f[i]) throw new Error(`${layer}: element ${i} decodes to ${w[i]}, fake holds ${f[i]}`);
      expect(packed.has(name)).toBe(false);
      layers++;
    } else {
      // kept tensors are copied unchanged, byte for byte
      expect(Buffer.compare(packed.get(name)!.bytes, t.bytes)).toBe(0);
      expect(Buffer.compare(src.get(name)!.bytes, t.bytes)).toBe(0);
    }
  }
  return layers;
}

describe('auto_round golden words', () => {
  it('packs 4-bit and 2-bit values LSB first', () => {
    const w = new Uint32Array(1);
    packBits([0, 1, 2, 3, 4, 5, 6, 7], 4, w);
    expect(w[0]).toBe(0x76543210);
    const w2 = new Uint32Array(1);
    packBits([3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2], 2, w2);
    expect(w2[0]).toBe(0x93939393);
  });
  it('packs 3-bit values in the GPTQ three-word layout', () => {
    const vals = Array.from({ length: 32 }, (_, i) => i % 8);
    const w = new Uint32Array(3);
    packBits(vals, 3, w);
    // word0: values 0..9 at 0,3,…,27 and the low 2 bits of value 10 (=2) at 30
    let w0 = 0;
    for (let j = 0; j < 10; j++) w0 += (j % 8) * 2 ** (3 * j);
    w0 += (10 % 8 & 3) * 2 ** 30;
    expect(w[0]).toBe(w0);
    // word1: the high bit of value 10 (2 → 0) at bit 0, values 11..20 at 1,4,…,28, low bit of value 21 (5 → 1) at 31
    let w1 = ((10 % 8) >> 2) & 1;
    for (let j = 0; j < 10; j++) w1 += ((11 + j) % 8) * 2 ** (1 + 3 * j);
    w1 += ((21 % 8) & 1) * 2 ** 31;
    expect(w[1]).toBe(w1);
    let w2 = (21 % 8) >> 1;
    for (let j = 0; j < 10; j++) w2 += ((22 + j) % 8) * 2 ** (2 + 3 * j);
    expect(w[2]).toBe(w2);
  });
});

describe('auto_round export decodes to the fake export bit for bit', () => {
  const demo = join(work.dir, 'demo');
  writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
  for (const bits of [2, 3, 4, 8]) {
    for (const sym of [true, false]) {
      for (const gs of [32, 64, -1]) {
        it(`W${bits} ${sym ? 'sym' : 'asym'} g${gs}`, async () => {
          const out = join(work.dir, `o-${bits}-${sym}-${gs}`);
          const ar = new AutoRound(demo, { scheme: 'W4A16', bits, sym, groupSize: gs, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false });
          await ar.quantizeAndSave(out, { format: 'auto_round,fake' });
          const qc = JSON.parse(readFileSync(join(out, 'auto_round', 'config.json'), 'utf8')).quantization_config;
          expect(qc.packing_format).toBe(sym ? 'auto_round:auto_gptq' : 'auto_round');
          expect(qc.bits).toBe(bits);
          expect(qc.group_size).toBe(gs);
          expect(checkFolderPair(join(out, 'auto_round'), join(out, 'fake'), demo)).toBe(7);
        });
      }
    }
  }
});

describe.skipIf(!HAS_SHARED)(needsShared('stories260K W4A16 g32 (issue acceptance)'), () => {
  it('writes both folders, keeps the MLP (intermediate 172) in full precision, and decodes bit for bit', async () => {
    const out = join(work.dir, 'stories');
    const ar = new AutoRound(STORIES, { scheme: 'W4A16', groupSize: 32, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false });
    const res = await ar.quantizeAndSave(out, { format: ['auto_round', 'fake'] });
    expect(res.quantizedLayers).toBe(20);
    expect(res.fullPrecisionLayers).toBe(15);
    const qc = JSON.parse(readFileSync(join(out, 'auto_round', 'config.json'), 'utf8')).quantization_config;
    expect(qc.quant_method).toBe('auto-round');
    expect(qc.extra_config['model.layers.0.mlp.down_proj']).toEqual({ bits: 16, data_type: 'fp' });
    expect(qc.extra_config['model.layers.0.mlp.gate_proj']).toEqual({ bits: 16, data_type: 'fp' });
    expect(qc.extra_config['model.layers.0.self_attn.q_proj']).toBeUndefined();
    expect(checkFolderPair(join(out, 'auto_round'), join(out, 'fake'), STORIES)).toBe(20);
    expect(readFileSync(join(out, 'auto_round', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(STORIES, 'tokenizer.json'), 'utf8'));
  });
});
