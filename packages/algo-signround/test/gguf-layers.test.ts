// GGUF output honours the layer selection: --fp_layers / --ignore_layers keep a layer in full
// precision (F16 in the file), --layer_config gives a layer its own GGUF type, and every algorithm
// quantizes the layer to the type the file stores.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, memoryLogger } from '@autoround/autoround';
import { Checkpoint } from '@autoround/core-tensor';
import gguf, { ggmlTypeName, ggufFileOf, readConfig, readGguf, readGgufWeights, type GgufExtra } from '@autoround/export-gguf';
import signround from '../src/index.js';
import { HAS_SHARED, LLAMA256, SHARED, tempDir } from '../../../tools/testing/fixtures.js';

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

describe.skipIf(!HAS_SHARED)('GGUF output honours --fp_layers / --ignore_layers / --layer_config (llama-256)', () => {
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
    expect((sel.res.qdq.get('model.layers.1.self_attn.q_proj')!.extra!.gguf as GgufExtra).typeName).toBe('Q8_0');
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
    expect((head.res.qdq.get('lm_head')!.extra!.gguf as GgufExtra).typeName).toBe('Q6_K');
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
      expect((q.extra!.gguf as GgufExtra).typeName).toBe('Q6_K');
      expect(q.extra!.imatrix).toBeInstanceOf(Float32Array);
      expect(q.qdq).toEqual(readGgufWeights(r.file).readFloat32('model.layers.2.mlp.up_proj.weight').data);
      expect(r.log.lines.some((l) => /0 quantized from float weights/.test(l)), name).toBe(true);
    }
  });
});
