// Small checkpoints of the dense families beyond LLaMA (docs/models/fixtures.md): the real config's field
// names and tensor names, seeded random weights (mulberry32), stories260K's tokenizer. Deterministic: the
// same family and seed write the same bytes.

import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShardedSafetensorsWriter, mulberry32 } from '@autoround/core-tensor';
import { STORIES } from './fixtures.js';

export type DenseFamily = 'gemma2' | 'gemma3' | 'phi3' | 'mistral';

export interface DenseFixtureOptions {
  seed?: number;
  /** Extra or replaced config.json fields. */
  config?: Record<string, unknown>;
}

const VOCAB = 512; // stories260K's tokenizer
const HIDDEN = 128;
const INTER = 256;
const LAYERS = 4;
const HEADS = 4;
const KV_HEADS = 2;
const HEAD_DIM = 32;

/** The config.json of a family's fixture (transformers' field names). */
export function denseFixtureConfig(family: DenseFamily): Record<string, unknown> {
  const common = {
    hidden_size: HIDDEN,
    intermediate_size: INTER,
    num_hidden_layers: LAYERS,
    num_attention_heads: HEADS,
    num_key_value_heads: KV_HEADS,
    head_dim: HEAD_DIM,
    vocab_size: VOCAB,
    max_position_embeddings: 512,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    torch_dtype: 'float32',
  };
  switch (family) {
    case 'gemma2':
      return {
        architectures: ['Gemma2ForCausalLM'],
        model_type: 'gemma2',
        ...common,
        rms_norm_eps: 1e-6,
        rope_theta: 10000,
        hidden_activation: 'gelu_pytorch_tanh',
        hidden_act: 'gelu_pytorch_tanh',
        query_pre_attn_scalar: HEAD_DIM,
        // smaller than the real 50 / 30 so that random weights reach the tanh's curve
        attn_logit_softcapping: 2,
        final_logit_softcapping: 5,
        sliding_window: 24,
        attention_bias: false,
        tie_word_embeddings: true,
        cache_implementation: 'hybrid',
      };
    case 'gemma3':
      return {
        architectures: ['Gemma3ForCausalLM'],
        model_type: 'gemma3_text',
        ...common,
        rms_norm_eps: 1e-6,
        rope_theta: 1000000,
        rope_local_base_freq: 10000,
        rope_scaling: null,
        hidden_activation: 'gelu_pytorch_tanh',
        query_pre_attn_scalar: HEAD_DIM,
        attn_logit_softcapping: null,
        final_logit_softcapping: null,
        sliding_window: 24,
        sliding_window_pattern: 2,
        attention_bias: false,
        tie_word_embeddings: true,
      };
    case 'phi3':
      return {
        architectures: ['Phi3ForCausalLM'],
        model_type: 'phi3',
        ...common,
        head_dim: undefined,
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        partial_rotary_factor: 0.75,
        hidden_act: 'silu',
        // llama.cpp picks LongRoPE's factors by its context size, which it pads to a multiple of 256: an original
        // length of 256 lets both pick the short factors up to 256 tokens and the long ones past them
        max_position_embeddings: 2048,
        original_max_position_embeddings: 256,
        rope_scaling: {
          type: 'longrope',
          short_factor: Array.from({ length: 12 }, (_, i) => 1 + i * 0.05),
          long_factor: Array.from({ length: 12 }, (_, i) => 1 + i * 0.4),
        },
        sliding_window: null,
        attention_bias: false,
        tie_word_embeddings: false,
      };
    case 'mistral':
      return {
        architectures: ['MistralForCausalLM'],
        model_type: 'mistral',
        ...common,
        rms_norm_eps: 1e-5,
        rope_theta: 10000,
        hidden_act: 'silu',
        sliding_window: 24,
        tie_word_embeddings: false,
      };
  }
}

/** Standard normal draws from a mulberry32 stream (Box–Muller). */
function gaussian(r: () => number): () => number {
  return () => {
    const u = 1 - r();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  };
}

/**
 * Writes config.json, model.safetensors (F32) and stories260K's tokenizer files into `dir`: the tensors
 * the family's Hugging Face modeling file reads, with seeded random values.
 */
export function writeDenseFixture(dir: string, family: DenseFamily, options: DenseFixtureOptions = {}): Record<string, unknown> {
  const config = { ...denseFixtureConfig(family), ...options.config };
  for (const [k, v] of Object.entries(config)) if (v === undefined) delete config[k];
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) if (existsSync(join(STORIES, f))) copyFileSync(join(STORIES, f), join(dir, f));
  const g = gaussian(mulberry32(options.seed ?? 20260));
  const randn = (n: number, std: number, mean = 0) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = mean + g() * std;
    return a;
  };
  const H = HIDDEN;
  const q = HEADS * HEAD_DIM;
  const kv = KV_HEADS * HEAD_DIM;
  const w = new ShardedSafetensorsWriter(dir);
  const gemma = family === 'gemma2' || family === 'gemma3';
  // Gemma's norms multiply by 1 + w: weights near 0; the others' near 1
  const norm = (name: string, n: number) => w.add(name, 'F32', [n], gemma ? randn(n, 0.1) : randn(n, 0.1, 1));
  w.add('model.embed_tokens.weight', 'F32', [VOCAB, H], randn(VOCAB * H, gemma ? 0.06 : 0.5));
  for (let l = 0; l < LAYERS; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm.weight`, H);
    if (family === 'phi3') {
      w.add(`${p}.self_attn.qkv_proj.weight`, 'F32', [q + 2 * kv, H], randn((q + 2 * kv) * H, 0.08));
    } else {
      w.add(`${p}.self_attn.q_proj.weight`, 'F32', [q, H], randn(q * H, 0.08));
      w.add(`${p}.self_attn.k_proj.weight`, 'F32', [kv, H], randn(kv * H, 0.08));
      w.add(`${p}.self_attn.v_proj.weight`, 'F32', [kv, H], randn(kv * H, 0.08));
    }
    w.add(`${p}.self_attn.o_proj.weight`, 'F32', [H, q], randn(H * q, 0.08));
    if (family === 'gemma3') {
      norm(`${p}.self_attn.q_norm.weight`, HEAD_DIM);
      norm(`${p}.self_attn.k_norm.weight`, HEAD_DIM);
    }
    norm(`${p}.post_attention_layernorm.weight`, H);
    if (gemma) {
      norm(`${p}.pre_feedforward_layernorm.weight`, H);
      norm(`${p}.post_feedforward_layernorm.weight`, H);
    }
    if (family === 'phi3') {
      w.add(`${p}.mlp.gate_up_proj.weight`, 'F32', [2 * INTER, H], randn(2 * INTER * H, 0.08));
    } else {
      w.add(`${p}.mlp.gate_proj.weight`, 'F32', [INTER, H], randn(INTER * H, 0.08));
      w.add(`${p}.mlp.up_proj.weight`, 'F32', [INTER, H], randn(INTER * H, 0.08));
    }
    w.add(`${p}.mlp.down_proj.weight`, 'F32', [H, INTER], randn(H * INTER, 0.06));
  }
  norm('model.norm.weight', H);
  if (config.tie_word_embeddings === false) w.add('lm_head.weight', 'F32', [VOCAB, H], randn(VOCAB * H, 0.05));
  w.close();
  return config;
}
