// NaN and Inf are never hidden (issue #13, items 6, 7 and 10): a tensor copied as it is must be checked
// like the quantized ones; `eval` of a model that computes a NaN exits 1 naming the first layer that
// produced it, on every kernel backend (the native one used to hide a NaN row of attention scores).
import { cpSync, existsSync, openSync, readFileSync, readSync, readdirSync, closeSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoModel, SMALL_DEMO } from './demo-model.js';
import { backendStatus } from '@autoround/kernels-cpu';
import { runCli } from './run-cli.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const { demo, text } = demoModel(work.dir, { ...SMALL_DEMO, layers: 2 });

/** Overwrites element `index` of tensor `name` in a folder's safetensors file with the raw bytes of `value`. */
function poke(dir: string, name: string, index: number, value: number): void {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .map((f) => join(dir, f))
    .find((f) => headerOf(f).json[name] !== undefined);
  if (!file) throw new Error(`no safetensors file in ${dir} holds ${name}`);
  const { json, size } = headerOf(file);
  const { dtype, data_offsets } = json[name]!;
  const bytes = dtype === 'F32' ? 4 : dtype === 'F16' || dtype === 'BF16' ? 2 : 0;
  if (!bytes) throw new Error(`poke: ${name} is ${dtype}`);
  const b = Buffer.alloc(bytes);
  if (dtype === 'F32') b.writeFloatLE(value);
  // F16 / BF16: the NaN and Inf bit patterns
  else if (dtype === 'F16') b.writeUInt16LE(Number.isNaN(value) ? 0x7e00 : value > 0 ? 0x7c00 : 0xfc00);
  else b.writeUInt16LE(Number.isNaN(value) ? 0x7fc0 : value > 0 ? 0x7f80 : 0xff80);
  const fd = openSync(file, 'r+');
  writeSync(fd, b, 0, bytes, 8 + size + data_offsets[0] + index * bytes);
  closeSync(fd);
}

function headerOf(file: string): { json: Record<string, { dtype: string; data_offsets: [number, number] }>; size: number } {
  const fd = openSync(file, 'r');
  const len = Buffer.alloc(8);
  readSync(fd, len, 0, 8, 0);
  const size = Number(len.readBigUInt64LE());
  const h = Buffer.alloc(size);
  readSync(fd, h, 0, size, 8);
  closeSync(fd);
  return { json: JSON.parse(h.toString('utf8')), size };
}

function variant(name: string, edit: (dir: string) => void, from = demo): string {
  const d = join(work.dir, name);
  cpSync(from, d, { recursive: true });
  edit(d);
  return d;
}

const quantize = (model: string, out: string, extra: string[] = []) => runCli(['--model', model, '--iters', '0', '--disable_opt_rtn', '--output_dir', out, ...extra]);
const evaluate = (model: string, backend: string) => runCli(['eval', '--model', model, '--eval_ppl', text, '--eval_seqlen', '64', '--backend', backend]);
const backends = backendStatus()
  .filter((b) => b.available)
  .map((b) => b.name);

describe('item 7: every tensor written is checked, not only the quantized ones', () => {
  it('NaN in embed_tokens (kept as it is, the tied lm_head) fails the run naming the tensor and the file', async () => {
    const d = variant('embed-nan', (x) => {
      const c = JSON.parse(readFileSync(join(x, 'config.json'), 'utf8'));
      c.tie_word_embeddings = true;
      writeFileSync(join(x, 'config.json'), JSON.stringify(c));
      poke(x, 'model.embed_tokens.weight', 77, Number.NaN);
    });
    const out = join(work.dir, 'out-embed-nan');
    const r = await quantize(d, out);
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/error: .*model\.safetensors: model\.embed_tokens\.weight holds a non-finite value \(NaN\) at element 77/);
    expect(existsSync(out)).toBe(false);
  });

  it('Inf in a norm weight fails the run too', async () => {
    const d = variant('norm-inf', (x) => poke(x, 'model.layers.1.post_attention_layernorm.weight', 3, -Infinity));
    const r = await quantize(d, join(work.dir, 'out-norm-inf'));
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/model\.layers\.1\.post_attention_layernorm\.weight holds a non-finite value \(-Infinity\) at element 3/);
  });
});

describe('items 6 and 10: eval of a model that computes a NaN exits 1 naming the first layer that produced it, on every backend', () => {
  const qnan = variant('q-nan', (x) => poke(x, 'model.layers.1.self_attn.q_proj.weight', 5, Number.NaN));
  const packed = join(work.dir, 'packed');
  let packedNanScale = '';
  beforeAll(async () => {
    const r = await quantize(demo, packed, ['--format', 'auto_round']);
    expect(r.code, r.err).toBe(0);
    packedNanScale = variant('packed-nan-scale', (x) => poke(x, 'model.layers.0.self_attn.q_proj.scales', 2, Number.NaN), packed);
  });

  it.each(backends)('a NaN in one q_proj weight (%s backend)', async (backend) => {
    const r = await evaluate(qnan, backend);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.out).not.toMatch(/"perplexity"/);
    expect(r.err).toMatch(/error: perplexity is not finite: model\.layers\.1\.self_attn output \(the input of model\.layers\.1\.self_attn\.o_proj\) is NaN at window 0/);
    expect(r.err).toContain('model.layers.1.self_attn.q_proj.weight holds NaN at element 5');
  });

  it.each(backends)('an exported folder with one NaN scale (%s backend)', async (backend) => {
    const r = await evaluate(packedNanScale, backend);
    expect(r.code, r.out + r.err).toBe(1);
    expect(r.err).toMatch(/error: perplexity is not finite: model\.layers\.0\.self_attn output \(the input of model\.layers\.0\.self_attn\.o_proj\) is NaN at window 0/);
    expect(r.err).toMatch(/model\.layers\.0\.self_attn\.q_proj\.weight holds NaN at element \d+/);
  });

  it.each(backends)('the model as written still evaluates (%s backend)', async (backend) => {
    const r = await evaluate(demo, backend);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/"perplexity":\d/);
  });
});
