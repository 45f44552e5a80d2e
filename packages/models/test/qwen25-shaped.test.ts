import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, bf16BitsToF32 } from '@autoround/core-tensor';
import { Registry, type ModelSpec } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { tempDir, writeQwen25Shaped, writeQwen25ShapedCalibration } from '@autoround/testing';
import modelsPlugin, { LlamaModel, loadTokenizer, readConfig } from '../src/index.js';

// The whole-model benchmark's generator (@autoround/testing's writeQwen25Shaped, docs/perf/whole-model.md) at a toy
// size: what it writes must load as a Qwen2 model, run finitely, and tokenize its calibration text to full samples;
// the lazy block loading SignRound uses must give the same logits as a model loaded whole.

const be = jsBackend.create({});
const registry = new Registry().use(modelsPlugin);
const TOY = { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2, vocab: 1024 };

describe('the Qwen2.5-0.5B-shaped generator at a toy size', () => {
  const { dir, cleanup } = tempDir('qwen25-shaped-');
  afterAll(cleanup);
  let spec: ModelSpec;
  let ids: Int32Array;
  beforeAll(() => {
    writeQwen25Shaped(dir, TOY);
    writeQwen25ShapedCalibration(join(dir, 'calib.jsonl'), 3, 96);
    const config = readConfig(dir);
    spec = registry.architecture(config.architectures![0]!, dir).describe(config, dir);
    const text = (JSON.parse(readFileSync(join(dir, 'calib.jsonl'), 'utf8').split('\n')[0]!) as { text: string }).text;
    ids = Int32Array.from(loadTokenizer(dir).encode(text, { addSpecialTokens: false }).slice(0, 96));
  });

  it('writes a Qwen2 config, bf16 tensors with q/k/v biases and tied embeddings (no lm_head), σ ≈ 0.02', () => {
    const c = readConfig(dir) as Record<string, unknown>;
    expect(c).toMatchObject({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', num_hidden_layers: 2, tie_word_embeddings: true, torch_dtype: 'bfloat16', rms_norm_eps: 1e-6, rope_theta: 1000000 });
    expect(spec.blocks).toHaveLength(2);
    const ck = Checkpoint.open(dir);
    expect(ck.names).not.toContain('lm_head.weight');
    expect(ck.info('model.layers.1.self_attn.k_proj.bias')).toMatchObject({ dtype: 'BF16', shape: [32] });
    expect(ck.info('model.layers.0.mlp.down_proj.weight')).toMatchObject({ dtype: 'BF16', shape: [64, 128] });
    const up = ck.read('model.layers.0.mlp.up_proj.weight').data as Uint16Array;
    let s2 = 0;
    let s1 = 0;
    for (const b of up) {
      const v = bf16BitsToF32(b);
      s1 += v;
      s2 += v * v;
    }
    const sd = Math.sqrt(s2 / up.length - (s1 / up.length) ** 2);
    expect(sd).toBeGreaterThan(0.019);
    expect(sd).toBeLessThan(0.021);
    ck.close();
  });

  it('the calibration text tokenizes to at least the asked length, in the vocabulary, varied', () => {
    expect(ids.length).toBe(96);
    expect(Math.max(...ids)).toBeLessThan(TOY.vocab);
    expect(new Set(ids).size).toBeGreaterThan(40);
  });

  it('loads and runs finitely; lazily loaded blocks (also after releaseBlock) give the same logits', () => {
    const ck = Checkpoint.open(dir);
    const whole = registry.architecture('Qwen2ForCausalLM', dir).load(spec, ck, be) as LlamaModel;
    const lazy = registry.architecture('Qwen2ForCausalLM', dir).load(spec, ck, be, { lazyBlocks: true }) as LlamaModel;
    expect(lazy.blocks.every((b) => b === undefined)).toBe(true);
    const want = whole.forward(ids);
    expect(want.every(Number.isFinite)).toBe(true);
    expect(lazy.forward(ids)).toEqual(want);
    lazy.releaseBlock(0);
    expect(lazy.blocks[0]).toBeUndefined();
    expect(lazy.forward(ids)).toEqual(want);
    // a model loaded whole keeps its blocks
    whole.releaseBlock(0);
    expect(whole.blocks[0]).toBeDefined();
    ck.close();
  });
});
