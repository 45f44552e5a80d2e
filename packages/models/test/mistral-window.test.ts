import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, Graph } from '@autoround/core-tensor';
import { Registry, type HFConfig } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { relErr, HAS_SHARED, mistralReference, needsShared, readTensors64, greedyOfForward, tempDir, thrown, writeDenseFixture } from '@autoround/testing';
import modelsPlugin, { describeLlama, LlamaModel, loadTokenizer, readConfig } from '../src/index.js';

// Mistral's sliding window (docs/models/sliding-window.md), ignored before: the forward, decoding and the
// tuning graph against an independent float64 forward of modeling_mistral.py, on a fixture whose window (24)
// is shorter than the sequences.

const be = jsBackend.create({});
const registry = new Registry().use(modelsPlugin);

describe.skipIf(!HAS_SHARED)(needsShared('Mistral sliding window against the float64 reference'), () => {
  const { dir, cleanup } = tempDir('mistral-');
  afterAll(cleanup);
  let config: HFConfig;
  let model: LlamaModel;
  let prompt: number[];
  const load = (c: HFConfig) => new LlamaModel(describeLlama(c, dir), Checkpoint.open(dir), be);
  beforeAll(() => {
    writeDenseFixture(dir, 'mistral');
    config = readConfig(dir);
    model = load(config);
    prompt = loadTokenizer(dir).encode('Once upon a time, there was a little girl named Lily. She liked to play outside in the park with her dog. One day, she saw a big red ball under a tree.');
  });

  it('float32 forward equals the float64 reference to 1e-5 past the window, and the window matters', () => {
    expect(prompt.length).toBeGreaterThan(24);
    const t = readTensors64(dir);
    const want = mistralReference(config, t, prompt);
    const err = relErr(model.forward(Int32Array.from(prompt)), want);
    console.log(`mistral (window 24, ${prompt.length} tokens): forward vs float64 reference, max |Δ| / max |logit| = ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-5);
    expect(relErr(mistralReference({ ...config, sliding_window: null }, t, prompt), want)).toBeGreaterThan(1e-3);
  });

  it('a window no shorter than the sequence changes nothing (the same bytes as no window)', () => {
    const ids = Int32Array.from(prompt);
    const none = load({ ...config, sliding_window: null }).forward(ids);
    expect(Buffer.from(load({ ...config, sliding_window: prompt.length }).forward(ids).buffer)).toEqual(Buffer.from(none.buffer));
  });

  it("greedy generation (key/value-cache decoder) equals the reference's", () => {
    const n = 16;
    const t = readTensors64(dir);
    const want = greedyOfForward((ids) => mistralReference(config, t, ids), model.dims.vocab, prompt, n);
    const dec = model.decoder(128, 1);
    let logits = dec.prefill(Int32Array.from(prompt)).subarray((prompt.length - 1) * model.dims.vocab);
    const got: number[] = [];
    for (let i = 0; i < n; i++) {
      let b = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[b]!) b = j;
      got.push(b);
      logits = dec.step(b);
    }
    expect(got).toEqual(want);
  });

  it('the tuning graph masks the same window (blockGraph equals blockForward)', () => {
    const T = prompt.length;
    const H = model.dims.hidden;
    const x = model.embedTokens(Int32Array.from(prompt));
    const g = new Graph(be);
    for (let i = 0; i < model.numBlocks; i++) expect(relErr(model.blockGraph(g, g.input(x, [T, H]), i, {}, 1, T).data, model.blockForward(i, x, T)), `layer ${i}`).toBeLessThan(1e-5);
  });

  it("Qwen2's use_sliding_window is an error naming the field", () => {
    const c: HFConfig = { architectures: ['Qwen2ForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 1, num_attention_heads: 2, vocab_size: 512, use_sliding_window: true, sliding_window: 16 };
    expect(thrown(() => registry.architecture('Qwen2ForCausalLM', 'x').describe(c, 'x/config.json')).message).toMatch(/"use_sliding_window": true is not supported/);
  });
});
