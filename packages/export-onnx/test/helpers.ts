// Shared by this package's tests: quantize a fixture to an onnx folder, run it in onnxruntime-node, and run our own
// float32 forward over the same QDQ weights.
import { join } from 'node:path';
import { Checkpoint, Tensor } from '@autoround/core-tensor';
import { AutoRound, type AutoRoundOptions, silentLogger, type QuantizedWeight } from '@autoround/autoround';
import { OverlayWeights } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { describeLlama, LlamaModel, readConfig } from '@autoround/models';
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
  const lm = new LlamaModel(describeLlama(readConfig(model), model), new OverlayWeights(Checkpoint.open(model), over), jsBackend.create({}));
  return lm.forward(ids);
}

export interface OrtStep {
  logits: Float32Array;
  present: Map<string, ort.Tensor>;
}

/** One call of the decoder: `ids` after the cache `past` (empty at the start), positions continuing it. */
export async function ortStep(session: ort.InferenceSession, cfg: { kvHeads: number; headDim: number; layers: number }, ids: Int32Array, past: Map<string, ort.Tensor> | null): Promise<OrtStep> {
  const pastLen = past ? (past.get('present.0.key')!.dims[2] as number) : 0;
  const S = ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [1, S]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(pastLen + S).fill(1n), [1, pastLen + S]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(pastLen + i)), [1, S]),
  };
  for (let l = 0; l < cfg.layers; l++) {
    for (const kv of ['key', 'value']) {
      feeds[`past_key_values.${l}.${kv}`] = past?.get(`present.${l}.${kv}`) ?? new ort.Tensor('float32', new Float32Array(0), [1, cfg.kvHeads, 0, cfg.headDim]);
    }
  }
  const r = await session.run(feeds);
  const present = new Map<string, ort.Tensor>();
  for (const [k, v] of Object.entries(r)) if (k.startsWith('present.')) present.set(k, v);
  return { logits: r.logits!.data as Float32Array, present };
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
