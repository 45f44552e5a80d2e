// Small synthetic Hugging Face checkpoints (random weights) for Qwen2, Qwen3 and Llama-3-style models.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, ShardedSafetensorsWriter } from '@autoround/core-tensor';
import { memoryLogger, presetScheme, readConfig, type ExportContext, type ModelSpec } from '@autoround/core';
import { mulberry32 as rng, randn } from '@autoround/testing';

export { rng, randn };

/** The context the host hands the GGUF exporter for a model folder (a Q4_K_M run unless `format` says otherwise). */
export function exportContext(modelDir: string, outDir: string, format: string, quantArgs: Record<string, unknown> = {}): ExportContext & { log: ReturnType<typeof memoryLogger> } {
  const config = readConfig(modelDir);
  return {
    format,
    dir: outDir,
    sourceDir: modelDir,
    spec: { architecture: config.architectures![0]! } as unknown as ModelSpec,
    config,
    checkpoint: Checkpoint.open(modelDir),
    scheme: presetScheme('GGUF:Q4_K_M'),
    layerSchemes: new Map(),
    quantArgs,
    maxShardBytes: 5e9,
    log: memoryLogger(),
  };
}

/** GPT-2's bytes_to_unicode: the printable stand-in of every byte. */
export function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out: string[] = new Array(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
}

/** A byte-level BPE tokenizer.json: 256 byte symbols, a few merges, special and user tokens. */
export function gpt2Tokenizer(pattern: string): { json: object; nTokens: number } {
  const vocab: Record<string, number> = {};
  byteToUnicode().forEach((c, i) => (vocab[c] = i));
  const merges: [string, string][] = [
    ['Ġ', 't'],
    ['h', 'e'],
    ['Ġt', 'he'],
    ['i', 'n'],
  ];
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
  const base = Object.keys(vocab).length;
  const added = [
    { id: base, content: '<|endoftext|>', special: true },
    { id: base + 1, content: '<|im_start|>', special: true },
    { id: base + 2, content: '<|im_end|>', special: true },
    { id: base + 3, content: '<tool>', special: false },
  ].map((a) => ({ ...a, single_word: false, lstrip: false, rstrip: false, normalized: false }));
  const json = {
    version: '1.0',
    added_tokens: added,
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    // the newer tokenizers format: merges as pairs
    model: { type: 'BPE', dropout: null, unk_token: null, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
  return { json, nTokens: base + added.length };
}

export const QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
export const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

export interface SynthModel {
  kind: 'qwen2' | 'qwen3' | 'llama3';
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  inter: number;
  layers: number;
  vocab: number;
  tied: boolean;
}

/** Writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json into dir. */
export function writeSynthModel(dir: string, m: SynthModel, seed = 1): Map<string, Float32Array> {
  mkdirSync(dir, { recursive: true });
  const r = rng(seed);
  const arch = { qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', llama3: 'LlamaForCausalLM' }[m.kind];
  const config: Record<string, unknown> = {
    architectures: [arch],
    model_type: m.kind === 'llama3' ? 'llama' : m.kind,
    hidden_size: m.hidden,
    intermediate_size: m.inter,
    num_hidden_layers: m.layers,
    num_attention_heads: m.heads,
    num_key_value_heads: m.kvHeads,
    head_dim: m.headDim,
    vocab_size: m.vocab,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-6,
    rope_theta: m.kind === 'llama3' ? 500000 : 1000000,
    tie_word_embeddings: m.tied,
    bos_token_id: 256 + 4,
    eos_token_id: 256 + 4 + 2,
  };
  if (m.kind === 'llama3') config.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const tok = gpt2Tokenizer(m.kind === 'llama3' ? LLAMA3_PATTERN : QWEN2_PATTERN);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.json));
  const eot = 256 + 4;
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      bos_token: m.kind === 'llama3' ? '<|endoftext|>' : null,
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
      unk_token: null,
      chat_template: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
    }),
  );
  void eot;
  const tensors = new Map<string, Float32Array>();
  const add = (name: string, shape: number[], data?: Float32Array) => tensors.set(name, data ?? randn(shape.reduce((a, b) => a * b, 1), r));
  const shapes = new Map<string, number[]>();
  const t = (name: string, shape: number[], data?: Float32Array) => {
    add(name, shape, data);
    shapes.set(name, shape);
  };
  const ones = (n: number) => new Float32Array(n).map(() => 1 + 0.1 * (r() - 0.5));
  t('model.embed_tokens.weight', [m.vocab, m.hidden]);
  for (let l = 0; l < m.layers; l++) {
    const p = `model.layers.${l}`;
    t(`${p}.input_layernorm.weight`, [m.hidden], ones(m.hidden));
    t(`${p}.self_attn.q_proj.weight`, [m.heads * m.headDim, m.hidden]);
    t(`${p}.self_attn.k_proj.weight`, [m.kvHeads * m.headDim, m.hidden]);
    t(`${p}.self_attn.v_proj.weight`, [m.kvHeads * m.headDim, m.hidden]);
    if (m.kind === 'qwen2') {
      t(`${p}.self_attn.q_proj.bias`, [m.heads * m.headDim]);
      t(`${p}.self_attn.k_proj.bias`, [m.kvHeads * m.headDim]);
      t(`${p}.self_attn.v_proj.bias`, [m.kvHeads * m.headDim]);
    }
    if (m.kind === 'qwen3') {
      t(`${p}.self_attn.q_norm.weight`, [m.headDim], ones(m.headDim));
      t(`${p}.self_attn.k_norm.weight`, [m.headDim], ones(m.headDim));
    }
    t(`${p}.self_attn.o_proj.weight`, [m.hidden, m.heads * m.headDim]);
    t(`${p}.post_attention_layernorm.weight`, [m.hidden], ones(m.hidden));
    t(`${p}.mlp.gate_proj.weight`, [m.inter, m.hidden]);
    t(`${p}.mlp.up_proj.weight`, [m.inter, m.hidden]);
    t(`${p}.mlp.down_proj.weight`, [m.hidden, m.inter]);
    t(`${p}.self_attn.rotary_emb.inv_freq`, [m.headDim / 2]);
  }
  t('model.norm.weight', [m.hidden], ones(m.hidden));
  if (!m.tied) t('lm_head.weight', [m.vocab, m.hidden]);
  const w = new ShardedSafetensorsWriter(dir, { maxShardBytes: 4_000_000 });
  for (const [name, data] of tensors) w.add(name, 'F32', shapes.get(name)!, data);
  w.close();
  return tensors;
}

/** Byte equality of two typed arrays (vitest's deep equality is slow on large ones). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
