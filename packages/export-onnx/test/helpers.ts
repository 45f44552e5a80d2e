// Shared by this package's tests: quantize a fixture to an onnx folder, run it in onnxruntime-node, and run our own
// float32 forward over the same QDQ weights.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint, f16BitsToF32, mulberry32, roundToF16, ShardedSafetensorsWriter, Tensor } from '@autoround/core-tensor';
import { AutoRound, type AutoRoundOptions, silentLogger, type QuantizedWeight } from '@autoround/autoround';
import { OverlayWeights } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { describeLlama, LLAMA, LlamaModel, QWEN2, QWEN3, readConfig } from '@autoround/models';
import * as ort from 'onnxruntime-node';
import exportOnnxPlugin from '@autoround/export-onnx';

export interface Quantized {
  readonly dir: string;
  readonly qdq: ReadonlyMap<string, QuantizedWeight>;
}

export async function quantizeTo(model: string, out: string, format: string, opts: Partial<AutoRoundOptions>): Promise<Quantized> {
  const ar = new AutoRound(model, { iters: 0, log: silentLogger, discoverPlugins: false, plugins: [exportOnnxPlugin], skipSanityCheck: true, ...opts } as AutoRoundOptions);
  const res = await ar.quantizeAndSave(out, { format, keepQdq: true });
  return { dir: res.outputs[0]!.dir, qdq: res.qdq };
}

/** Our float32 forward (models' LlamaModel) over the model with its quantized layers replaced by their QDQ weights. */
export function referenceLogits(model: string, qdq: ReadonlyMap<string, QuantizedWeight>, ids: Int32Array): Float32Array {
  const over = new Map<string, Tensor<'F32'>>();
  for (const [layer, q] of qdq) over.set(`${layer}.weight`, new Tensor('F32', [...q.shape], q.qdq));
  const config = readConfig(model);
  const arch = config.architectures?.[0] ?? '';
  const variant = [LLAMA, QWEN2, QWEN3].find((v) => v.hfArchitectures.includes(arch))!;
  const lm = new LlamaModel(describeLlama(config, model, variant), new OverlayWeights(Checkpoint.open(model), over), jsBackend.create({}), variant);
  return lm.forward(ids);
}

export interface OrtStep {
  /** As float32 (a float16 file's logits converted). */
  logits: Float32Array;
  present: Map<string, ort.Tensor>;
}

/** One call of the decoder: `ids` after the cache `past` (empty at the start), positions continuing it. */
export async function ortStep(session: ort.InferenceSession, cfg: { kvHeads: number; headDim: number; layers: number }, ids: Int32Array, past: Map<string, ort.Tensor> | null, float16 = false): Promise<OrtStep> {
  const pastLen = past ? (past.get('present.0.key')!.dims[2] as number) : 0;
  const S = ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [1, S]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(pastLen + S).fill(1n), [1, pastLen + S]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(pastLen + i)), [1, S]),
  };
  for (let l = 0; l < cfg.layers; l++) {
    for (const kv of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kv}`] = past?.get(`present.${l}.${kv}`) ?? (float16 ? new ort.Tensor('float16', new Uint16Array(0), [1, cfg.kvHeads, 0, cfg.headDim]) : new ort.Tensor('float32', new Float32Array(0), [1, cfg.kvHeads, 0, cfg.headDim]));
    }
  }
  const r = await session.run(feeds);
  const present = new Map<string, ort.Tensor>();
  for (const [k, v] of Object.entries(r)) if (k.startsWith('present.')) present.set(k, v);
  return { logits: asF32(r.logits!), present };
}

export function onnxFile(dir: string, suffix: string): string {
  return join(dir, 'onnx', `model${suffix}.onnx`);
}

/** max |a − b| / max |b|: the relative difference of two logit arrays. */
export function relDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

export type SynthKind = 'qwen2' | 'qwen3' | 'llama3' | 'mistral';

/** A small random model of each LLaMA-family variant: config.json and model.safetensors (no tokenizer). */
export function writeSynthModel(dir: string, kind: SynthKind, seed = 7): void {
  mkdirSync(dir, { recursive: true });
  const r = mulberry32(seed);
  const hidden = 64;
  const heads = 4;
  const kvHeads = 2;
  const headDim = kind === 'qwen3' ? 32 : 16; // Qwen3's head_dim is its own (q_proj 128 wide here)
  const inter = 128;
  const layers = 2;
  const vocab = 96;
  const arch = { qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', llama3: 'LlamaForCausalLM', mistral: 'MistralForCausalLM' }[kind];
  const config: Record<string, unknown> = {
    architectures: [arch],
    model_type: kind === 'llama3' ? 'llama' : kind,
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    vocab_size: vocab,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-6,
    rope_theta: kind === 'llama3' ? 500000 : 1000000,
    tie_word_embeddings: kind === 'qwen3',
    bos_token_id: 1,
    eos_token_id: 2,
  };
  if (kind === 'llama3') config.rope_scaling = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const w = new ShardedSafetensorsWriter(dir, { maxShardBytes: 1e9 });
  const randn = (n: number, s: number) => Float32Array.from({ length: n }, () => s * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r()));
  const t = (name: string, shape: number[], s = 0.1) => w.add(name, 'F32', shape, randn(shape.reduce((a, b) => a * b, 1), s));
  const ones = (name: string, n: number) => w.add(name, 'F32', [n], Float32Array.from({ length: n }, () => 1 + 0.2 * (r() - 0.5)));
  t('model.embed_tokens.weight', [vocab, hidden], 1);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    ones(`${p}.input_layernorm.weight`, hidden);
    t(`${p}.self_attn.q_proj.weight`, [heads * headDim, hidden]);
    t(`${p}.self_attn.k_proj.weight`, [kvHeads * headDim, hidden]);
    t(`${p}.self_attn.v_proj.weight`, [kvHeads * headDim, hidden]);
    if (kind === 'qwen2') {
      t(`${p}.self_attn.q_proj.bias`, [heads * headDim]);
      t(`${p}.self_attn.k_proj.bias`, [kvHeads * headDim]);
      t(`${p}.self_attn.v_proj.bias`, [kvHeads * headDim]);
    }
    if (kind === 'qwen3') {
      ones(`${p}.self_attn.q_norm.weight`, headDim);
      ones(`${p}.self_attn.k_norm.weight`, headDim);
    }
    t(`${p}.self_attn.o_proj.weight`, [hidden, heads * headDim]);
    ones(`${p}.post_attention_layernorm.weight`, hidden);
    t(`${p}.mlp.gate_proj.weight`, [inter, hidden]);
    t(`${p}.mlp.up_proj.weight`, [inter, hidden]);
    t(`${p}.mlp.down_proj.weight`, [hidden, inter]);
  }
  ones('model.norm.weight', hidden);
  // Qwen3 here is tied and still ships lm_head.weight (some checkpoints do): the embedding is the head all the same
  t('lm_head.weight', [vocab, hidden]);
  w.close();
}

/**
 * Our float32 forward over the weights a float16 file holds: every float tensor rounded to float16, each quantized
 * layer decoded as (q − zp) · fp16(scale) for MatMulNBits (`packed`), or its QDQ weight rounded to float16 (onnx:fp16).
 */
export function referenceLogitsF16(model: string, qdq: ReadonlyMap<string, QuantizedWeight>, ids: Int32Array, packed: boolean): Float32Array {
  const ck = Checkpoint.open(model);
  const over = new Map<string, Tensor<'F32'>>();
  for (const name of ck.names) over.set(name, new Tensor('F32', [...ck.info(name).shape], (ck.read(name).toFloat32().data as Float32Array).map(roundToF16)));
  for (const [layer, q] of qdq) over.set(`${layer}.weight`, new Tensor('F32', [...q.shape], packed ? decodeF16Scales(q) : q.qdq.map(roundToF16)));
  const config = readConfig(model);
  const arch = config.architectures?.[0] ?? '';
  const variant = [LLAMA, QWEN2, QWEN3].find((v) => v.hfArchitectures.includes(arch))!;
  const lm = new LlamaModel(describeLlama(config, model, variant), new OverlayWeights(ck, over), jsBackend.create({}), variant);
  return lm.forward(ids);
}

/** (q − zp) · fp16(scale), in float32: the weight a float16 MatMulNBits holds. */
export function decodeF16Scales(q: QuantizedWeight): Float32Array {
  const [N, K] = q.shape as [number, number];
  const ng = Math.ceil(K / q.groupSize);
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) {
    const g = n * ng + Math.floor(k / q.groupSize);
    w[n * K + k] = Math.fround((q.codes![n * K + k]! - q.zeros![g]!) * roundToF16(q.scales![g]!));
  }
  return w;
}

/** A float16 or float32 onnxruntime tensor's values as float32. */
export function asF32(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  if (t.type !== 'float16') throw new Error(`tensor of ${t.type}`);
  return Float32Array.from(t.data as Uint16Array, f16BitsToF32);
}
