// Issue #13 items 8, 9, 11 and 15 (tokenizer, text encoding): a config.json or quantization_config
// that disagrees with the tensors, a weight stored as integers, an unsupported tokenizer and a
// UTF-16 text are clear errors naming the file, tensor and field, found before any work: never an
// exit 0 with a wrong result, nor an internal kernel error.
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TEXT, writeDemoModel } from '@autoround/autoround';
import { f16BitsToF32 } from '@autoround/core-tensor';
import { runCli } from './run-cli.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const run = runCli;
// hidden 64, intermediate 96, 2 heads of 32, 1 key/value head; vocabulary 352
const demo = join(work.dir, 'demo');
writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
const text = join(work.dir, 'eval.txt');
writeFileSync(text, DEMO_TEXT.repeat(3));

let n = 0;
function variant(from: string, edit: (dir: string) => void): string {
  const d = join(work.dir, `v${n++}`);
  cpSync(from, d, { recursive: true });
  edit(d);
  return d;
}

function editConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const f = join(dir, 'config.json');
  const c = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(f, JSON.stringify(c, null, 2));
}

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}
interface Stored {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Rewrites a safetensors file tensor by tensor (header and data). */
function rewrite(file: string, edit: (name: string, t: Stored) => Stored): void {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, Entry | Record<string, string>>;
  const out: Record<string, unknown> = {};
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') {
      out[name] = e;
      continue;
    }
    const en = e as Entry;
    const t = edit(name, { dtype: en.dtype, shape: en.shape, bytes: b.subarray(8 + n + en.data_offsets[0], 8 + n + en.data_offsets[1]) });
    out[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
    parts.push(t.bytes);
    off += t.bytes.byteLength;
  }
  let h = JSON.stringify(out);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(h)));
  writeFileSync(file, Buffer.concat([len, Buffer.from(h), ...parts]));
}

const quantize = (model: string, out: string, extra: string[] = []) => run(['--model', model, '--iters', '0', '--disable_opt_rtn', '--output_dir', out, ...extra]);
const evaluate = (model: string, extra: string[] = []) => run(['eval', '--model', model, '--eval_ppl', text, '--eval_seqlen', '64', ...extra]);
const ppl = (out: string) => (JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as { perplexity: number }).perplexity;

describe('#13 item 8: config.json against the checkpoint, before any work', () => {
  it('vocab_size 1024 against a 352-row embedding: quantize and eval both name the tensor, both shapes and vocab_size', async () => {
    const d = variant(demo, (x) => editConfig(x, (c) => (c.vocab_size = 1024)));
    const out = join(work.dir, 'out-vocab');
    const q = await quantize(d, out);
    expect(q.code).toBe(1);
    expect(q.err).toContain(`${join(d, 'model.safetensors')}: tensor model.embed_tokens.weight has shape [352, 64], but config.json implies [1024, 64] (vocab_size 1024, hidden_size 64)`);
    expect(existsSync(out)).toBe(false);
    const e = await evaluate(d);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/model\.embed_tokens\.weight has shape \[352, 64\], but config\.json implies \[1024, 64\] \(vocab_size 1024/);
    expect(e.err).not.toMatch(/gemm/);
  });

  it('intermediate_size, num_key_value_heads and head_dim are checked against the linears that carry them', async () => {
    const inter = await quantize(variant(demo, (x) => editConfig(x, (c) => (c.intermediate_size = 128))), join(work.dir, 'o1'));
    expect(inter.code).toBe(1);
    expect(inter.err).toMatch(/tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[96, 64\], but config\.json implies \[128, 64\] \(intermediate_size 128, hidden_size 64\)/);
    const kv = await quantize(variant(demo, (x) => editConfig(x, (c) => (c.num_key_value_heads = 2))), join(work.dir, 'o2'));
    expect(kv.code).toBe(1);
    expect(kv.err).toMatch(/tensor model\.layers\.0\.self_attn\.k_proj\.weight has shape \[32, 64\], but config\.json implies \[64, 64\] \(num_key_value_heads 2 × head_dim 32, hidden_size 64\)/);
    const hd = await quantize(variant(demo, (x) => editConfig(x, (c) => (c.head_dim = 16))), join(work.dir, 'o3'));
    expect(hd.code).toBe(1);
    expect(hd.err).toMatch(/self_attn\.q_proj\.weight has shape \[64, 64\], but config\.json implies \[32, 64\] \(num_attention_heads 2 × head_dim 16, hidden_size 64\)/);
  });

  it('a norm whose length is not hidden_size (the forward would read past it)', async () => {
    const d = variant(demo, (x) =>
      rewrite(join(x, 'model.safetensors'), (name, t) => (name === 'model.layers.0.input_layernorm.weight' ? { ...t, shape: [32], bytes: t.bytes.subarray(0, 128) } : t)),
    );
    const r = await quantize(d, join(work.dir, 'o4'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/tensor model\.layers\.0\.input_layernorm\.weight has shape \[32\], but config\.json implies \[64\] \(hidden_size 64\)/);
  });

  it('non-positive and non-integer dimensions, and hidden_size not divisible by num_attention_heads without head_dim, name the field', async () => {
    const zero = await quantize(variant(demo, (x) => editConfig(x, (c) => (c.num_attention_heads = 0))), join(work.dir, 'o5'));
    expect(zero.code).toBe(1);
    expect(zero.err).toMatch(/"num_attention_heads" must be a positive integer, got 0/);
    const frac = await quantize(variant(demo, (x) => editConfig(x, (c) => (c.intermediate_size = 95.5))), join(work.dir, 'o6'));
    expect(frac.err).toMatch(/"intermediate_size" must be a positive integer, got 95\.5/);
    const odd = await quantize(
      variant(demo, (x) =>
        editConfig(x, (c) => {
          delete c.head_dim;
          c.num_attention_heads = 3;
          c.num_key_value_heads = 3;
        }),
      ),
      join(work.dir, 'o7'),
    );
    expect(odd.code).toBe(1);
    expect(odd.err).toMatch(/"hidden_size" 64 is not divisible by "num_attention_heads" 3, and "head_dim" is not given/);
    const gqa = await quantize(variant(demo, (x) => editConfig(x, (c) => (c.num_key_value_heads = 3))), join(work.dir, 'o8'));
    expect(gqa.code).toBe(1);
    expect(gqa.err).toMatch(/"num_attention_heads" 2 is not a multiple of "num_key_value_heads" 3/);
  });
});

describe('#13 item 9: only floating dtypes are weights', () => {
  const relabel = (tensor: string, dtype: string) => (x: string) => rewrite(join(x, 'model.safetensors'), (name, t) => (name === tensor ? { ...t, dtype } : t));

  it('a linear weight labelled I32 is refused, naming the tensor, file and dtype', async () => {
    const d = variant(demo, relabel('model.layers.0.self_attn.q_proj.weight', 'I32'));
    const out = join(work.dir, 'out-i32');
    const r = await quantize(d, out);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${join(d, 'model.safetensors')}: tensor model.layers.0.self_attn.q_proj.weight is stored as I32, but LlamaForCausalLM reads it as a float weight`);
    expect(existsSync(out)).toBe(false);
  });

  it('so is a tensor that is not quantized (the embedding as U32) and, in eval, the final norm as I32', async () => {
    const e = await quantize(variant(demo, relabel('model.embed_tokens.weight', 'U32')), join(work.dir, 'o9'));
    expect(e.code).toBe(1);
    expect(e.err).toMatch(/tensor model\.embed_tokens\.weight is stored as U32/);
    const ev = await evaluate(variant(demo, relabel('model.norm.weight', 'I32')));
    expect(ev.code).toBe(1);
    expect(ev.err).toMatch(/tensor model\.norm\.weight is stored as I32/);
  });
});

describe('#13 item 11: an exported folder whose quantization_config disagrees with its tensors', () => {
  const gptq = join(work.dir, 'gptq');
  const ar = join(work.dir, 'ar');
  const awq = join(work.dir, 'awq');
  const llmc = join(work.dir, 'llmc');
  const ppls = new Map<string, number>();
  beforeAll(async () => {
    for (const [dir, format] of [
      [gptq, 'auto_gptq'],
      [ar, 'auto_round'],
      [awq, 'auto_round:auto_awq'],
      [llmc, 'auto_round:llm_compressor'],
    ] as const) {
      const r = await quantize(demo, dir, ['--format', format, '--group_size', '32']);
      expect(r.code, r.err).toBe(0);
    }
  });

  it('every exported folder (I32 qweight/qzeros) still evaluates', async () => {
    for (const d of [gptq, ar, awq, llmc]) {
      const r = await evaluate(d);
      expect(r.code, `${d}: ${r.err}`).toBe(0);
      ppls.set(d, ppl(r.out));
    }
  });

  const qc = (dir: string, edit: (q: Record<string, unknown>) => void) => variant(dir, (x) => editConfig(x, (c) => edit(c.quantization_config as Record<string, unknown>)));
  const q = 'model.layers.0.self_attn.q_proj';

  it('a wrong bits names quantization_config.bits and the tensor it disagrees with; bits 5 is no RangeError', async () => {
    const b3 = await evaluate(qc(gptq, (c) => (c.bits = 3)));
    expect(b3.code).toBe(1);
    expect(b3.err).toContain(`quantization_config.bits 3 disagrees with ${q}.qzeros [2, 8]: 3-bit packing of 64 zero points per group gives 6 int32 columns`);
    const b2 = await evaluate(qc(ar, (c) => (c.bits = 2)));
    expect(b2.code).toBe(1);
    expect(b2.err).toContain(`quantization_config.bits 2 disagrees with ${q}.qzeros`);
    const b5 = await evaluate(qc(gptq, (c) => (c.bits = 5)));
    expect(b5.code).toBe(1);
    expect(b5.err).toMatch(/quantization_config\.bits 5 is not a bit width the GPTQ layout packs \(2, 3, 4, 8\)/);
    expect(b5.err).not.toMatch(/RangeError/);
    const awq3 = await evaluate(qc(awq, (c) => (c.bits = 3)));
    expect(awq3.code).toBe(1);
    expect(awq3.err).toMatch(/quantization_config\.bits 3 disagrees with model\.layers\.\d+\.\S+\.qweight: the AWQ GEMM layout packs 4-bit weights only/);
    const llmc5 = await evaluate(qc(llmc, (c) => (c.bits = 5)));
    expect(llmc5.code).toBe(1);
    expect(llmc5.err).toMatch(/quantization_config\.bits 5 disagrees with model\.layers\.\d+\.\S+\.weight_packed/);
  });

  it('a wrong group_size names quantization_config.group_size and the scales it disagrees with', async () => {
    const g = await evaluate(qc(gptq, (c) => (c.group_size = 16)));
    expect(g.code).toBe(1);
    expect(g.err).toContain(`quantization_config.group_size 16 disagrees with ${q}.scales [2, 64] and ${q}.qzeros [2, 8]: 64 input features`);
    const a = await evaluate(qc(awq, (c) => (c.group_size = 64)));
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/quantization_config\.group_size 64 disagrees with model\.layers\.0\.\S+\.scales/);
  });

  it('an edited packing_format is blamed, not quant_method', async () => {
    const r = await evaluate(qc(ar, (c) => (c.packing_format = 'auto_round:marlin')));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/quantization_config\.packing_format "auto_round:marlin" in config\.json is not a packing this reader knows/);
    expect(r.err).not.toMatch(/quant_method/);
  });

  it('the scales’ dtype label is honoured: float32 scales give the float16 folder’s perplexity; integer scales are refused', async () => {
    const toF32 = (dir: string) =>
      variant(dir, (x) =>
        rewrite(join(x, 'model.safetensors'), (name, t) => {
          if (!name.endsWith('.scales') || t.dtype !== 'F16') return t;
          const h = new Uint16Array(t.bytes.buffer.slice(t.bytes.byteOffset, t.bytes.byteOffset + t.bytes.byteLength));
          const f = Float32Array.from(h, (v) => f16BitsToF32(v));
          return { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(f.buffer) };
        }),
      );
    for (const d of [gptq, awq]) {
      const r = await evaluate(toF32(d));
      expect(r.code, r.err).toBe(0);
      expect(ppl(r.out)).toBe(ppls.get(d));
    }
    const asInt = variant(gptq, (x) => rewrite(join(x, 'model.safetensors'), (name, t) => (name === `${q}.scales` ? { ...t, dtype: 'I16' } : t)));
    const r = await evaluate(asInt);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${q}.scales is stored as I16; the GPTQ layout stores scales as F16 or BF16 or F32`);
  });
});

describe('#13 item 15: misleading messages', () => {
  it('a WordPiece tokenizer.json is an unsupported tokenizer, named with its model type', async () => {
    const d = variant(demo, (x) => {
      const f = join(x, 'tokenizer.json');
      const t = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
      const vocab: Record<string, number> = { '[UNK]': 0, '[CLS]': 1, '[SEP]': 2 };
      for (const c of 'abcdefghijklmnopqrstuvwxyz.,') vocab[c] = Object.keys(vocab).length;
      t.model = { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab };
      t.normalizer = null;
      t.pre_tokenizer = { type: 'BertPreTokenizer' };
      t.decoder = { type: 'WordPiece', prefix: '##', cleanup: true };
      t.post_processor = null;
      t.added_tokens = [];
      writeFileSync(f, JSON.stringify(t));
    });
    const e = await evaluate(d);
    expect(e.code).toBe(1);
    expect(e.err).toContain(`${join(d, 'tokenizer.json')}: unsupported tokenizer: model type "WordPiece"`);
    // calibration loads the tokenizer through the same loadTokenizer (packages/models/test/tokenizer-model.test.ts)
  });

  it('a UTF-16 text given as --eval_ppl is named as UTF-16 (the --dataset readers: packages/calib-datasets/test/text-encoding.test.ts)', async () => {
    const le = join(work.dir, 'utf16le.txt');
    writeFileSync(le, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(DEMO_TEXT, 'utf16le')]));
    const e = await run(['eval', '--model', demo, '--eval_ppl', le, '--eval_seqlen', '64']);
    expect(e.code).toBe(1);
    expect(e.err).toContain(`file ${le} is UTF-16 (UTF-16 little-endian (byte-order mark FF FE)); convert it to UTF-8`);
    const plain = join(work.dir, 'no-bom.txt');
    writeFileSync(plain, Buffer.from(DEMO_TEXT, 'utf16le'));
    const n = await run(['eval', '--model', demo, '--eval_ppl', plain, '--eval_seqlen', '64']);
    expect(n.code).toBe(1);
    expect(n.err).toContain(`file ${plain} is UTF-16 (UTF-16 little-endian (no byte-order mark`);
  });
});
