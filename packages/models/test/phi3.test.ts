import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, Graph } from '@autoround/core-tensor';
import { Registry, type HFConfig } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { argmax, relErr, HAS_SHARED, needsShared, phi3Reference, readTensors64, greedyOfForward, tempDir, thrown, writeDenseFixture } from '@autoround/testing';
import modelsPlugin, { loadTokenizer, Phi3Model, readConfig } from '../src/index.js';

// Phi-3 against an independent float64 forward written from transformers' modeling_phi3.py
// (@autoround/testing's phi3Reference) on a small random checkpoint with the real config's fields: fused
// qkv_proj and gate_up_proj, partial rotary (0.75), LongRoPE with short and long factors.

const be = jsBackend.create({});
const registry = new Registry().use(modelsPlugin);

describe.skipIf(!HAS_SHARED)(needsShared('phi3 fixture against the float64 reference'), () => {
  const { dir, cleanup } = tempDir('phi3-');
  afterAll(cleanup);
  let config: HFConfig;
  let model: Phi3Model;
  let prompt: number[];
  let long: number[];
  beforeAll(() => {
    writeDenseFixture(dir, 'phi3');
    config = readConfig(dir);
    const arch = registry.architecture('Phi3ForCausalLM', dir);
    model = arch.load(arch.describe(config, dir), Checkpoint.open(dir), be) as Phi3Model;
    const tok = loadTokenizer(dir);
    prompt = tok.encode('Once upon a time, there was a little girl named Lily. She liked to play outside in the park.');
    const story = 'Once upon a time, there was a little girl named Lily. She liked to play outside in the park with her dog. One day, she saw a big red ball under a tree. She ran to get it, but the ball rolled away into the pond. Lily was sad. ';
    long = tok.encode(story.repeat(4));
  });

  it('describes the fused linears as the single linears they are', () => {
    expect(model.spec.blocks[0]!.linears.map((l) => `${l.name}:${l.outFeatures}x${l.inFeatures}`)).toEqual(['self_attn.qkv_proj:256x128', 'self_attn.o_proj:128x128', 'mlp.gate_up_proj:512x128', 'mlp.down_proj:128x256']);
    expect(prompt.length).toBeLessThanOrEqual(44);
    expect(long.length).toBeGreaterThan(256); // past original_max_position_embeddings: the long factors
  });

  for (const which of ['short', 'long'] as const) {
    it(`float32 forward equals the float64 reference to 1e-5 (relative, on logits), ${which} factors`, () => {
      const ids = which === 'short' ? prompt : long;
      const want = phi3Reference(config, readTensors64(dir), ids);
      const got = model.forward(Int32Array.from(ids));
      const err = relErr(got, want);
      console.log(`phi3 (${which} factors, ${ids.length} tokens): forward vs float64 reference, max |Δ| / max |logit| = ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-5);
    });
  }

  it('LongRoPE and the partial rotary change the logits (the reference is not blind to them)', () => {
    const t = readTensors64(dir);
    const base = phi3Reference(config, t, long);
    expect(relErr(phi3Reference({ ...config, original_max_position_embeddings: 1024 }, t, long), base)).toBeGreaterThan(1e-3);
    expect(relErr(phi3Reference({ ...config, partial_rotary_factor: 1, rope_scaling: null }, t, long), base)).toBeGreaterThan(1e-3);
  });

  it("greedy generation (key/value-cache decoder) equals the reference's", () => {
    const n = 20;
    const t = readTensors64(dir);
    const want = greedyOfForward((ids) => phi3Reference(config, t, ids), model.dims.vocab, prompt, n);
    const dec = model.decoder(128, 1);
    let logits = dec.prefill(Int32Array.from(prompt)).subarray((prompt.length - 1) * model.dims.vocab);
    const got: number[] = [];
    for (let i = 0; i < n; i++) {
      got.push(argmax(logits));
      logits = dec.step(got[i]!);
    }
    expect(got).toEqual(want);
  });

  it('the tuning graph runs the same block (blockGraph equals blockForward, batch 2, both factor sets)', () => {
    const g = new Graph(be);
    const H = model.dims.hidden;
    for (const ids of [prompt, long]) {
      const T = ids.length;
      const x1 = model.embedTokens(Int32Array.from(ids));
      const x2 = model.embedTokens(Int32Array.from([...ids].reverse()));
      for (let i = 0; i < model.numBlocks; i++) {
        const both = new Float32Array(2 * T * H);
        both.set(x1);
        both.set(x2, T * H);
        const y = model.blockGraph(g, g.input(both, [2 * T, H]), i, {}, 2, T);
        const want = new Float32Array(2 * T * H);
        want.set(model.blockForward(i, x1, T));
        want.set(model.blockForward(i, x2, T), T * H);
        expect(relErr(y.data, want), `layer ${i}, ${T} tokens`).toBeLessThan(1e-5);
      }
    }
  });
});

describe('Phi-3 configs we do not implement are errors naming the field', () => {
  const base = (over: Record<string, unknown>): HFConfig => ({
    architectures: ['Phi3ForCausalLM'], model_type: 'phi3', hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1,
    num_attention_heads: 2, vocab_size: 512, max_position_embeddings: 256, original_max_position_embeddings: 64,
    rope_scaling: { type: 'longrope', short_factor: Array(16).fill(1), long_factor: Array(16).fill(2) }, ...over,
  });
  const load = (c: HFConfig) => {
    const arch = registry.architecture('Phi3ForCausalLM', 'x');
    const spec = arch.describe(c, 'x/config.json');
    return () => arch.load(spec, { has: () => false, readFloat32: () => { throw new Error('not reached'); } }, be);
  };
  it('an unknown rope scaling type', () => {
    expect(thrown(load(base({ rope_scaling: { type: 'dynamic', factor: 2 } }))).message).toMatch(/rope_scaling type "dynamic" is not supported/);
  });
  it('LongRoPE factors of the wrong length, a missing original_max_position_embeddings', () => {
    expect(thrown(load(base({ rope_scaling: { type: 'longrope', short_factor: [1, 1], long_factor: Array(16).fill(2) } }))).message).toMatch(/"rope_scaling.short_factor" must be 16 positive numbers/);
    expect(thrown(load(base({ original_max_position_embeddings: undefined }))).message).toMatch(/"original_max_position_embeddings"/);
  });
  it('hidden_act, attention_bias', () => {
    expect(thrown(() => registry.architecture('Phi3ForCausalLM', 'x').describe(base({ hidden_act: 'gelu' }), 'x/config.json')).message).toMatch(/"hidden_act" "gelu"/);
    expect(thrown(() => registry.architecture('Phi3ForCausalLM', 'x').describe(base({ attention_bias: true }), 'x/config.json')).message).toMatch(/"attention_bias"/);
  });
});
