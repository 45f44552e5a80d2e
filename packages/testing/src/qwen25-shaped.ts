// A Qwen2.5-0.5B-shaped checkpoint with random weights, for the whole-model benchmark (issue #20, item 3;
// docs/perf/whole-model.md): the real model's config.json fields, tensor names, shapes and dtype (bf16, tied
// embeddings, q/k/v biases), seeded random values of a trained projection's scale (σ ≈ 0.02) so that
// activations stay finite through 24 blocks, a small byte-fallback BPE tokenizer the pipeline accepts, and a
// calibration text file whose lines tokenize to at least `seqlen` tokens. Smaller shapes through the options
// let a test run the same code in milliseconds.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShardedSafetensorsWriter } from '@autoround/core-tensor';

export interface Qwen25ShapedOptions {
  /** Decoder blocks written (the real model has 24; the benchmark writes the first N for SignRound). */
  layers?: number;
  hidden?: number;
  intermediate?: number;
  heads?: number;
  kvHeads?: number;
  vocab?: number;
  seed?: number;
  /** Shard size cap in bytes (default: one shard, as the real model's single model.safetensors). */
  maxShardBytes?: number;
}

/** Qwen/Qwen2.5-0.5B's shapes (its config.json). */
export const QWEN25_05B = { layers: 24, hidden: 896, intermediate: 4864, heads: 14, kvHeads: 2, vocab: 151936 } as const;

export interface Qwen25ShapedResult {
  config: Record<string, unknown>;
  /** Parameters written (the tied lm_head counted once, as in the file). */
  params: number;
  /** Bytes of tensor data written (bf16: 2 per parameter). */
  bytes: number;
}

// the tokenizer's pieces: 26 letters, their 676 pairs (one merge each) and the word boundary
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/**
 * A SentencePiece-style BPE (byte fallback, `▁` for spaces) over letters and letter pairs, padded with
 * unused pieces to `vocab` entries. Words of random letters tokenize to about 700 distinct ids: the
 * benchmark measures shapes, not language, and the tokenizer stays small to write and to load.
 */
export function qwen25ShapedTokenizer(vocab: number): { tokenizer: unknown; tokenizerConfig: unknown } {
  const v: Record<string, number> = {};
  let id = 0;
  const put = (piece: string) => {
    if (!(piece in v)) v[piece] = id++;
  };
  for (const s of SPECIALS) put(s);
  for (let b = 0; b < 256; b++) put(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  put('\u2581');
  for (const a of LETTERS) put(a);
  const merges: string[] = [];
  for (const a of LETTERS) for (const b of LETTERS) {
    put(a + b);
    merges.push(`${a} ${b}`);
  }
  if (id > vocab) throw new Error(`qwen25ShapedTokenizer: vocab ${vocab} is below the ${id} pieces the tokenizer needs`);
  for (let i = id; i < vocab; i++) v[`\u2581unused${i}`] = i;
  const special = (content: string) => ({ id: v[content]!, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    tokenizer: {
      version: '1.0',
      added_tokens: SPECIALS.map(special),
      normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
      pre_tokenizer: null,
      post_processor: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: true, vocab: v, merges },
    },
    tokenizerConfig: { bos_token: null, eos_token: '<|endoftext|>', pad_token: '<|endoftext|>', add_bos_token: false, add_eos_token: false, model_max_length: 32768 },
  };
}

/** xorshift32 bits; two 16-bit halves summed give a triangular draw (cheap enough for half a billion values). */
function stream(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** `n` bf16 values (bit patterns), triangular on [−2.45σ, 2.45σ] (standard deviation σ), rounded to nearest even. */
function bf16Random(n: number, sigma: number, next: () => number): Uint16Array {
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  // the sum of two uniforms on [0, 1) minus 1 has σ = 1/√6
  const k = (sigma * Math.sqrt(6)) / 65536;
  for (let i = 0; i < n; i++) {
    const r = next();
    f[0] = ((r & 0xffff) + (r >>> 16) - 65535) * k;
    const x = u[0]!;
    out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

const BF16_ONE = 0x3f80;

/** Writes config.json, the bf16 safetensors, the tokenizer files and generation_config.json into `dir`. */
export function writeQwen25Shaped(dir: string, options: Qwen25ShapedOptions = {}): Qwen25ShapedResult {
  const L = options.layers ?? QWEN25_05B.layers;
  const H = options.hidden ?? QWEN25_05B.hidden;
  const I = options.intermediate ?? QWEN25_05B.intermediate;
  const heads = options.heads ?? QWEN25_05B.heads;
  const kvHeads = options.kvHeads ?? QWEN25_05B.kvHeads;
  const V = options.vocab ?? QWEN25_05B.vocab;
  if (H % heads !== 0 || heads % kvHeads !== 0) throw new Error(`writeQwen25Shaped: hidden ${H}, ${heads} heads and ${kvHeads} KV heads do not divide`);
  const headDim = H / heads;
  mkdirSync(dir, { recursive: true });
  const { tokenizer, tokenizerConfig } = qwen25ShapedTokenizer(V);
  const eos = 0; // <|endoftext|>, the first special
  const config: Record<string, unknown> = {
    architectures: ['Qwen2ForCausalLM'],
    attention_dropout: 0,
    bos_token_id: eos,
    eos_token_id: eos,
    hidden_act: 'silu',
    hidden_size: H,
    initializer_range: 0.02,
    intermediate_size: I,
    max_position_embeddings: 32768,
    max_window_layers: L,
    model_type: 'qwen2',
    num_attention_heads: heads,
    num_hidden_layers: L,
    num_key_value_heads: kvHeads,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    sliding_window: 32768,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: V,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: eos, eos_token_id: eos, do_sample: false }, null, 2) + '\n');
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');

  const next = stream(options.seed ?? 20250);
  const w = new ShardedSafetensorsWriter(dir, options.maxShardBytes ? { maxShardBytes: options.maxShardBytes } : {});
  let params = 0;
  const add = (name: string, shape: number[], fill: 'random' | 'ones') => {
    const n = shape.reduce((a, b) => a * b, 1);
    w.add(name, 'BF16', shape, fill === 'ones' ? new Uint16Array(n).fill(BF16_ONE) : bf16Random(n, 0.02, next));
    params += n;
  };
  try {
    add('model.embed_tokens.weight', [V, H], 'random');
    for (let l = 0; l < L; l++) {
      const p = `model.layers.${l}`;
      add(`${p}.input_layernorm.weight`, [H], 'ones');
      add(`${p}.self_attn.q_proj.weight`, [heads * headDim, H], 'random');
      add(`${p}.self_attn.q_proj.bias`, [heads * headDim], 'random');
      add(`${p}.self_attn.k_proj.weight`, [kvHeads * headDim, H], 'random');
      add(`${p}.self_attn.k_proj.bias`, [kvHeads * headDim], 'random');
      add(`${p}.self_attn.v_proj.weight`, [kvHeads * headDim, H], 'random');
      add(`${p}.self_attn.v_proj.bias`, [kvHeads * headDim], 'random');
      add(`${p}.self_attn.o_proj.weight`, [H, heads * headDim], 'random');
      add(`${p}.post_attention_layernorm.weight`, [H], 'ones');
      add(`${p}.mlp.gate_proj.weight`, [I, H], 'random');
      add(`${p}.mlp.up_proj.weight`, [I, H], 'random');
      add(`${p}.mlp.down_proj.weight`, [H, I], 'random');
    }
    add('model.norm.weight', [H], 'ones');
    w.close();
  } catch (e) {
    w.abort();
    throw e;
  }
  return { config, params, bytes: params * 2 };
}

/**
 * A calibration file (`{"text": …}` per line) of `lines` texts of random words that each tokenize, with
 * qwen25ShapedTokenizer, to at least `minTokens` tokens (a word of k letter pairs is k tokens, its space one).
 */
export function writeQwen25ShapedCalibration(file: string, lines: number, minTokens: number, seed = 7): void {
  const next = stream(seed);
  const out: string[] = [];
  for (let l = 0; l < lines; l++) {
    const words: string[] = [];
    let tokens = 0;
    // a margin of 5% over minTokens: a text must not fall short of seqlen
    while (tokens < minTokens * 1.05 + 8) {
      const pairs = 1 + (next() % 4);
      let word = '';
      for (let k = 0; k < pairs; k++) {
        const r = next();
        word += LETTERS[r % 26]! + LETTERS[(r >>> 8) % 26]!;
      }
      words.push(word);
      tokens += pairs + 1;
    }
    out.push(JSON.stringify({ text: words.join(' ') }));
  }
  writeFileSync(file, out.join('\n') + '\n');
}
