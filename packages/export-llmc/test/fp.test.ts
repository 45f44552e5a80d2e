// The floating-point layouts (docs/formats/fp-formats.md): golden bytes by hand, and every scheme written by the
// auto_round, llm_compressor and fake exporters, read back by their readers bit for bit, with the activation
// quantization the folder records, and decoded by the independent reader of @autoround/testing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type AlgorithmPlugin,
  AutoRound,
  completeScheme,
  createRegistry,
  definePlugin,
  folderPerplexity,
  fullName,
  openModel,
  PerplexityBench,
  presetScheme,
  type QuantizedWeight,
  silentLogger,
  type WeightSource,
  weightsOf,
  writeDemoModel,
} from '@autoround/autoround';
import { quantizeInt, fp8InputScale, fusedGlobalScales, needsActivationMax, nvGlobalScale, quantizeActivation, quantizeFp, fpDataTypeOf } from '@autoround/quant-types';
import { ctFormatOf, llmCompressorExporter, packFpLayer } from '@autoround/export-llmc';
import signround from '@autoround/algo-signround';
import { decodeFpLayer, readSafetensors } from '@autoround/testing/formats';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir, mulberry32 } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe('golden bytes (by hand)', () => {
  it('E2M1 nibbles: two consecutive elements per byte, the first in the low nibble; E8M0 and E4M3 scale bytes as stored', () => {
    const codes = Uint8Array.from({ length: 32 }, (_, i) => i % 16);
    const scheme = presetScheme('MXFP4');
    const q: QuantizedWeight = { scheme, shape: [1, 32], groupSize: 32, qdq: new Float32Array(32), codes, scales: Float32Array.of(0.25), element: 'e2m1', scaleFormat: 'e8m0', scaleCodes: Uint8Array.of(125) };
    const t = packFpLayer('l', q);
    const packed = t.find((x) => x.suffix === 'weight_packed')!;
    expect(packed.dtype).toBe('U8');
    expect(packed.shape).toEqual([1, 16]);
    expect(Array.from(packed.data as Uint8Array).slice(0, 4)).toEqual([0x10, 0x32, 0x54, 0x76]);
    const scale = t.find((x) => x.suffix === 'weight_scale')!;
    expect([scale.dtype, Array.from(scale.data as Uint8Array)]).toEqual(['U8', [125]]);
    const nv: QuantizedWeight = { ...q, scheme: presetScheme('NVFP4'), shape: [1, 16], groupSize: 16, codes: codes.slice(0, 16), scaleFormat: 'e4m3', scaleCodes: Uint8Array.of(0x38), globalScale: 1.5, inputGlobalScale: 7 };
    const tn = packFpLayer('l', nv);
    expect(tn.map((x) => [x.suffix, x.dtype, x.shape])).toEqual([
      ['weight_packed', 'U8', [1, 8]],
      ['weight_scale', 'F8_E4M3', [1, 1]],
      ['weight_global_scale', 'F32', [1]],
      ['input_global_scale', 'F32', [1]],
    ]);
    expect(Array.from(tn[1]!.data as Uint8Array)).toEqual([0x38]);
    expect(Array.from(tn[2]!.data as Float32Array)).toEqual([1.5]);
  });
});

/** A test algorithm: quantizeFp of every selected layer (NVFP4 with the fused global scales), static activation maxima made up. */
const fpAlgorithm: AlgorithmPlugin = {
  name: 'fp-qdq-test',
  description: 'quantizeFp of every selected layer (tests)',
  needsCalibration: () => false,
  async run(session) {
    let k = 0;
    for (const block of session.spec.blocks) {
      const ws = new Map<string, Float32Array>();
      for (const l of block.linears) if (session.layerSchemes.get(fullName(block, l))) ws.set(l.name, session.checkpoint.readFloat32(`${fullName(block, l)}.weight`).data);
      const gs = fusedGlobalScales(ws);
      for (const l of block.linears) {
        const name = fullName(block, l);
        const scheme = session.layerSchemes.get(name);
        if (!scheme) continue;
        const nv = fpDataTypeOf(scheme.data_type, scheme.bits)?.format.family === 'nv' && scheme.data_type !== 'nvfp4_v2';
        let q = scheme.data_type === 'int' ? quantizeInt(ws.get(l.name)!, l.outFeatures, l.inFeatures, scheme) : quantizeFp(ws.get(l.name)!, l.outFeatures, l.inFeatures, scheme, nv ? { globalScale: gs.get(l.name)! } : {});
        if (needsActivationMax(scheme)) {
          const actMax = Math.fround(1.5 + 0.375 * k++);
          const a = fpDataTypeOf(scheme.act_data_type, scheme.act_bits)!;
          q = { ...q, actMax, ...(a.format.family === 'nv' ? { inputGlobalScale: nvGlobalScale(actMax) } : { inputScale: fp8InputScale(actMax) }) };
        }
        session.emit(name, q);
      }
      session.blockDone?.(block.index);
    }
  },
};
const testPlugin = definePlugin({ name: 'fp-qdq-test-plugin', algorithms: [fpAlgorithm] });

/** The model's weights with the QDQ layers in, and their activation quantization from the scheme and act_max. */
function inMemory(base: WeightSource, qdq: ReadonlyMap<string, QuantizedWeight>): WeightSource {
  const acts = [...qdq.values()].some((q) => q.scheme.act_bits < 16);
  return {
    has: (n) => base.has(n),
    readFloat32: (n) => {
      const q = n.endsWith('.weight') ? qdq.get(n.slice(0, -7)) : undefined;
      if (!q) return base.readFloat32(n);
      const t = base.readFloat32(n);
      return { ...t, data: q.qdq } as typeof t;
    },
    ...(acts ? { activations: (l: string, x: Float32Array, rows: number, cols: number) => (qdq.get(l) ? quantizeActivation(x, rows, cols, qdq.get(l)!.scheme, qdq.get(l)!.actMax) : x) } : {}),
  };
}

/**
 * Bit for bit, except that −0 and +0 count as one value: the E2M1 code of a zero is always 0x0
 * (docs/formats/fp-weights.md), so a QDQ element −0 (a tiny negative weight) reads back as +0.
 */
const same = (a: Float32Array, b: Float32Array) => {
  const z = (x: Float32Array) => Float32Array.from(x, (v) => (v === 0 ? 0 : v));
  const [p, q] = [z(a), z(b)];
  return Buffer.from(p.buffer).equals(Buffer.from(q.buffer));
};

describe.skipIf(!HAS_SHARED)(needsShared('stories260K: floating-point schemes written, read back bit for bit, activations re-applied'), () => {
  const text = HAS_SHARED ? readFileSync(TINYSTORIES, 'utf8').slice(0, 1500) : '';
  const cases: [string, string[]][] = [
    ['MXFP4', ['auto_round', 'llm_compressor', 'fake']],
    ['NVFP4', ['auto_round', 'llm_compressor', 'fake']],
    ['MXFP8', ['auto_round', 'llm_compressor']],
    ['MXINT4', ['auto_round']],
    ['NVFP4_E5M3', ['auto_round', 'llm_compressor']],
    ['FPW8A16', ['auto_round', 'llm_compressor']],
    ['FP8_STATIC', ['auto_round', 'llm_compressor', 'fake']],
    ['INT8', ['llm_compressor', 'fake']],
  ];
  for (const [preset, formats] of cases) {
    it(`${preset}: ${formats.join(', ')}`, async () => {
      const out = join(work.dir, preset);
      const ar = new AutoRound(STORIES, { scheme: preset, iters: 1, algorithm: 'fp-qdq-test', log: silentLogger, discoverPlugins: false, plugins: [testPlugin], skipSanityCheck: true });
      const res = await ar.quantizeAndSave(out, { format: formats, keepQdq: true });
      expect(res.qdq.size).toBeGreaterThanOrEqual(20);
      const registry = await createRegistry({ discover: false });
      const backend = registry.kernelBackend();
      const base = await ar.load();
      const memory = new PerplexityBench(registry, base, backend, text, { seqlen: 128 }).run(inMemory(base.checkpoint, res.qdq));
      const rng = mulberry32(5);
      for (const f of formats) {
        const dir = formats.length > 1 ? join(out, f) : out;
        const model = openModel(registry, dir);
        const bench = new PerplexityBench(registry, model, backend, text, { seqlen: 128 });
        const w = weightsOf(registry, model);
        const st = f === 'fake' ? null : readSafetensors(dir);
        const qc = JSON.parse(readFileSync(join(dir, f === 'fake' ? 'quantization_config.json' : 'config.json'), 'utf8')).quantization_config ?? JSON.parse(readFileSync(join(dir, 'quantization_config.json'), 'utf8'));
        for (const [layer, q] of res.qdq) {
          const got = w.readFloat32(`${layer}.weight`).data;
          if (f !== 'fake' || base.checkpoint.info(`${layer}.weight`).dtype === 'F32') expect(same(got, q.qdq), `${f} ${layer}`).toBe(true);
          // the independent reader, from the tensors and the config alone
          if (st) expect(same(decodeFpLayer(st, layer, qc), q.qdq), `${f} ${layer} (independent reader)`).toBe(true);
          if (q.scheme.act_bits < 16) {
            const [, inF] = q.shape;
            const x = Float32Array.from({ length: 3 * inF }, () => (rng() - 0.5) * 4);
            expect(w.activations, `${f}: activations`).toBeDefined();
            expect(same(w.activations!(layer, x, 3, inF), quantizeActivation(x, 3, inF, q.scheme, q.actMax)), `${f} ${layer} activations`).toBe(true);
          }
        }
        if (q0(res.qdq).scheme.act_bits >= 16) expect(w.activations).toBeUndefined();
        const r = bench.run();
        // identical weights and activation quantization: identical perplexity, to the printed digit and beyond
        expect(r.perplexity.toFixed(4), f).toBe(memory.perplexity.toFixed(4));
        expect(r.nll, f).toBe(memory.nll);
        expect(folderPerplexity(registry, dir, backend, text, { seqlen: 128 }).nll).toBe(r.nll);
        model.checkpoint.close();
      }
    });
  }
});

function q0(m: ReadonlyMap<string, QuantizedWeight>): QuantizedWeight {
  return m.values().next().value!;
}

describe('formats that cannot hold a floating-point scheme say so, naming the flag, before any work', () => {
  it('llm_compressor refuses MXINT4, the rounded-up MX activations and activations of another type', () => {
    expect(llmCompressorExporter.check(presetScheme('MXINT4'), 'llm_compressor')).toMatch(/not data_type "mx_int"/);
    expect(llmCompressorExporter.check(presetScheme('MXFP4_RCEIL'), 'llm_compressor')).toMatch(/mx_fp_rceil.*no compressed-tensors setting/);
    expect(llmCompressorExporter.check({ ...presetScheme('MXFP4'), act_data_type: 'fp', act_bits: 8 }, 'llm_compressor')).toMatch(/activations of the weights' type/);
    expect(llmCompressorExporter.check(presetScheme('NVFP4'), 'llm_compressor')).toBeNull();
    // NVFP4_E5M3 has the original's nvfp4-e5m3-pack-quantized; MXINT4 has no compressed-tensors format
    expect(llmCompressorExporter.check(presetScheme('NVFP4_E5M3'), 'llm_compressor')).toBeNull();
    expect(ctFormatOf(presetScheme('NVFP4_E5M3'))).toBe('nvfp4-e5m3-pack-quantized');
    expect(ctFormatOf(presetScheme('MXINT4'))).toBeNull();
    expect(llmCompressorExporter.check(presetScheme('INT8'), 'llm_compressor')).toBeNull();
    expect(llmCompressorExporter.check(completeScheme({ bits: 4, group_size: 32, data_type: 'mx_fp', act_bits: 16 }), 'llm_compressor')).toBeNull();
  });

  it.skipIf(!HAS_SHARED)('auto_gptq with MXFP4 and auto_awq with NVFP4: E_FORMAT naming --format, nothing written', async () => {
    for (const [scheme, format, want] of [
      ['MXFP4', 'auto_gptq', /^--format auto_gptq: auto_gptq stores integer weight-only schemes .*data_type "mx_fp"/],
      ['NVFP4', 'auto_awq', /^--format auto_awq: auto_awq stores integer weight-only schemes .*data_type "nv_fp"/],
      ['NVFP4', 'auto_round:auto_gptq', /^--format auto_round:auto_gptq: packing "auto_round:auto_gptq" stores integer schemes, not data_type "nv_fp"/],
      ['FP8_STATIC', 'auto_round:llm_compressor', /holds MX and NVFP4 schemes, not fp8_e4m3/],
    ] as const) {
      const out = join(work.dir, `bad-${scheme}-${format}`);
      const ar = new AutoRound(STORIES, { scheme, iters: 0, log: silentLogger, discoverPlugins: false });
      const e = await ar.quantizeAndSave(out, { format }).then(
        () => null,
        (err: unknown) => err as { code?: string; message: string },
      );
      expect(e?.code, `${scheme} ${format}`).toBe('E_FORMAT');
      expect(e?.message, `${scheme} ${format}`).toMatch(want);
      expect(() => readFileSync(join(out, 'config.json')), `${scheme} ${format}`).toThrow();
    }
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('issue acceptance: MXFP4 and NVFP4 (W4A4) on stories260K, auto_round and llm_compressor exported, read back, evaluated = the in-memory QDQ model'), () => {
  const text = HAS_SHARED ? readFileSync(TINYSTORIES, 'utf8').slice(0, 2500) : '';
  for (const scheme of ['MXFP4', 'NVFP4']) {
    it(`${scheme}: calibrated RTN (iters 0)`, async () => {
      const out = join(work.dir, `accept-${scheme}`);
      const ar = new AutoRound(STORIES, { scheme, iters: 0, nsamples: 4, seqlen: 64, dataset: `${TINYSTORIES}:concat`, log: silentLogger, discoverPlugins: false, plugins: [signround], skipSanityCheck: true });
      const res = await ar.quantizeAndSave(out, { format: ['auto_round', 'llm_compressor', 'fake'], keepQdq: true });
      const registry = await ar.registry();
      const backend = await ar.backend();
      const bench = new PerplexityBench(registry, await ar.load(), backend, text, { seqlen: 256 });
      const memory = bench.runQuantized(res.qdq);
      // W4A4: the activation quantization is part of the measured model
      const weightOnly = bench.run(inMemory((await ar.load()).checkpoint, new Map([...res.qdq].map(([k, q]) => [k, { ...q, scheme: { ...q.scheme, act_bits: 16 } }]))));
      expect(memory.perplexity).not.toBe(weightOnly.perplexity);
      const lines = [`stories260K ${scheme}: in-memory QDQ ${memory.perplexity.toFixed(4)} (weights only ${weightOnly.perplexity.toFixed(4)})`];
      for (const f of ['auto_round', 'llm_compressor', 'fake']) {
        const r = folderPerplexity(registry, join(out, f), backend, text, { seqlen: 256 });
        expect(r.tokens, f).toBe(memory.tokens);
        expect(r.perplexity.toFixed(4), f).toBe(memory.perplexity.toFixed(4));
        expect(r.nll, f).toBe(memory.nll);
        lines.push(`${f} ${r.perplexity.toFixed(4)}`);
      }
      const qc = JSON.parse(readFileSync(join(out, 'auto_round', 'config.json'), 'utf8')).quantization_config;
      expect(qc.packing_format).toBe('auto_round:llm_compressor');
      expect([qc.act_bits, qc.act_data_type, qc.act_group_size, qc.act_dynamic]).toEqual(scheme === 'MXFP4' ? [4, 'mx_fp', 32, true] : [4, 'nv_fp4_with_static_gs', 16, true]);
      const ct = JSON.parse(readFileSync(join(out, 'llm_compressor', 'config.json'), 'utf8')).quantization_config;
      expect(ct.format).toBe(scheme === 'MXFP4' ? 'mxfp4-pack-quantized' : 'nvfp4-pack-quantized');
      expect(ct.config_groups.group_0.input_activations).toMatchObject(scheme === 'MXFP4' ? { num_bits: 4, type: 'float', strategy: 'group', group_size: 32, dynamic: true } : { num_bits: 4, type: 'float', strategy: 'tensor_group', group_size: 16, dynamic: 'local' });
      console.log(lines.join(', '));
    });
  }
});

describe('FP8_BLOCK (128×128 weight blocks, dynamic activations in groups of 128)', () => {
  it('auto_round and llm_compressor: block scales [out/128, in/128], group_size [128, 128] / strategy block, read back bit for bit', async () => {
    const demo = join(work.dir, 'demo-block');
    writeDemoModel(demo, { hidden: 128, intermediate: 256, layers: 1, heads: 4, kvHeads: 4 });
    const out = join(work.dir, 'fp8-block');
    const ar = new AutoRound(demo, { scheme: 'FP8_BLOCK', iters: 1, algorithm: 'fp-qdq-test', log: silentLogger, discoverPlugins: false, plugins: [testPlugin], skipSanityCheck: true });
    const res = await ar.quantizeAndSave(out, { format: ['auto_round', 'llm_compressor'], keepQdq: true });
    expect(res.qdq.size).toBe(7);
    const registry = await createRegistry({ discover: false });
    for (const f of ['auto_round', 'llm_compressor']) {
      const dir = join(out, f);
      const st = readSafetensors(dir);
      const qc = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).quantization_config;
      if (f === 'auto_round') expect([qc.packing_format, qc.group_size, qc.act_group_size, qc.act_dynamic]).toEqual(['auto_round:fp8_static', [128, 128], 128, true]);
      else expect(qc.config_groups.group_0.weights).toMatchObject({ strategy: 'block', block_structure: [128, 128], type: 'float', num_bits: 8 });
      expect(st.get('model.layers.0.mlp.down_proj.weight_scale')!.shape).toEqual([1, 2]); // [128, 256] in 128×128 blocks
      expect(st.get('model.layers.0.mlp.down_proj.weight')!.dtype).toBe('F8_E4M3');
      const model = openModel(registry, dir);
      const w = weightsOf(registry, model);
      for (const [layer, q] of res.qdq) {
        expect(same(w.readFloat32(`${layer}.weight`).data, q.qdq), `${f} ${layer}`).toBe(true);
        expect(same(decodeFpLayer(st, layer, qc), q.qdq), `${f} ${layer} (independent reader)`).toBe(true);
      }
      const x = Float32Array.from({ length: 2 * 256 }, (_, i) => Math.sin(i) * 3);
      expect(same(w.activations!('model.layers.0.mlp.down_proj', x, 2, 256), quantizeActivation(x, 2, 256, res.qdq.get('model.layers.0.mlp.down_proj')!.scheme))).toBe(true);
      model.checkpoint.close();
    }
  });
});
