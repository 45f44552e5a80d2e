import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShardedSafetensorsWriter, mulberry32, writing } from '@autoround/core-tensor';

// the demo model is the same on every machine: its weights come from a seeded mulberry32 stream
export { mulberry32 };

export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/** Text the demo evaluates on (any text works: the weights are random). */
export const DEMO_TEXT = `Once upon a time, in a small town by the sea, there lived an old clockmaker. Every morning he opened his shop, wound the clocks on the wall, and listened to them tick together like a quiet orchestra. Children came by after school to watch him work. He showed them how each gear turned the next one, and how a tiny spring could keep time for a hundred years if it was cared for.
One winter the great clock in the town square stopped. The mayor asked the clockmaker to fix it before the new year. He climbed the tower with his tools, and the children waited below in the snow. After many hours the hands began to move again, and the bells rang out across the harbour. Everyone cheered, and the old man smiled, because he knew that every small part had done its job.
`;

const CHARS = ' abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?\'"-:;()\n';

function demoTokenizer(): { json: object; config: object; vocabSize: number } {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  let id = 259;
  for (const c of CHARS.replace(' ', '\u2581')) if (!(c in vocab)) vocab[c] = id++;
  const special = (i: number, content: string) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: [] },
  };
  const config = { add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', legacy: true, model_max_length: 512, tokenizer_class: 'LlamaTokenizer' };
  return { json, config, vocabSize: id };
}

export interface DemoModelOptions {
  seed?: number;
  hidden?: number;
  intermediate?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
}

/**
 * Writes a small LLaMA-shaped checkpoint with seeded random weights and a character-level
 * tokenizer: a model folder to try the toolkit on with nothing downloaded.
 */
export function writeDemoModel(dir: string, options: DemoModelOptions = {}): void {
  const hidden = options.hidden ?? 128;
  const inter = options.intermediate ?? 384;
  const layers = options.layers ?? 2;
  const heads = options.heads ?? 4;
  const kvHeads = options.kvHeads ?? 2;
  const hd = hidden / heads;
  const tok = demoTokenizer();
  const vocab = Math.ceil(tok.vocabSize / 32) * 32;
  mkdirSync(dir, { recursive: true });
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: hd,
    vocab_size: vocab,
    max_position_embeddings: 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
  // a full disk names the file (writeFileSync's own error does not)
  const put = (name: string, text: string) => writing(join(dir, name), () => writeFileSync(join(dir, name), text));
  put('config.json', JSON.stringify(config, null, 2) + '\n');
  put('tokenizer.json', JSON.stringify(tok.json));
  put('tokenizer_config.json', JSON.stringify(tok.config, null, 2) + '\n');
  const g = gaussian(mulberry32(options.seed ?? 1234));
  const randn = (n: number, std: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = g() * std;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const w = new ShardedSafetensorsWriter(dir);
  w.add('model.embed_tokens.weight', 'F32', [vocab, hidden], randn(vocab * hidden, 0.5));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    w.add(`${p}.input_layernorm.weight`, 'F32', [hidden], ones(hidden));
    w.add(`${p}.self_attn.q_proj.weight`, 'F32', [hidden, hidden], randn(hidden * hidden, 0.08));
    w.add(`${p}.self_attn.k_proj.weight`, 'F32', [kvHeads * hd, hidden], randn(kvHeads * hd * hidden, 0.08));
    w.add(`${p}.self_attn.v_proj.weight`, 'F32', [kvHeads * hd, hidden], randn(kvHeads * hd * hidden, 0.08));
    w.add(`${p}.self_attn.o_proj.weight`, 'F32', [hidden, hidden], randn(hidden * hidden, 0.08));
    w.add(`${p}.post_attention_layernorm.weight`, 'F32', [hidden], ones(hidden));
    w.add(`${p}.mlp.gate_proj.weight`, 'F32', [inter, hidden], randn(inter * hidden, 0.08));
    w.add(`${p}.mlp.up_proj.weight`, 'F32', [inter, hidden], randn(inter * hidden, 0.08));
    w.add(`${p}.mlp.down_proj.weight`, 'F32', [hidden, inter], randn(hidden * inter, 0.05));
  }
  w.add('model.norm.weight', 'F32', [hidden], ones(hidden));
  w.add('lm_head.weight', 'F32', [vocab, hidden], randn(vocab * hidden, 0.05));
  w.close();
}
