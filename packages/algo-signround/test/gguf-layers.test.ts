// GGUF output honours the layer selection: --fp_layers / --ignore_layers keep a layer in full
// precision (F16 in the file), --layer_config gives a layer its own GGUF type, and every algorithm
// quantizes the layer to the type the file stores.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, memoryLogger } from '@autoround/autoround';
import { Checkpoint, ShardedSafetensorsWriter, f32ToBf16Bits } from '@autoround/core-tensor';
import { readConfig } from '@autoround/core';
import gguf, { exportGguf, ggufFileOf, readGguf, readGgufWeights } from '@autoround/export-gguf';
import { GGMLType, ggmlTypeName, ggufQdq } from '@autoround/quant-types';
import signround from '../src/index.js';
import { HAS_SHARED, LLAMA256, SHARED, STORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());
const C4 = join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl');

const SELECTION = {
  ignoreLayers: 'model.layers.0.mlp.down_proj,lm_head',
  layerConfig: { 'model.layers.1.self_attn.q_proj': 'GGUF:Q8_0', 'model.layers.2.mlp.up_proj': { bits: 6 }, 'model.layers.3.self_attn.o_proj': { bits: 16 } },
};

/** GGUF tensor name → type name. */
function types(file: string): Map<string, string> {
  return new Map(readGguf(file).tensors.map((t) => [t.name, ggmlTypeName(t.type)]));
}

describe.skipIf(!HAS_SHARED)(needsShared('GGUF output honours --fp_layers / --ignore_layers / --layer_config (llama-256)'), () => {
  const run = async (name: string, format: string, o: { iters: number; disableOptRtn?: boolean; nsamples?: number; seqlen?: number }, selection: object = SELECTION) => {
    const log = memoryLogger();
    const ar = new AutoRound(LLAMA256, { ...o, ...selection, dataset: C4, batchSize: 4, log, discoverPlugins: false, plugins: [signround, gguf] });
    const out = join(work.dir, name);
    const res = await ar.quantizeAndSave(out, { format, keepQdq: true });
    return { log, res, file: ggufFileOf(out, readConfig(out)) };
  };

  it('plain RTN: full-precision layers are F16, layer_config entries get their type, every other tensor keeps the Q4_K_M mix', async () => {
    const base = await run('mix', 'gguf:q4_k_m', { iters: 0, disableOptRtn: true }, {});
    const sel = await run('sel', 'gguf:q4_k_m', { iters: 0, disableOptRtn: true });
    const want: Record<string, string> = {
      'blk.0.ffn_down.weight': 'F16',
      'output.weight': 'F16',
      'blk.3.attn_output.weight': 'F16',
      'blk.1.attn_q.weight': 'Q8_0',
      'blk.2.ffn_up.weight': 'Q6_K',
    };
    const a = types(base.file);
    const b = types(sel.file);
    expect(a.get('output.weight')).toBe('Q6_K');
    expect([a.get('blk.0.ffn_down.weight'), a.get('blk.3.attn_v.weight'), b.get('blk.3.attn_v.weight')]).toEqual(['Q4_K', 'Q6_K', 'Q6_K']);
    for (const [n, t] of b) expect(`${n} ${t}`).toBe(`${n} ${want[n] ?? a.get(n)}`);
    expect(sel.log.lines.some((l) => /5 tensors typed by the layer selection \(--fp_layers \/ --layer_config\)/.test(l))).toBe(true);
    // the algorithm quantized the overridden layers to the file's types; full-precision layers are the source in F16
    expect(sel.res.qdq.has('model.layers.0.mlp.down_proj')).toBe(false);
    expect(sel.res.qdq.has('lm_head')).toBe(false);
    expect(sel.res.qdq.get('model.layers.1.self_attn.q_proj')!.blocks!.type).toBe('Q8_0');
    const back = readGgufWeights(sel.file);
    for (const l of ['model.layers.1.self_attn.q_proj', 'model.layers.2.mlp.up_proj', 'model.layers.0.self_attn.v_proj']) expect(sel.res.qdq.get(l)!.qdq, l).toEqual(back.readFloat32(`${l}.weight`).data);
    const src = Checkpoint.open(LLAMA256);
    for (const n of ['model.layers.0.mlp.down_proj.weight', 'lm_head.weight']) {
      const w = src.readFloat32(n).data;
      const r = back.readFloat32(n).data;
      let worst = 0;
      for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(r[i]! - w[i]!) / Math.max(Math.abs(w[i]!), 6e-5));
      expect(worst, n).toBeLessThan(1e-3); // F16 rounding only
    }
    src.close();
  });

  it('Q8_0 and F16 from --layer_config in a float file; --quant_lm_head keeps lm_head in the mix', async () => {
    const f16 = await run('f16', 'gguf:f16', { iters: 0, disableOptRtn: true }, { layerConfig: { 'model.layers.0.mlp.gate_proj': 'GGUF:Q8_0' } });
    const t = types(f16.file);
    expect([t.get('blk.0.ffn_gate.weight'), t.get('blk.0.ffn_up.weight'), t.get('output.weight')]).toEqual(['Q8_0', 'F16', 'F16']);
    const head = await run('head', 'gguf:q3_k_m', { iters: 0, disableOptRtn: true }, { quantLmHead: true });
    expect(types(head.file).get('output.weight')).toBe('Q6_K');
    expect(head.res.qdq.get('lm_head')!.blocks!.type).toBe('Q6_K');
  });

  it('optimized RTN and tuning quantize overridden layers to their own type with the importance matrix; full-precision layers stay out', async () => {
    for (const [name, o] of [
      ['opt', { iters: 0, nsamples: 4, seqlen: 32 }],
      ['tuned', { iters: 4, nsamples: 4, seqlen: 32 }],
    ] as const) {
      const r = await run(name, 'gguf:q2_k_s', o);
      const t = types(r.file);
      expect([t.get('blk.0.ffn_down.weight'), t.get('output.weight'), t.get('blk.1.attn_q.weight'), t.get('blk.2.ffn_up.weight'), t.get('blk.1.ffn_up.weight')], name).toEqual(['F16', 'F16', 'Q8_0', 'Q6_K', 'Q2_K']);
      const q = r.res.qdq.get('model.layers.2.mlp.up_proj')!;
      expect(q.blocks!.type).toBe('Q6_K');
      expect(q.imatrix).toBeInstanceOf(Float32Array);
      expect(q.qdq).toEqual(readGgufWeights(r.file).readFloat32('model.layers.2.mlp.up_proj.weight').data);
      expect(r.log.lines.some((l) => /0 quantized from float weights/.test(l)), name).toBe(true);
    }
  });
});

/** The largest |a − b| / max(|b|, 6e-5) (F16 rounding gives < 1e-3). */
function worstRelative(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 6e-5));
  return worst;
}

describe.skipIf(!HAS_SHARED)(needsShared('GGUF output: --fp_layers / --layer_config name the token embedding (token_embd.weight)'), () => {
  const run = async (model: string, name: string, format: string, selection: object, o: object = { iters: 0, disableOptRtn: true }) => {
    const log = memoryLogger();
    const ar = new AutoRound(model, { ...o, ...selection, dataset: C4, batchSize: 4, log, discoverPlugins: false, plugins: [signround, gguf] });
    const out = join(work.dir, name);
    const res = await ar.quantizeAndSave(out, { format, keepQdq: true });
    return { log, res, file: ggufFileOf(out, readConfig(out)) };
  };
  /**
   * For each case (output name, layer selection, expected type): the file types `ggufName` as expected and every
   * other tensor as in `base`; `hfName` read back is within F16 rounding of the float weight `w` or, for a
   * quantized type, llama.cpp's quantizer of that type on it.
   */
  const expectNamedTensorTypes = async (
    model: string,
    ggufName: string,
    hfName: string,
    w: { data: Float32Array; out: number; inF: number },
    base: Map<string, string>,
    cases: [string, object, string][],
  ) => {
    for (const [name, selection, want] of cases) {
      const r = await run(model, name, 'gguf:q4_k_m', selection);
      for (const [n, t] of types(r.file)) expect(`${name} ${n} ${t}`).toBe(`${name} ${n} ${n === ggufName ? want : base.get(n)}`);
      const back = readGgufWeights(r.file).readFloat32(hfName).data;
      if (want === 'F16') expect(worstRelative(back, w.data), name).toBeLessThan(1e-3);
      else expect(back, name).toEqual(ggufQdq(w.data, w.out, w.inF, GGMLType[want as keyof typeof GGMLType]));
    }
  };
  const embedOf = (model: string) => {
    const src = Checkpoint.open(model);
    const w = src.readFloat32('model.embed_tokens.weight');
    src.close();
    return { data: w.data, out: w.shape[0]!, inF: w.shape[1]! };
  };

  it('llama-256 (untied): unnamed, the file is byte for byte the llama.cpp mix; embed_tokens in --fp_layers is F16, in --layer_config its type (bits by the file suffix), nothing else moves', async () => {
    const base = await run(LLAMA256, 'e-base', 'gguf:q4_k_m', {});
    const ref = join(work.dir, 'e-ref.gguf');
    await exportGguf({ modelDir: LLAMA256, outFile: ref, fileType: 'Q4_K_M' });
    expect(readFileSync(base.file).equals(readFileSync(ref))).toBe(true);
    expect(base.res.qdq.has('model.embed_tokens')).toBe(false);
    const a = types(base.file);
    expect([a.get('token_embd.weight'), a.get('output.weight')]).toEqual(['Q4_K', 'Q6_K']);
    const w = embedOf(LLAMA256);
    const cases: [string, object, string][] = [
      ['e-fp', { ignoreLayers: 'embed_tokens' }, 'F16'],
      ['e-q8', { layerConfig: { 'model.embed_tokens': 'GGUF:Q8_0' } }, 'Q8_0'],
      ['e-b6', { layerConfig: { embed_tokens: { bits: 6 } } }, 'Q6_K'],
      ['e-b8', { layerConfig: { embed_tokens: { bits: 8 } } }, 'Q8_0'],
      ['e-b16', { layerConfig: { embed_tokens: { bits: 16 } } }, 'F16'],
    ];
    for (const [name, selection, want] of cases) {
      const r = await run(LLAMA256, name, 'gguf:q4_k_m', selection);
      const b = types(r.file);
      for (const [n, t] of b) expect(`${name} ${n} ${t}`).toBe(`${name} ${n} ${n === 'token_embd.weight' ? want : a.get(n)}`);
      expect(r.log.lines.some((l) => /1 tensor typed by the layer selection .*token_embd\.weight/.test(l)), name).toBe(true);
      const back = readGgufWeights(r.file).readFloat32('model.embed_tokens.weight').data;
      if (want === 'F16') {
        expect(worstRelative(back, w.data), name).toBeLessThan(1e-3);
        expect(r.res.qdq.has('model.embed_tokens'), name).toBe(false);
      } else {
        // llama.cpp's quantizer of that type on the float weight, no importance matrix
        expect(back, name).toEqual(ggufQdq(w.data, w.out, w.inF, GGMLType[want as keyof typeof GGMLType]));
        const q = r.res.qdq.get('model.embed_tokens')!;
        expect(q.blocks!.type, name).toBe(want);
        expect(q.qdq, name).toEqual(back);
      }
    }
  });

  it('llama-256: optimized RTN and tuning quantize the named embedding from its weight alone (no importance matrix, never tuned)', async () => {
    const w = embedOf(LLAMA256);
    for (const [name, o] of [
      ['e-opt', { iters: 0, nsamples: 4, seqlen: 32 }],
      ['e-tuned', { iters: 2, nsamples: 4, seqlen: 32 }],
    ] as const) {
      const r = await run(LLAMA256, name, 'gguf:q4_k_s', { layerConfig: { embed_tokens: 'GGUF:Q5_K_S' } }, o);
      expect(types(r.file).get('token_embd.weight'), name).toBe('Q5_K');
      const q = r.res.qdq.get('model.embed_tokens')!;
      expect(q.imatrix, name).toBeUndefined();
      expect(q.qdq, name).toEqual(ggufQdq(w.data, w.out, w.inF, GGMLType.Q5_K));
      expect(readGgufWeights(r.file).readFloat32('model.embed_tokens.weight').data, name).toEqual(q.qdq);
      expect(r.log.lines.some((l) => /0 quantized from float weights/.test(l)), name).toBe(true);
    }
  });

  it('stories260K: config.json ties the embeddings but the checkpoint holds lm_head.weight, so the file has output.weight and token_embd follows its own rule', async () => {
    const base = await run(STORIES, 's-base', 'gguf:q4_k_m', {});
    const a = types(base.file);
    expect([a.get('token_embd.weight'), a.get('output.weight')]).toEqual(['Q5_0', 'Q8_0']); // Q4_K → Q5_0 on 64 columns; the output rule → Q8_0
    const w = embedOf(STORIES);
    await expectNamedTensorTypes(STORIES, 'token_embd.weight', 'model.embed_tokens.weight', w, a, [
      ['s-fp', { ignoreLayers: 'model.embed_tokens' }, 'F16'],
      ['s-q8', { layerConfig: { embed_tokens: { bits: 8 } } }, 'Q8_0'],
    ]);
  });

  it('stories260K: its lm_head.weight (written as output.weight) can be named although config.json ties the embeddings', async () => {
    const base = types((await run(STORIES, 'h-base', 'gguf:q4_k_m', {})).file);
    const src = Checkpoint.open(STORIES);
    const head = src.readFloat32('lm_head.weight');
    src.close();
    await expectNamedTensorTypes(STORIES, 'output.weight', 'lm_head.weight', { data: head.data, out: head.shape[0]!, inF: head.shape[1]! }, base, [
      ['h-q4', { layerConfig: { lm_head: 'GGUF:Q4_0' } }, 'Q4_0'],
      ['h-fp', { ignoreLayers: 'lm_head' }, 'F16'],
    ]);
  });

  it('tied for real (stories260K without lm_head.weight, embeddings in BF16): token_embd is the output matrix; naming embed_tokens replaces the output rule, row fallback included', async () => {
    // the stories260K checkpoint without lm_head.weight, its embeddings stored in BF16
    const dir = join(work.dir, 'stories-tied');
    mkdirSync(dir);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(STORIES, f), join(dir, f));
    const src = Checkpoint.open(STORIES);
    const wr = new ShardedSafetensorsWriter(dir);
    for (const n of src.names) {
      if (n === 'lm_head.weight') continue;
      const t = src.readFloat32(n);
      if (n === 'model.embed_tokens.weight') wr.add(n, 'BF16', t.shape, Uint16Array.from(t.data, (v) => f32ToBf16Bits(v)));
      else wr.add(n, 'F32', t.shape, t.data);
    }
    wr.close();
    src.close();
    const base = await run(dir, 't-base', 'gguf:q4_k_m', {});
    const ref = join(work.dir, 't-ref.gguf');
    await exportGguf({ modelDir: dir, outFile: ref, fileType: 'Q4_K_M' });
    expect(readFileSync(base.file).equals(readFileSync(ref))).toBe(true);
    const a = types(base.file);
    expect([a.get('token_embd.weight'), a.has('output.weight')]).toEqual(['Q8_0', false]); // the output rule: 64 columns → Q8_0
    const w = embedOf(dir);
    const cases: [string, object, string][] = [
      ['t-fp', { ignoreLayers: 'embed_tokens' }, 'BF16'],
      ['t-q40', { layerConfig: { embed_tokens: 'GGUF:Q4_0' } }, 'Q4_0'],
      // 5 bits in a Q4_K_M file → Q5_K, whose 256-element blocks do not divide 64 columns → Q5_1 (llama-quantize's fallback)
      ['t-b5', { layerConfig: { 'model.embed_tokens': { bits: 5 } } }, 'Q5_1'],
      // the run's own scheme (4 bits in Q4_K_M) leaves the tensor to the mix: the output rule
      ['t-b4', { layerConfig: { embed_tokens: { bits: 4 } } }, 'Q8_0'],
    ];
    for (const [name, selection, want] of cases) {
      const r = await run(dir, name, 'gguf:q4_k_m', selection);
      const b = types(r.file);
      for (const [n, t] of b) expect(`${name} ${n} ${t}`).toBe(`${name} ${n} ${n === 'token_embd.weight' ? want : a.get(n)}`);
      const back = readGgufWeights(r.file).readFloat32('model.embed_tokens.weight').data;
      if (want === 'BF16') expect(back, name).toEqual(w.data); // the checkpoint's own BF16 values
      else {
        expect(back, name).toEqual(ggufQdq(w.data, w.out, w.inF, GGMLType[want as keyof typeof GGMLType]));
        expect(r.res.qdq.get('model.embed_tokens')!.qdq, name).toEqual(back);
      }
    }
    // lm_head has no tensor of its own
    await expect(run(dir, 't-head', 'gguf:q4_k_m', { layerConfig: { lm_head: 'GGUF:Q8_0' } })).rejects.toThrow(
      /"lm_head" matches no quantizable layer: the model ties lm_head to the embeddings \(tie_word_embeddings\); embed_tokens names model\.embed_tokens/,
    );
  });

  it('other formats keep the embedding in full precision: a quantized --layer_config entry for it is an error, --fp_layers a warning', async () => {
    await expect(run(STORIES, 'n-lc', 'fake', { layerConfig: { embed_tokens: { bits: 8 } } })).rejects.toThrow(
      /--layer_config: "embed_tokens" names the token embedding \(model\.embed_tokens\), which only GGUF output \(every --format gguf:\*\) quantizes/,
    );
    // with a GGUF file beside another format, too
    await expect(run(STORIES, 'n-mixed', 'gguf:q8_0,fake', { layerConfig: { embed_tokens: 'GGUF:Q4_0' } })).rejects.toThrow(/names the token embedding/);
    const log = memoryLogger();
    const ar = new AutoRound(STORIES, { iters: 0, disableOptRtn: true, ignoreLayers: 'embed_tokens', log, discoverPlugins: false, plugins: [signround, gguf] });
    const res = await ar.quantizeAndSave(join(work.dir, 'n-fp'), { format: 'fake' });
    expect(res.quantizedLayers + res.fullPrecisionLayers).toBe(35); // the block linears only
    expect(log.lines.some((l) => /--fp_layers \/ --ignore_layers embed_tokens: the token embedding \(model\.embed_tokens\) stays in full precision: only GGUF output/.test(l))).toBe(true);
  });
});
