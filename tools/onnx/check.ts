// onnxruntime-node's logits for a 64-token prompt against our float32 forward of the same weights
// (docs/formats/onnx.md#figures):  npm run onnx-check -- --source MODEL_DIR ONNX_DIR[:dtype] …
// The weights our forward uses are read back from the .onnx file: each MatMulNBits decoded by unpackMatMulNBits
// (which the tests show equal to the algorithm's QDQ weights), each MatMul weight transposed back; the rest is the
// source checkpoint's (a float16 file's: its embedding, norms and biases as the file rounded them; an untied float
// lm_head is the source's). Prints max |Δ| / max |logit| for the whole prompt and for 60 tokens + 4 cached steps.
// --generate N: also transformers.js's greedy continuation of a prompt (pipeline('text-generation', dir, { dtype }),
// the folder read from disk, remote models off) against our greedy decoding (models' LlamaDecoder) of the same weights.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { Checkpoint, f16BitsToF32, Tensor } from '@autoround/core-tensor';
import { OverlayWeights, readConfig } from '@autoround/core';
import { nativeBackend } from '@autoround/kernels-cpu';
import { describeLlama, LLAMA, LlamaModel, QWEN2, QWEN3 } from '@autoround/models';
import { decodeModel, ONNX_DTYPES, type OnnxDtype, unpackMatMulNBits } from '@autoround/export-onnx';

interface OrtTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}
interface Ort {
  Tensor: new (type: string, data: BigInt64Array | Float32Array | Uint16Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(path: string): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}
// a devDependency of @autoround/export-onnx, resolved from there
const ort = createRequire(resolve(import.meta.dirname, '../../packages/export-onnx/package.json'))('onnxruntime-node') as Ort;

const argv = process.argv.slice(2);
const source = resolve(argv[argv.indexOf('--source') + 1]!);
const targets = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--source' && argv[i - 1] !== '--generate' && argv[i - 1] !== '--prompt');
const generate = argv.includes('--generate') ? Number(argv[argv.indexOf('--generate') + 1]) : 0;
const promptText = argv.includes('--prompt') ? argv[argv.indexOf('--prompt') + 1]! : 'The history of the city';

function relDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

const config = readConfig(source);
const variant = [LLAMA, QWEN2, QWEN3].find((v) => v.hfArchitectures.includes(config.architectures?.[0] ?? ''))!;
const V = config.vocab_size as number;
const layers = config.num_hidden_layers as number;
const kvHeads = (config.num_key_value_heads ?? config.num_attention_heads) as number;
const headDim = (config.head_dim ?? (config.hidden_size as number) / (config.num_attention_heads as number)) as number;
const prompt = Int32Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : (i * 37 + 11) % V));
const f32 = (t: OrtTensor): Float32Array => (t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, f16BitsToF32) : (t.data as Float32Array));
const i64 = (a: ArrayLike<number>, dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(Array.from(a), (v) => BigInt(v)), dims);

for (const t of targets) {
  const [dir0, dt] = t.split(':');
  const dir = resolve(dir0!);
  const dtype = (dt ?? (readConfig(dir)['transformers.js_config'] as { dtype: string }).dtype) as OnnxDtype;
  const file = join(dir, 'onnx', `model${ONNX_DTYPES[dtype].suffix}.onnx`);
  const g = decodeModel(readFileSync(file)).graph!;
  const inits = g.initializer!;
  const raw = new Map<string, Uint8Array>();
  for (const init of inits) {
    let r = init.rawData!;
    if (init.externalData?.length) {
      const kv = Object.fromEntries(init.externalData.map((e) => [e.key!, e.value!]));
      r = readFileSync(join(dirname(file), kv.location!)).subarray(Number(kv.offset), Number(kv.offset) + Number(kv.length));
    }
    raw.set(init.name!, new Uint8Array(r).slice());
  }
  // a float16 file's initializers (dataType 10) read as float32, the values it holds
  const floats = (name: string): Float32Array => {
    const r = raw.get(name)!;
    return inits.find((x) => x.name === name)!.dataType === 10 ? Float32Array.from(new Uint16Array(r.buffer), f16BitsToF32) : new Float32Array(r.buffer);
  };
  const over = new Map<string, Tensor<'F32'>>();
  const ck = Checkpoint.open(source);
  // float16 files: the embedding, norms and biases as the file rounded them
  for (const init of inits) if (init.dataType === 10 && ck.has(init.name!)) over.set(init.name!, new Tensor('F32', ck.info(init.name!).shape, floats(init.name!)));
  let packed = 0;
  for (const node of g.node!) {
    const n = { opType: node.opType, input: node.input!, attribute: node.attribute! };
    if (n.opType === 'MatMulNBits') {
      const a = Object.fromEntries(n.attribute.map((x) => [x.name!, Number(x.i)]));
      const zp = n.input[3];
      const w = unpackMatMulNBits({
        K: a.K!, N: a.N!, bits: a.bits!, blockSize: a.block_size!, nBlocks: Math.ceil(a.K! / a.block_size!),
        B: raw.get(n.input[1]!)!, scales: floats(n.input[2]!), zeroPoints: zp ? raw.get(zp)! : null,
      });
      over.set(n.input[1]!.replace(/\.MatMul\.weight_Q\d$/, '.weight'), new Tensor('F32', [a.N!, a.K!], w));
      packed++;
    } else if (n.opType === 'MatMul' && n.input[1]!.endsWith('.MatMul.weight') && !n.input[1]!.startsWith('lm_head')) {
      const name = n.input[1]!.replace(/\.MatMul\.weight$/, '.weight');
      const init = inits.find((x) => x.name === n.input[1])!;
      const [K, N] = init.dims!.map(Number) as [number, number];
      const tr = floats(n.input[1]!);
      const w = new Float32Array(N * K);
      for (let k = 0; k < K; k++) for (let c = 0; c < N; c++) w[c * K + k] = tr[k * N + c]!;
      over.set(name, new Tensor('F32', [N, K], w));
    }
  }
  const lm = new LlamaModel(describeLlama(config, source, variant), new OverlayWeights(ck, over), nativeBackend.create({}), variant);
  const ref = lm.forward(prompt);
  const session = await ort.InferenceSession.create(file);
  const run = async (ids: Int32Array, past: Record<string, OrtTensor> | null, pastLen: number) => {
    const feeds: Record<string, OrtTensor> = {
      input_ids: i64(ids, [1, ids.length]),
      attention_mask: i64(new Array(pastLen + ids.length).fill(1), [1, pastLen + ids.length]),
      position_ids: i64(Array.from({ length: ids.length }, (_, i) => pastLen + i), [1, ids.length]),
    };
    for (let l = 0; l < layers; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = past?.[`present.${l}.${kv}`] ?? (ONNX_DTYPES[dtype].float16 ? new ort.Tensor('float16', new Uint16Array(0), [1, kvHeads, 0, headDim]) : new ort.Tensor('float32', new Float32Array(0), [1, kvHeads, 0, headDim]));
    return session.run(feeds);
  };
  const whole = f32((await run(prompt, null, 0)).logits!);
  let st = await run(prompt.subarray(0, 60), null, 0);
  for (let k = 60; k < 64; k++) st = await run(prompt.subarray(k, k + 1), st, k);
  const cached = f32(st.logits!);
  const row: Record<string, unknown> = { model: dir0, dtype, matmulnbits: packed, whole_rel: relDiff(whole, ref), cached_rel: relDiff(cached, ref.subarray(63 * V)) };
  if (generate > 0) {
    const tjs = await import('@huggingface/transformers');
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = dirname(dir) + '/';
    const name = dir.slice(dirname(dir).length + 1);
    const gen = await tjs.pipeline('text-generation', name, { dtype });
    const tok = gen.tokenizer;
    const ids = Array.from((tok(promptText) as unknown as { input_ids: { data: BigInt64Array } }).input_ids.data, Number);
    const out = (await gen(promptText, { max_new_tokens: generate, do_sample: false })) as { generated_text: string }[];
    const theirs = out[0]!.generated_text;
    const dec = lm.decoder(ids.length + generate, 1);
    let logits = dec.prefill(Int32Array.from(ids)).subarray((ids.length - 1) * V);
    const mine: number[] = [];
    const eos = config.eos_token_id as number;
    while (mine.length < generate) {
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[v]! > logits[best]!) best = v;
      mine.push(best);
      if (best === eos) break;
      logits = dec.step(best);
    }
    // whole texts: a continuation decoded alone loses the leading space of its first SentencePiece token
    const ours = tok.decode([...ids, ...mine], { skip_special_tokens: true });
    Object.assign(row, { prompt: promptText, new_tokens: mine.length, same_continuation: theirs === ours, continuation: ours });
    if (theirs !== ours) row.transformers_js = theirs;
  }
  console.log(JSON.stringify(row));
}
