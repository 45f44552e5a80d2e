// Perplexity and decoding speed of onnx folders through onnxruntime-node (docs/formats/onnx.md#figures):
//   npm run onnx-eval -- --text wiki.test.raw [--seqlen 256] [--max_tokens 100215] [--speed 64] DIR[:dtype] …
// Perplexity uses the windows `auto-round eval` uses (@autoround/eval's evalWindows: BOS + seqlen − 1 tokens, non
// overlapping) and its per-window NLL (windowNllOf), on onnxruntime's logits. --speed N: greedy decoding of N new
// tokens after a 64-token prompt through the KV cache, tokens per second, each model in the same process.
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { type CausalLM, readConfig } from '@autoround/core';
import { f16BitsToF32 } from '@autoround/core-tensor';
import { evalWindows, windowNllOf } from '@autoround/eval';
import { loadTokenizer } from '@autoround/models';
import { ONNX_DTYPES, type OnnxDtype } from '@autoround/export-onnx';

// onnxruntime-node is a devDependency of @autoround/export-onnx (never of the product); resolved from there
// (its types are not visible from tools/, hence the few this script uses, below)
interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  Tensor: new (type: string, data: BigInt64Array | Float32Array | Uint16Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(path: string, options?: { intraOpNumThreads?: number }): Promise<OrtSession> };
}
const ort = createRequire(resolve(import.meta.dirname, '../../packages/export-onnx/package.json'))('onnxruntime-node') as Ort;

const argv = process.argv.slice(2);
const opt = (k: string, d?: string) => (argv.includes(`--${k}`) ? argv[argv.indexOf(`--${k}`) + 1] : d);
const flags = new Set(['--text', '--seqlen', '--max_tokens', '--speed', '--threads']);
const targets = argv.filter((a, i) => !a.startsWith('--') && !flags.has(argv[i - 1] ?? ''));
const seqlen = Number(opt('seqlen', '256'));
const maxTokens = opt('max_tokens') ? Number(opt('max_tokens')) : undefined;
const speed = Number(opt('speed', '0'));
const threads = Number(opt('threads', '0'));

/** Logits as float32 (the float16 files' converted, as transformers.js does before sampling). */
function f32(t: OrtTensor): Float32Array {
  return t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, f16BitsToF32) : (t.data as Float32Array);
}

function i64(a: ArrayLike<number>, dims: number[]): OrtTensor {
  return new ort.Tensor('int64', BigInt64Array.from(Array.from(a), (v) => BigInt(v)), dims);
}

async function main(): Promise<void> {
  const rows: Record<string, unknown>[] = [];
  for (const t of targets) {
    const [dir0, dt] = t.split(':');
    const dir = resolve(dir0!);
    const config = readConfig(dir);
    const dtype = (dt ?? (config['transformers.js_config'] as { dtype?: string } | undefined)?.dtype ?? 'fp32') as OnnxDtype;
    const file = join(dir, 'onnx', `model${ONNX_DTYPES[dtype].suffix}.onnx`);
    const bytes = readdirSync(join(dir, 'onnx')).filter((f) => f.startsWith(`model${ONNX_DTYPES[dtype].suffix}.onnx`)).reduce((n, f) => n + statSync(join(dir, 'onnx', f)).size, 0);
    const session = await ort.InferenceSession.create(file, threads ? { intraOpNumThreads: threads } : {});
    const layers = config.num_hidden_layers as number;
    const kvHeads = (config.num_key_value_heads ?? config.num_attention_heads) as number;
    const headDim = (config.head_dim ?? (config.hidden_size as number) / (config.num_attention_heads as number)) as number;
    const V = config.vocab_size as number;
    // the float16 files' cache is float16 (docs/formats/onnx.md#float16)
    const emptyPast = () => (ONNX_DTYPES[dtype].float16 ? new ort.Tensor('float16', new Uint16Array(0), [1, kvHeads, 0, headDim]) : new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]));
    const run = async (ids: ArrayLike<number>, past: Record<string, OrtTensor> | null, pastLen: number) => {
      const S = ids.length;
      const feeds: Record<string, OrtTensor> = {
        input_ids: i64(ids, [1, S]),
        attention_mask: i64(new Array(pastLen + S).fill(1), [1, pastLen + S]),
        position_ids: i64(Array.from({ length: S }, (_, i) => pastLen + i), [1, S]),
      };
      for (let l = 0; l < layers; l++) {
        for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = past?.[`present.${l}.${kv}`] ?? emptyPast();
      }
      return session.run(feeds);
    };
    const row: Record<string, unknown> = { model: dir0, dtype, bytes };
    const text = opt('text');
    if (text) {
      const tok = loadTokenizer(dir);
      const ids = Int32Array.from(tok.encode(readFileSync(text, 'utf8'), { addSpecialTokens: false }));
      const windows = evalWindows(ids, { seqlen, ...(tok.bosTokenId !== undefined ? { bosTokenId: tok.bosTokenId } : {}), ...(maxTokens ? { maxTokens } : {}) });
      const t0 = performance.now();
      let nll = 0;
      let n = 0;
      for (const w of windows) {
        const logits = f32((await run(w, null, 0)).logits!);
        // the same per-window NLL as auto-round eval, over onnxruntime's logits
        nll += windowNllOf({ spec: { vocabSize: V }, forward: () => logits } as unknown as CausalLM, w);
        n += w.length - 1;
      }
      Object.assign(row, { perplexity: Math.exp(nll / n), tokens: n, windows: windows.length, eval_s: (performance.now() - t0) / 1000 });
    }
    if (speed > 0) {
      const prompt = Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : (i * 37 + 11) % V));
      const t0 = performance.now();
      let r = await run(prompt, null, 0);
      const t1 = performance.now();
      let len = prompt.length;
      for (let k = 0; k < speed; k++) {
        const lg = f32(r.logits!);
        const last = lg.subarray(lg.length - V);
        let best = 0;
        for (let v = 1; v < V; v++) if (last[v]! > last[best]!) best = v;
        r = await run([best], r as Record<string, OrtTensor>, len);
        len++;
      }
      const t2 = performance.now();
      Object.assign(row, { prefill_tok_s: prompt.length / ((t1 - t0) / 1000), decode_tok_s: speed / ((t2 - t1) / 1000) });
    }
    console.log(JSON.stringify(row));
    rows.push(row);
    await session.release();
  }
}

await main();
