import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, completeScheme, memoryLogger, silentLogger, writeDemoModel, type QuantizedWeight } from '@autoround/autoround';
import exportGptqPlugin, { autoGptqExporter, gptqCheckpointFormat, packGptq } from '@autoround/export-gptq';
import { dequantizeLayer, f32Of, readSafetensors, comparePackedWithFake, expectSameValues } from '@autoround/testing/formats';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const u32 = (a: Int32Array) => Array.from(a, (v) => v >>> 0);

/** A hand-made quantized layer: codes[o][i] = code(o, i), one zero for every group. */
function layer(bits: number, out: number, inF: number, code: (o: number, i: number) => number, zero: number, sym = true): QuantizedWeight {
  const codes = new Uint8Array(out * inF);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) codes[o * inF + i] = code(o, i);
  return {
    scheme: completeScheme({ bits, group_size: inF, sym, data_type: 'int' }),
    shape: [out, inF],
    groupSize: inF,
    qdq: new Float32Array(out * inF),
    codes,
    scales: new Float32Array(out).fill(0.5),
    zeros: new Int32Array(out).fill(zero),
  };
}

describe('GPTQ golden words (computed by hand)', () => {
  it('4-bit: 8 inputs of one output column in one word, LSB first; v1 stores zero − 1, v2 the zero', () => {
    const q = layer(4, 8, 8, (o, i) => (o + i) % 16, 8);
    const v1 = packGptq(q, { zeroMinusOne: true, gIdx: true });
    expect(u32(v1.qweight).slice(0, 2)).toEqual([0x76543210, 0x87654321]); // columns 0 and 1
    expect(u32(v1.qzeros)).toEqual([0x77777777]);
    expect(Array.from(v1.gIdx!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(v1.scales.slice(0, 2))).toEqual([0x3800, 0x3800]); // fp16 0.5
    const v2 = packGptq(q, { zeroMinusOne: false });
    expect(u32(v2.qzeros)).toEqual([0x88888888]);
    expect(v2.gIdx).toBeUndefined();
  });

  it('8-bit: four inputs per word', () => {
    const vals = [0x01, 0x80, 0xff, 0x7f];
    const q = layer(8, 4, 4, (_o, i) => vals[i]!, 128);
    const t = packGptq(q, { zeroMinusOne: true });
    expect(u32(t.qweight)).toEqual([0x7fff8001, 0x7fff8001, 0x7fff8001, 0x7fff8001]);
    expect(u32(t.qzeros)).toEqual([0x7f7f7f7f]);
  });

  it('3-bit: qzeros of 32 outputs in three words (value 10 and 21 straddle)', () => {
    // sym 3-bit: zero 4, stored 3 = 0b011 in every slot: the 96-bit stream is 011 repeated
    const q = layer(3, 32, 32, () => 0, 4);
    const t = packGptq(q, { zeroMinusOne: true });
    expect(u32(t.qzeros)).toEqual([0xdb6db6db, 0xb6db6db6, 0x6db6db6d]);
    // qweight column: inputs 0..31 = 0..7 repeated; word 0 holds values 9..0 = 1,0,7,6,5,4,3,2,1,0 as
    // octal digits (3 bits each) plus the low 2 bits of value 10 (= 2) at bit 30
    const r = packGptq(layer(3, 32, 32, (_o, i) => i % 8, 4), { zeroMinusOne: true });
    expect(r.qweight[0]! >>> 0).toBe(0o1076543210 + 2 * 2 ** 30);
  });

  it('counts zero points GPTQ v1 cannot hold (asym zero 0 → −1)', () => {
    const q = layer(4, 8, 8, () => 3, 0, false);
    expect(packGptq(q, { zeroMinusOne: true }).wrappedZeros).toBe(8);
    expect(packGptq(q, { zeroMinusOne: false }).wrappedZeros).toBe(0);
  });
});

describe('auto_gptq format strings and scheme checks', () => {
  it('maps variants to checkpoint formats', () => {
    expect(gptqCheckpointFormat('auto_gptq')).toBe('gptq');
    expect(gptqCheckpointFormat('auto_gptq:v2')).toBe('gptq_v2');
    expect(gptqCheckpointFormat('auto_gptq:gptq_v2')).toBe('gptq_v2');
    expect(gptqCheckpointFormat('auto_gptq:marlin')).toBeNull();
  });
  it('accepts W2/W3/W4/W8A16 and refuses the rest with a reason', () => {
    const s = (o: Partial<Parameters<typeof completeScheme>[0]>) => completeScheme({ bits: 4, group_size: 128, data_type: 'int', ...o });
    for (const bits of [2, 3, 4, 8]) expect(autoGptqExporter.check(s({ bits }), 'auto_gptq')).toBeNull();
    expect(autoGptqExporter.check(s({ bits: 5 }), 'auto_gptq')).toMatch(/supports bits 2, 3, 4, 8, not 5/);
    expect(autoGptqExporter.check(s({ group_size: 0 }), 'auto_gptq')).toMatch(/group_size 0/);
    expect(autoGptqExporter.check(s({ data_type: 'mx_fp', act_bits: 4 }), 'auto_gptq')).toMatch(/integer weight-only/);
    expect(autoGptqExporter.check(s({}), 'auto_gptq:marlin')).toMatch(/unknown auto_gptq variant/);
  });
});

describe('auto_gptq (v1) and auto_gptq:v2 decode to the fake export bit for bit', () => {
  const demo = join(work.dir, 'demo');
  writeDemoModel(demo, { hidden: 128, intermediate: 256, layers: 1, heads: 4, kvHeads: 2 });
  for (const bits of [2, 3, 4, 8]) {
    for (const sym of [true, false]) {
      for (const gs of [32, 64, 128, -1]) {
        it(`W${bits} ${sym ? 'sym' : 'asym'} g${gs}`, async () => {
          const out = join(work.dir, `g-${bits}-${sym}-${gs}`);
          const ar = new AutoRound(demo, { scheme: 'W4A16', bits, sym, groupSize: gs, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [exportGptqPlugin] });
          await ar.quantizeAndSave(out, { format: 'auto_gptq,auto_gptq:v2,fake' });
          for (const [sub, v1] of [['auto_gptq', true], ['auto_gptq-v2', false]] as const) {
            const dir = join(out, sub);
            const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
            const qc = config.quantization_config;
            expect(qc).toMatchObject({ bits, group_size: gs, sym, quant_method: 'gptq', desc_act: false, true_sequential: false, damp_percent: 0.01, lm_head: false, provider: 'auto-round' });
            expect(qc.checkpoint_format).toBe(v1 ? undefined : 'gptq_v2');
            expect(qc.dynamic).toBeUndefined();
            expect(qc.modules_in_block_to_quantize).toBeUndefined();
            expect(JSON.parse(readFileSync(join(dir, 'quantize_config.json'), 'utf8'))).toEqual(qc);
            const n = comparePackedWithFake(dir, join(out, 'fake'), demo, (t, l) => (t.has(`${l}.qweight`) ? dequantizeLayer(t, l, bits, gs, v1).w : undefined));
            expect(n).toBe(7);
            const t = readSafetensors(dir);
            const gIdx = t.get('model.layers.0.mlp.down_proj.g_idx')!;
            const egs = gs === -1 ? 256 : gs;
            expect(Array.from(new Int32Array(gIdx.bytes.buffer.slice(gIdx.bytes.byteOffset, gIdx.bytes.byteOffset + gIdx.bytes.length)))).toEqual(Array.from({ length: 256 }, (_, i) => Math.floor(i / egs)));
            // the exporter's own reader (what `auto-round eval` uses) agrees with the fake export too
            const fake = f32Of(readSafetensors(join(out, 'fake')).get('model.layers.0.self_attn.q_proj.weight')!);
            expectSameValues(`${sub} read()`, autoGptqExporter.read!(dir, config).readFloat32('model.layers.0.self_attn.q_proj.weight').data, fake);
          }
        });
      }
    }
  }
});

describe('auto_gptq config for skipped and mixed layers', () => {
  const demo = join(work.dir, 'demo-mixed');
  writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 2, heads: 2, kvHeads: 1 });

  it('writes modules_in_block_to_quantize and "-:" entries when layers stay in full precision', async () => {
    const out = join(work.dir, 'skipped');
    const ar = new AutoRound(demo, { scheme: 'W4A16', groupSize: 32, iters: 0, disableOptRtn: true, ignoreLayers: 'mlp.down_proj', log: silentLogger, discoverPlugins: false });
    await ar.quantizeAndSave(out, { format: 'auto_gptq' });
    const qc = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config;
    expect(qc.modules_in_block_to_quantize).toEqual([['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj']]);
    expect(qc.dynamic).toEqual({ '-:.*model\\.layers\\.0\\.mlp\\.down_proj.*': {}, '-:.*model\\.layers\\.1\\.mlp\\.down_proj.*': {} });
    const t = readSafetensors(out);
    expect(t.get('model.layers.1.mlp.down_proj.weight')!.dtype).toBe('F32');
    expect(t.has('model.layers.1.mlp.down_proj.qweight')).toBe(false);
  });

  it('writes a GPTQModel dynamic map for per-layer bits, a quantized lm_head, and warns about split fused groups', async () => {
    const out = join(work.dir, 'mixed');
    const log = memoryLogger();
    const ar = new AutoRound(demo, {
      scheme: 'W4A16',
      groupSize: 32,
      iters: 0,
      disableOptRtn: true,
      quantLmHead: true,
      layerConfig: { 'model.layers.1.self_attn.k_proj': { bits: 8, group_size: 64 } },
      log,
      discoverPlugins: false,
    });
    await ar.quantizeAndSave(out, { format: 'auto_gptq,fake' });
    const config = JSON.parse(readFileSync(join(out, 'auto_gptq', 'config.json'), 'utf8'));
    const qc = config.quantization_config;
    expect(qc.lm_head).toBe(true);
    expect(qc.dynamic).toEqual({
      '+:.*model\\.layers\\.1\\.self_attn\\.k_proj.*': { bits: 8, group_size: 64, sym: true },
      '+:.*lm_head.*': { bits: 4, group_size: 32, sym: true },
    });
    expect(log.lines.some((l) => /fuse q\/k\/v.*model\.layers\.1\.self_attn\.\{q_proj,k_proj,v_proj\}: int4 g32 sym \/ int8 g64 sym \/ int4 g32 sym/.test(l))).toBe(true);
    const n = comparePackedWithFake(join(out, 'auto_gptq'), join(out, 'fake'), demo, (t, l) => {
      if (!t.has(`${l}.qweight`)) return undefined;
      const k = l === 'model.layers.1.self_attn.k_proj';
      return dequantizeLayer(t, l, k ? 8 : 4, k ? 64 : 32, true).w;
    });
    expect(n).toBe(15);
    // the reader resolves the dynamic rules the same way
    const r = autoGptqExporter.read!(join(out, 'auto_gptq'), config).readFloat32('model.layers.1.self_attn.k_proj.weight');
    expectSameValues('read() k_proj', r.data, f32Of(readSafetensors(join(out, 'fake')).get('model.layers.1.self_attn.k_proj.weight')!));
  });

  it('warns about asymmetric GPTQ before any work, and refuses bits the format cannot store', async () => {
    const log = memoryLogger();
    await new AutoRound(demo, { scheme: 'W4A16', sym: false, groupSize: 32, iters: 0, disableOptRtn: true, log, discoverPlugins: false }).quantizeAndSave(join(work.dir, 'asym'), { format: 'auto_gptq' });
    expect(log.lines.some((l) => /asymmetric kernel of the GPTQ format/.test(l))).toBe(true);
    const out = join(work.dir, 'w5');
    await expect(
      new AutoRound(demo, { scheme: 'W4A16', bits: 5, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false }).quantizeAndSave(out, { format: 'auto_gptq' }),
    ).rejects.toThrow(/--format auto_gptq: auto_gptq supports bits 2, 3, 4, 8, not 5/);
    expect(existsSync(out)).toBe(false);
  });
});
