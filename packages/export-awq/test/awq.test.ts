import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, completeScheme, silentLogger, writeDemoModel, type QuantizedWeight } from '@autoround/autoround';
import exportAwqPlugin, { autoAwqExporter, autoRoundAwqPacking, packAwq, packAwqWords } from '@autoround/export-awq';
import { autoRoundExporterWith } from '@autoround/export-autoround';
import { f32Of, readSafetensors, comparePackedWithFake, expectSameValues, dequantizeAwq, unpackAwqWord } from '@autoround/testing/formats';
import { tempDir } from '@autoround/testing';

// the auto_round exporter as a registry builds it with this package installed
const autoRoundExporter = autoRoundExporterWith([autoRoundAwqPacking]);

const work = tempDir();
afterAll(() => work.cleanup());

describe('AWQ golden words (computed by hand)', () => {
  it('interleaves 8 output columns as nibbles [0, 2, 4, 6, 1, 3, 5, 7]', () => {
    // columns 0..7 hold 0..7: nibble k (from the LSB) holds column [0,2,4,6,1,3,5,7][k]
    const w = new Int32Array(1);
    packAwqWords([0, 1, 2, 3, 4, 5, 6, 7], w);
    expect(w[0]! >>> 0).toBe(0x75316420);
    const z = new Int32Array(1);
    packAwqWords([1, 2, 3, 4, 5, 6, 7, 8], z);
    expect(z[0]! >>> 0).toBe(0x86427531);
    expect(unpackAwqWord(0x86427531 | 0)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('packs along the output dim: qweight [in, out/8], zeros as they are (sym: 8 in every nibble)', () => {
    const out = 16;
    const inF = 4;
    const codes = new Uint8Array(out * inF);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) codes[o * inF + i] = (o + i) % 16;
    const q: QuantizedWeight = {
      scheme: completeScheme({ bits: 4, group_size: -1, data_type: 'int' }),
      shape: [out, inF],
      groupSize: inF,
      qdq: new Float32Array(out * inF),
      codes,
      scales: new Float32Array(out).fill(-0.25),
      zeros: new Int32Array(out).fill(8),
    };
    const t = packAwq(q);
    // input 0, outputs 0..7 = 0..7 → 0x75316420; outputs 8..15 = 8..15 → nibbles 8,10,12,14,9,11,13,15
    expect(t.qweight[0]! >>> 0).toBe(0x75316420);
    expect(t.qweight[1]! >>> 0).toBe(0xfdb9eca8);
    // input 1, outputs 0..7 = 1..8
    expect(t.qweight[2]! >>> 0).toBe(0x86427531);
    expect(Array.from(t.qzeros, (v) => v >>> 0)).toEqual([0x88888888, 0x88888888]);
    expect(t.scales[0]).toBe(0xb400); // fp16 −0.25: negative scales are stored as they are
  });
});

describe('auto_awq scheme checks', () => {
  const demo = join(work.dir, 'demo-small');
  writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
  const s = (o: Partial<Parameters<typeof completeScheme>[0]>) => completeScheme({ bits: 4, group_size: 128, data_type: 'int', ...o });
  it('takes 4-bit int weight-only, sym or asym, and explains everything else', () => {
    expect(autoAwqExporter.check(s({}), 'auto_awq')).toBeNull();
    expect(autoAwqExporter.check(s({ sym: false }), 'auto_awq')).toBeNull();
    for (const bits of [2, 3, 8]) expect(autoAwqExporter.check(s({ bits }), 'auto_awq')).toMatch(new RegExp(`4-bit weights only.*not ${bits}-bit`));
    expect(autoAwqExporter.check(s({ group_size: 0 }), 'auto_awq')).toMatch(/group_size 0/);
    expect(autoRoundExporter.check(s({ bits: 3 }), 'auto_round:auto_awq')).toMatch(/auto_round:auto_awq stores 4-bit weights only/);
  });
  it('refuses a 3-bit auto_awq export before writing anything', async () => {
    const out = join(work.dir, 'w3');
    await expect(
      new AutoRound(demo, { scheme: 'W3A16', iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [exportAwqPlugin] }).quantizeAndSave(out, { format: 'fake,auto_awq' }),
    ).rejects.toThrow(/--format auto_awq: auto_awq stores 4-bit weights only \(AutoAWQ GEMM kernels\), not 3-bit/);
    expect(existsSync(out)).toBe(false);
  });
  it('refuses a quantized lm_head (AWQ loaders keep lm_head dense); auto_round:auto_awq records it', async () => {
    const out = join(work.dir, 'head');
    const opts = { scheme: 'W4A16', groupSize: 32, quantLmHead: true, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false } as const;
    await expect(new AutoRound(demo, opts).quantizeAndSave(out, { format: 'auto_awq' })).rejects.toThrow(/AWQ loaders do not convert lm_head/);
    expect(existsSync(out)).toBe(false);
    await new AutoRound(demo, opts).quantizeAndSave(out, { format: 'auto_round:auto_awq,fake' });
    const qc = JSON.parse(readFileSync(join(out, 'auto_round-auto_awq', 'config.json'), 'utf8')).quantization_config;
    expect(qc.extra_config.lm_head).toMatchObject({ bits: 4, group_size: 32, sym: true });
    expect(comparePackedWithFake(join(out, 'auto_round-auto_awq'), join(out, 'fake'), demo, (t, l) => (t.has(`${l}.qweight`) ? dequantizeAwq(t, l, 32) : undefined))).toBe(8);
  });
});

describe('auto_awq and auto_round:auto_awq decode to the fake export bit for bit', () => {
  const demo = join(work.dir, 'demo');
  writeDemoModel(demo, { hidden: 128, intermediate: 256, layers: 1, heads: 4, kvHeads: 2 });
  for (const sym of [true, false]) {
    for (const gs of [32, 64, 128, -1]) {
      it(`W4 ${sym ? 'sym' : 'asym'} g${gs}`, async () => {
        const out = join(work.dir, `a-${sym}-${gs}`);
        const ar = new AutoRound(demo, { scheme: 'W4A16', sym, groupSize: gs, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [exportAwqPlugin] });
        await ar.quantizeAndSave(out, { format: 'auto_awq,auto_round:auto_awq,fake' });
        const awqConfig = JSON.parse(readFileSync(join(out, 'auto_awq', 'config.json'), 'utf8'));
        expect(awqConfig.quantization_config).toMatchObject({ bits: 4, group_size: gs, sym, quant_method: 'awq', version: 'gemm', zero_point: !sym, provider: 'auto-round', modules_to_not_convert: ['lm_head'] });
        const arConfig = JSON.parse(readFileSync(join(out, 'auto_round-auto_awq', 'config.json'), 'utf8'));
        expect(arConfig.quantization_config).toMatchObject({ bits: 4, group_size: gs, sym, quant_method: 'auto-round', packing_format: 'auto_round:auto_awq', block_name_to_quantize: 'model.layers' });
        for (const [sub, config] of [['auto_awq', awqConfig], ['auto_round-auto_awq', arConfig]] as const) {
          const dir = join(out, sub);
          expect(comparePackedWithFake(dir, join(out, 'fake'), demo, (t, l) => (t.has(`${l}.qweight`) ? dequantizeAwq(t, l, gs) : undefined))).toBe(7);
          const t = readSafetensors(dir);
          expect(t.get('model.layers.0.mlp.down_proj.qweight')!.shape).toEqual([256, 16]);
          expect(t.get('model.layers.0.mlp.down_proj.scales')!.shape).toEqual([gs === -1 ? 1 : 256 / gs, 128]);
          const exporter = sub === 'auto_awq' ? autoAwqExporter : autoRoundExporter;
          expect(exporter.detect!(config)).toBe(true);
          const fake = f32Of(readSafetensors(join(out, 'fake')).get('model.layers.0.mlp.up_proj.weight')!);
          expectSameValues(`${sub} read()`, exporter.read!(dir, config).readFloat32('model.layers.0.mlp.up_proj.weight').data, fake);
        }
      });
    }
  }
});
