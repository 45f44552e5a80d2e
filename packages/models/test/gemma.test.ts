import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, Graph } from '@autoround/core-tensor';
import { Registry, type HFConfig } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { argmax, relErr, HAS_SHARED, gemmaReference, needsShared, readTensors64, greedyOfForward, tempDir, thrown, writeDenseFixture } from '@autoround/testing';
import modelsPlugin, { GemmaModel, loadTokenizer, readConfig } from '../src/index.js';

// Gemma 2 and Gemma 3 (text) against an independent float64 forward written from transformers' modeling
// files (@autoround/testing's gemmaReference) on small random checkpoints with the real configs' fields.

const be = jsBackend.create({});
const registry = new Registry().use(modelsPlugin);

for (const family of ['gemma2', 'gemma3'] as const) {
  describe.skipIf(!HAS_SHARED)(needsShared(`${family} fixture against the float64 reference`), () => {
    const { dir, cleanup } = tempDir(`${family}-`);
    afterAll(cleanup);
    let config: HFConfig;
    let model: GemmaModel;
    let prompt: number[];
    beforeAll(() => {
      writeDenseFixture(dir, family);
      config = readConfig(dir);
      const arch = registry.architecture(config.architectures![0]!, dir);
      model = arch.load(arch.describe(config, dir), Checkpoint.open(dir), be) as GemmaModel;
      prompt = loadTokenizer(dir).encode('Once upon a time, there was a little girl named Lily. She liked to play outside in the park with her dog. One day, she saw a big red ball under a tree.');
    });

    it('the fixture has the real configuration\'s fields and tensors', () => {
      const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(c.query_pre_attn_scalar).toBe(32);
      expect(c.sliding_window).toBe(24);
      expect(model.dims.sliding).toEqual([true, false, true, false]);
      expect(model.spec.blocks[0]!.norms).toEqual(
        family === 'gemma3'
          ? ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm', 'self_attn.q_norm', 'self_attn.k_norm']
          : ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm'],
      );
      expect(prompt.length).toBeGreaterThan(24); // longer than the window
    });

    it('float32 forward equals the float64 reference to 1e-5 (relative, on logits)', () => {
      const want = gemmaReference(config, readTensors64(dir), prompt);
      const got = model.forward(Int32Array.from(prompt));
      const err = relErr(got, want);
      console.log(`${family}: forward vs float64 reference, max |Δ| / max |logit| = ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-5);
    });

    it('the window and the soft-caps change the logits (the reference is not blind to them)', () => {
      const t = readTensors64(dir);
      const base = gemmaReference(config, t, prompt);
      expect(relErr(gemmaReference({ ...config, sliding_window: 4096 }, t, prompt), base)).toBeGreaterThan(1e-3);
      if (family === 'gemma2') expect(relErr(gemmaReference({ ...config, attn_logit_softcapping: null }, t, prompt), base)).toBeGreaterThan(1e-3);
      if (family === 'gemma2') expect(relErr(gemmaReference({ ...config, final_logit_softcapping: null }, t, prompt), base)).toBeGreaterThan(1e-3);
      if (family === 'gemma3') expect(relErr(gemmaReference({ ...config, rope_local_base_freq: 1e6 }, t, prompt), base)).toBeGreaterThan(1e-3);
    });

    it('the tuning graph runs the same block: blockGraph equals blockForward on every layer (batch 2, past the window), headGraph equals head', () => {
      const T = prompt.length;
      const H = model.dims.hidden;
      const x1 = model.embedTokens(Int32Array.from(prompt));
      const x2 = model.embedTokens(Int32Array.from([...prompt].reverse()));
      const g = new Graph(be);
      for (let i = 0; i < model.numBlocks; i++) {
        const both = new Float32Array(2 * T * H);
        both.set(x1);
        both.set(x2, T * H);
        const y = model.blockGraph(g, g.input(both, [2 * T, H]), i, {}, 2, T);
        const want = new Float32Array(2 * T * H);
        want.set(model.blockForward(i, x1, T));
        want.set(model.blockForward(i, x2, T), T * H);
        expect(relErr(y.data, want), `layer ${i}`).toBeLessThan(1e-5);
      }
      const logits = model.headGraph(g, g.input(x1, [T, H]));
      expect(relErr(logits.data, model.head(x1, T))).toBeLessThan(1e-6);
    });

    it('greedy generation (key/value-cache decoder) equals the reference\'s, past the window', () => {
      const n = 20;
      const t = readTensors64(dir);
      const want = greedyOfForward((ids) => gemmaReference(config, t, ids), model.dims.vocab, prompt, n);
      const dec = model.decoder(128, 1);
      let logits = dec.prefill(Int32Array.from(prompt)).subarray((prompt.length - 1) * model.dims.vocab);
      const got: number[] = [];
      for (let i = 0; i < n; i++) {
        got.push(argmax(logits));
        logits = dec.step(got[i]!);
      }
      expect(got).toEqual(want);
      // and decoding equals the whole-sequence forward
      const all = [...prompt, ...got];
      const fwd = model.forward(Int32Array.from(all));
      const V = model.dims.vocab;
      const dec2 = model.decoder(128, 1);
      const stepped = dec2.prefill(Int32Array.from(all));
      expect(relErr(stepped, fwd)).toBeLessThan(1e-5);
      expect(fwd.length).toBe(all.length * V);
    });
  });
}

describe('Gemma configs we do not implement are errors naming the field', () => {
  const base = (over: Record<string, unknown>): HFConfig => ({
    architectures: ['Gemma2ForCausalLM'], model_type: 'gemma2', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
    num_attention_heads: 2, num_key_value_heads: 1, head_dim: 32, vocab_size: 512, sliding_window: 16, ...over,
  });
  const describeIt = (c: HFConfig) => registry.architecture(c.architectures![0]!, 'x/config.json').describe(c, 'x/config.json');
  it('hidden_activation', () => {
    expect(thrown(() => describeIt(base({ hidden_activation: 'relu' }))).message).toMatch(/"hidden_activation" "relu" is not supported/);
  });
  it('rope_scaling on Gemma 2, an unknown rope type on Gemma 3', () => {
    expect(thrown(() => describeIt(base({ rope_scaling: { rope_type: 'linear', factor: 2 } }))).message).toMatch(/"rope_scaling"/);
    const c = base({ architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', rope_scaling: { rope_type: 'dynamic', factor: 2 } });
    const arch = registry.architecture('Gemma3ForCausalLM', 'x');
    const spec = arch.describe(c, 'x/config.json');
    const ck = { has: () => false, readFloat32: () => { throw new Error('not reached'); } };
    expect(thrown(() => arch.load(spec, ck, be)).message).toMatch(/rope_scaling type "dynamic" is not supported/);
  });
  it('layer_types entries', () => {
    expect(thrown(() => describeIt(base({ layer_types: ['sliding_attention', 'chunked_attention'] }))).message).toMatch(/"layer_types"\[1\] "chunked_attention"/);
  });
  it('an architecture nobody registers names itself and the supported list', () => {
    const e = thrown(() => registry.architecture('Gemma3ForConditionalGeneration', 'x/config.json'));
    expect(e.message).toMatch(/Gemma3ForConditionalGeneration/);
    expect(e.message).toMatch(/Gemma2ForCausalLM/);
    expect(e.message).toMatch(/Gemma3ForCausalLM/);
  });
});
