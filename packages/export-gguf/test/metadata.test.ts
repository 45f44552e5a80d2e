import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import { GgufMetadata, GgufValueType, TokenType, exportGguf, ggufTensorName, readGguf, readGgufTensorF32, reversePermuteRows, writeArchMetadata } from '../src/index.js';
import { GGMLType, ggmlTypeName } from '@autoround/quant-types';
import { sameBytes, writeSynthModel, type SynthModel } from './fixtures.js';
import { HAS_SHARED, STORIES, loadNodeLlamaCpp } from '@autoround/testing';

const stories = STORIES;
const haveStories = HAS_SHARED;
const tmp = mkdtempSync(join(tmpdir(), 'gguf-meta-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const { nlc } = await loadNodeLlamaCpp();

describe('the LLaMA Q/K reverse permutation (docs/formats/gguf.md#qk-reverse-permutation)', () => {
  it('moves row h·hd + i to h·hd + 2i and h·hd + hd/2 + i to h·hd + 2i + 1', () => {
    // 2 heads of head_dim 4, 3 columns: row r holds r·10 + column
    const rows = 8;
    const cols = 3;
    const w = new Float32Array(rows * cols).map((_, k) => Math.floor(k / cols) * 10 + (k % cols));
    const p = reversePermuteRows(w, rows, cols, 2);
    const rowOrder = [...Array(rows).keys()].map((r) => p[r * cols]! / 10);
    expect(rowOrder).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect([...p.subarray(3, 6)]).toEqual([20, 21, 22]);
    // a bias (one column) follows the same order
    expect([...reversePermuteRows(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]), 8, 1, 2)]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(() => reversePermuteRows(new Float32Array(6), 6, 1, 4)).toThrow(/6 rows/);
  });

  it.skipIf(!haveStories)('stories260K: attn_q/attn_k equal llama2.c’s original (interleaved) wq/wk bit for bit', async () => {
    const out = join(tmp, 's.gguf');
    await exportGguf({ modelDir: stories, outFile: out, fileType: 'F32' });
    const g = readGguf(out);
    // llama2.c .bin: 7 int32 header, then token_embedding, rms_att, wq, wk, wv, wo, … (float32)
    const bin = readFileSync(join(stories, 'llama2c/stories260K.bin'));
    const hdr = new Int32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + 28));
    const [dim, , nLayers, nHeads, nKv, vocabRaw] = hdr;
    const vocab = Math.abs(vocabRaw!);
    const kvDim = (dim! * nKv!) / nHeads!;
    const f = new Float32Array(bin.buffer.slice(bin.byteOffset + 28));
    let o = vocab * dim! + nLayers! * dim!;
    const wq = f.subarray(o, o + nLayers! * dim! * dim!);
    o += nLayers! * dim! * dim!;
    const wk = f.subarray(o, o + nLayers! * kvDim * dim!);
    for (let l = 0; l < nLayers!; l++) {
      expect(sameBytes(readGgufTensorF32(g, `blk.${l}.attn_q.weight`), wq.subarray(l * dim! * dim!, (l + 1) * dim! * dim!))).toBe(true);
      expect(sameBytes(readGgufTensorF32(g, `blk.${l}.attn_k.weight`), wk.subarray(l * kvDim * dim!, (l + 1) * kvDim * dim!))).toBe(true);
    }
    // v is not permuted: equals the HF tensor
    const ck = Checkpoint.open(stories);
    expect(sameBytes(readGgufTensorF32(g, 'blk.0.attn_v.weight'), ck.readFloat32('model.layers.0.self_attn.v_proj.weight').data)).toBe(true);
    ck.close();
  });
});

describe('tensor names', () => {
  it('maps HF names to GGUF names and drops rotary inv_freq', () => {
    expect(ggufTensorName('model.embed_tokens.weight')).toBe('token_embd.weight');
    expect(ggufTensorName('lm_head.weight')).toBe('output.weight');
    expect(ggufTensorName('model.norm.weight')).toBe('output_norm.weight');
    expect(ggufTensorName('model.layers.12.self_attn.k_norm.weight')).toBe('blk.12.attn_k_norm.weight');
    expect(ggufTensorName('model.layers.0.self_attn.v_proj.bias')).toBe('blk.0.attn_v.bias');
    expect(ggufTensorName('model.layers.3.mlp.down_proj.weight')).toBe('blk.3.ffn_down.weight');
    expect(ggufTensorName('model.layers.3.self_attn.rotary_emb.inv_freq')).toBeNull();
    expect(() => ggufTensorName('model.vision.patch_embed.weight')).toThrow(/no GGUF name/);
  });
});

describe('hyper-parameters keep llama.cpp’s key types', () => {
  it('UINT32 counts, FLOAT32 eps and theta, key_length only when needed', () => {
    const md = new GgufMetadata();
    writeArchMetadata(md, 'llama', { hidden_size: 64, num_attention_heads: 8, num_key_value_heads: 4, num_hidden_layers: 5, intermediate_size: 172, max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000 }, 512);
    expect(md.get('llama.block_count')).toEqual({ type: GgufValueType.UINT32, value: 5 });
    expect(md.get('llama.attention.layer_norm_rms_epsilon')!.type).toBe(GgufValueType.FLOAT32);
    expect(md.get('llama.rope.dimension_count')!.value).toBe(8);
    expect(md.has('llama.attention.key_length')).toBe(false);
    const q3 = new GgufMetadata();
    writeArchMetadata(q3, 'qwen3', { hidden_size: 1024, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, num_hidden_layers: 28, intermediate_size: 3072, max_position_embeddings: 40960, rms_norm_eps: 1e-6, rope_theta: 1000000 }, 151936);
    expect(q3.get('qwen3.attention.key_length')!.value).toBe(128);
    expect(q3.get('qwen3.rope.freq_base')!.value).toBe(1000000);
    expect(q3.has('qwen3.rope.dimension_count')).toBe(false);
    expect(() => writeArchMetadata(new GgufMetadata(), 'llama', { hidden_size: 64 }, 10)).toThrow(/num_attention_heads/);
  });
});

describe.skipIf(!haveStories)('SentencePiece vocabulary (stories260K)', () => {
  it('tokens, token types, special ids, flags; scores order pieces as llama2.c’s tok512 does', async () => {
    const out = join(tmp, 's2.gguf');
    await exportGguf({ modelDir: stories, outFile: out, fileType: 'Q8_0' });
    const g = readGguf(out);
    const v = (k: string) => g.metadata.get(k)?.value;
    expect(v('tokenizer.ggml.model')).toBe('llama');
    const tokens = v('tokenizer.ggml.tokens') as string[];
    const types = v('tokenizer.ggml.token_type') as Int32Array;
    expect(tokens.length).toBe(512);
    expect([tokens[0], tokens[1], tokens[2], tokens[3], tokens[258]]).toEqual(['<unk>', '<s>', '</s>', '<0x00>', '<0xFF>']);
    expect([types[0], types[1], types[2], types[3], types[300]]).toEqual([TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.BYTE, TokenType.NORMAL]);
    expect([v('tokenizer.ggml.bos_token_id'), v('tokenizer.ggml.eos_token_id'), v('tokenizer.ggml.unknown_token_id')]).toEqual([1, 2, 0]);
    expect([v('tokenizer.ggml.add_bos_token'), v('tokenizer.ggml.add_eos_token'), v('tokenizer.ggml.add_space_prefix')]).toEqual([true, false, true]);
    expect(g.metadata.get('tokenizer.ggml.bos_token_id')!.type).toBe(GgufValueType.UINT32);
    expect(v('general.file_type')).toBe(7);
    expect(v('general.quantization_version')).toBe(2);
    // tok512.bin: int max_len, then per token: float score, int len, bytes
    const bin = readFileSync(join(stories, 'llama2c/tok512.bin'));
    const ref: { piece: string; score: number }[] = [];
    for (let o = 4, i = 0; i < 512; i++) {
      const score = bin.readFloatLE(o);
      const len = bin.readInt32LE(o + 4);
      ref.push({ piece: bin.toString('utf8', o + 8, o + 8 + len).replace(/ /g, '\u2581'), score });
      o += 8 + len;
    }
    const scores = g.metadata.get('tokenizer.ggml.scores')!.value as Float32Array;
    // every pair of multi-character pieces is ordered the same way
    const pieces = [...Array(512).keys()].filter((i) => types[i] === TokenType.NORMAL && [...tokens[i]!].length > 1);
    for (const a of pieces) for (const b of pieces) if (ref[a]!.score > ref[b]!.score) expect(scores[a]).toBeGreaterThan(scores[b]!);
  });
});

const synth: Record<string, SynthModel> = {
  qwen3: { kind: 'qwen3', hidden: 256, heads: 2, kvHeads: 1, headDim: 128, inter: 512, layers: 2, vocab: 320, tied: true },
  qwen2: { kind: 'qwen2', hidden: 256, heads: 4, kvHeads: 2, headDim: 64, inter: 512, layers: 2, vocab: 320, tied: false },
  llama3: { kind: 'llama3', hidden: 256, heads: 4, kvHeads: 2, headDim: 64, inter: 512, layers: 2, vocab: 320, tied: false },
};

describe('byte-level BPE models (synthetic Qwen2, Qwen3, Llama-3)', () => {
  for (const [name, m] of Object.entries(synth)) {
    it(`${name}: names, types, tokenizer keys; llama.cpp loads it and generates`, async () => {
      const dir = join(tmp, name);
      const src = writeSynthModel(dir, m);
      const out = join(tmp, `${name}-Q4_K_M.gguf`);
      const res = await exportGguf({ modelDir: dir, outFile: out, fileType: 'Q4_K_M' });
      const g = readGguf(out);
      const v = (k: string) => g.metadata.get(k)?.value;
      const arch = m.kind === 'llama3' ? 'llama' : m.kind;
      expect(v('general.architecture')).toBe(arch);
      expect(v('tokenizer.ggml.model')).toBe('gpt2');
      expect(v('tokenizer.ggml.pre')).toBe(m.kind === 'llama3' ? 'llama-bpe' : 'qwen2');
      const tokens = v('tokenizer.ggml.tokens') as string[];
      const types = v('tokenizer.ggml.token_type') as Int32Array;
      expect(tokens.length).toBe(320);
      expect([tokens[260], types[260], tokens[263], types[263], tokens[319], types[319], types[65]]).toEqual(['<|endoftext|>', TokenType.CONTROL, '<tool>', TokenType.USER_DEFINED, '[PAD319]', TokenType.UNUSED, TokenType.NORMAL]);
      expect((v('tokenizer.ggml.merges') as string[]).slice(0, 3)).toEqual(['Ġ t', 'h e', 'Ġt he']);
      expect(g.metadata.has('tokenizer.ggml.scores')).toBe(false);
      expect([v('tokenizer.ggml.eos_token_id'), v('tokenizer.ggml.padding_token_id'), v('tokenizer.ggml.bos_token_id'), v('tokenizer.ggml.add_bos_token')]).toEqual([262, 260, 260, false]);
      expect(String(v('tokenizer.chat_template'))).toContain('<|im_start|>');
      const names = g.tensors.map((t) => t.name);
      expect(names.includes('output.weight')).toBe(!m.tied);
      expect(names.some((n) => n.includes('inv_freq'))).toBe(false);
      const typeOf = (n: string) => ggmlTypeName(g.tensors.find((t) => t.name === n)!.type);
      expect(typeOf('token_embd.weight')).toBe(m.tied ? 'Q6_K' : 'Q4_K');
      if (m.kind === 'qwen3') {
        expect(typeOf('blk.1.attn_q_norm.weight')).toBe('F32');
        expect(v('qwen3.attention.key_length')).toBe(128);
      }
      if (m.kind === 'qwen2') expect(typeOf('blk.0.attn_q.bias')).toBe('F32');
      if (m.kind === 'llama3') {
        expect(typeOf('rope_freqs.weight')).toBe('F32');
        const rf = readGgufTensorF32(g, 'rope_freqs.weight');
        expect(rf.length).toBe(32);
        expect(rf[0]).toBe(1);
        expect(rf[31]).toBe(8);
      }
      // Qwen: q_proj is written unpermuted; Llama: permuted (compare F32 exports)
      const f32 = join(tmp, `${name}-F32.gguf`);
      await exportGguf({ modelDir: dir, outFile: f32, fileType: 'F32' });
      const gq = readGgufTensorF32(readGguf(f32), 'blk.0.attn_q.weight');
      const hf = src.get('model.layers.0.self_attn.q_proj.weight')!;
      if (m.kind === 'llama3') expect(sameBytes(gq, reversePermuteRows(hf, m.heads * m.headDim, m.hidden, m.heads))).toBe(true);
      else expect(sameBytes(gq, hf)).toBe(true);
      expect(res.tensors.length).toBe(g.tensors.length);

      if (nlc) {
        const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
        const model = await llama.loadModel({ modelPath: out });
        try {
          expect([...model.tokenize(' the')].map(Number)).toEqual([258]); // "Ġthe" through our merges
          const ctx = await model.createContext({ contextSize: 64, threads: 1 });
          const seq = ctx.getSequence();
          const got: number[] = [];
          for await (const t of seq.evaluate([260, 258] as never[], { temperature: 0 })) {
            got.push(Number(t));
            if (got.length >= 4) break;
          }
          expect(got.length).toBe(4);
          await ctx.dispose();
        } finally {
          await model.dispose();
        }
      }
    });
  }
});

describe('vocabulary variants', () => {
  it('a Unigram tokenizer.json keeps its piece scores; Metaspace decides add_space_prefix', async () => {
    const { buildVocab } = await import('../src/index.js');
    const tj = {
      model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['<s>', 0], ['</s>', 0], ['<0x41>', 0], ['\u2581the', -2.5], ['e', -4]] },
      added_tokens: [
        { id: 1, content: '<s>', special: true },
        { id: 2, content: '</s>', special: true },
      ],
      pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first' },
    };
    const v = buildVocab(tj as never, 'llama', {}, 8, 'tokenizer.json');
    expect(v.model).toBe('llama');
    expect(v.tokens).toEqual(['<unk>', '<s>', '</s>', '<0x41>', '\u2581the', 'e', '[PAD6]', '[PAD7]']);
    expect([...v.tokenTypes]).toEqual([2, 3, 3, 6, 1, 1, 5, 5]);
    expect([...v.scores!]).toEqual([0, 0, 0, 0, -2.5, -4, 0, 0]);
    expect(() => buildVocab(tj as never, 'llama', {}, 4, 'tokenizer.json')).toThrow(/6 tokens but the model's embedding has only 4 rows/);
    expect(() => buildVocab({ model: { type: 'WordPiece' } } as never, 'llama', {}, 4, 'x/tokenizer.json')).toThrow(/x\/tokenizer\.json: tokenizer model type "WordPiece"/);
  });

  it('a BPE vocabulary of Qwen2.5\'s size (151,936 ids) is written (the largest id was once found by a spread that overflowed the stack)', async () => {
    const { buildVocab } = await import('../src/index.js');
    const n = 151936;
    const vocab: Record<string, number> = {};
    for (let i = 0; i < n - 1; i++) vocab[`t${i}`] = i;
    const tj = { model: { type: 'BPE', vocab, merges: ['t 1'] }, added_tokens: [{ id: n - 1, content: '<|endoftext|>', special: true }] };
    const v = buildVocab(tj as never, 'qwen2', {}, n, 'tokenizer.json');
    expect(v.tokens).toHaveLength(n);
    expect(v.tokens[n - 1]).toBe('<|endoftext|>');
    expect(() => buildVocab(tj as never, 'qwen2', {}, n - 1, 'tokenizer.json')).toThrow(/151936 tokens but the model's embedding has only 151935 rows/);
  });
});
