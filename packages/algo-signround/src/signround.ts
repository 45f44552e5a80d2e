import {
  type BlockInputs,
  type DecoderBlockConfig,
  type DecoderBlockWeights,
  type BlockLinear,
  Graph,
  type KernelBackend,
  QdqParams,
  decoderBlockOutput,
  decoderBlockStep,
} from '@autoround/core-tensor';
import {
  type AlgorithmPlugin,
  AutoRoundError,
  fmt,
  fullName,
  isIntWeightOnly,
  type Logger,
  PyRandom,
  type QuantScheme,
  type QuantizeSession,
  scaleDtypeOf,
} from '@autoround/core';
import { quantizeInt, rtnQuantize } from '@autoround/algo-rtn';
import { LlamaModel, type LlamaBlockWeights } from '@autoround/models';
import { blockwiseModel, calibrationSamples, checkFinite } from './blockwise.js';

/** The tuning options of the original (spec §3), with its defaults. */
export interface SignRoundOptions {
  iters: number;
  /** Default 1/iters (2/iters for ≤3-bit layers when iters ≥ 1000). */
  lr?: number;
  /** Default: lr. */
  minmaxLr?: number;
  batchSize: number;
  gradientAccumulateSteps: number;
  seed: number;
  enableMinmaxTuning: boolean;
  enableQuantedInput: boolean;
  notUseBestMse: boolean;
  /** Stop a block early when the best loss has not improved for this many iterations (≤ 0: never). */
  dynamicMaxGap: number;
}

export function signRoundOptions(o: QuantizeSession['options']): SignRoundOptions {
  const num = (k: string, d: number) => (typeof o[k] === 'number' ? (o[k] as number) : d);
  const bool = (k: string, d: boolean) => (typeof o[k] === 'boolean' ? (o[k] as boolean) : d);
  return {
    iters: o.iters,
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.minmaxLr !== undefined ? { minmaxLr: o.minmaxLr } : {}),
    batchSize: o.batchSize,
    gradientAccumulateSteps: num('gradientAccumulateSteps', 1),
    seed: o.seed,
    enableMinmaxTuning: bool('enableMinmaxTuning', true),
    enableQuantedInput: bool('enableQuantedInput', true),
    notUseBestMse: bool('notUseBestMse', false),
    dynamicMaxGap: num('dynamicMaxGap', -1),
  };
}

/** The learning rate of a layer with `bits` bits (spec §3). */
export function layerLr(o: SignRoundOptions, bits: number): number {
  if (o.lr !== undefined) return o.lr;
  return o.iters >= 1000 && bits <= 3 ? 2 / o.iters : 1 / o.iters;
}

/**
 * The original's IndexSampler: a shuffled permutation of the sample indices consumed in chunks
 * of `batch`; when fewer than `batch` remain it reshuffles and starts over (the tail is dropped).
 */
export class IndexSampler {
  private order: number[] = [];
  private pos = 0;
  constructor(
    private readonly n: number,
    private readonly batch: number,
    private readonly rng: PyRandom,
  ) {}

  next(): number[] {
    if (this.pos + this.batch > this.order.length) {
      this.order = this.rng.shuffle(Array.from({ length: this.n }, (_, i) => i));
      this.pos = 0;
    }
    const out = this.order.slice(this.pos, this.pos + this.batch);
    this.pos += this.batch;
    return out;
  }
}

interface TunedLayer {
  name: string;
  local: string;
  scheme: QuantScheme;
  weight: Float32Array;
  params: QdqParams;
  lr: number;
  minmaxLr: number;
  best: Float32Array[];
}

const SCALE_DTYPE = { fp16: 'F16', bf16: 'BF16', fp32: 'F32' } as const;

function toBlockLinear(w: { weight: Float32Array; bias?: Float32Array }, out: number, inF: number, quant?: QdqParams): BlockLinear {
  const l: BlockLinear = { weight: w.weight, outFeatures: out, inFeatures: inF };
  if (w.bias) l.bias = w.bias;
  if (quant) l.quant = quant;
  return l;
}

/** Builds the autograd block for one LLaMA-family block, quantized layers wrapped with their tunable state. */
function autogradBlock(model: LlamaModel, index: number, tuned: ReadonlyMap<string, QdqParams>, fixed?: ReadonlyMap<string, Float32Array>): { w: DecoderBlockWeights; cfg: DecoderBlockConfig } {
  const d = model.dims;
  const bw: LlamaBlockWeights = model.blocks[index]!;
  const get = (name: string, out: number, inF: number) => {
    const base = bw.linears.get(name)!;
    const rep = fixed?.get(name);
    return toBlockLinear(rep ? { ...base, weight: rep } : base, out, inF, tuned.get(name));
  };
  const q = d.heads * d.headDim;
  const kv = d.kvHeads * d.headDim;
  const w: DecoderBlockWeights = {
    inputNorm: bw.inputNorm,
    postNorm: bw.postNorm,
    q: get('self_attn.q_proj', q, d.hidden),
    k: get('self_attn.k_proj', kv, d.hidden),
    v: get('self_attn.v_proj', kv, d.hidden),
    o: get('self_attn.o_proj', d.hidden, q),
    gate: get('mlp.gate_proj', d.intermediate, d.hidden),
    up: get('mlp.up_proj', d.intermediate, d.hidden),
    down: get('mlp.down_proj', d.hidden, d.intermediate),
  };
  if (bw.qNorm) w.qNorm = bw.qNorm;
  if (bw.kNorm) w.kNorm = bw.kNorm;
  const cfg: DecoderBlockConfig = { hidden: d.hidden, numHeads: d.heads, numKvHeads: d.kvHeads, headDim: d.headDim, intermediate: d.intermediate, eps: d.eps, rotaryDim: model.rope.rotDim };
  return { w, cfg };
}

function concatRows(parts: Float32Array[], idx: number[], rowLen: number, out: Float32Array): Float32Array {
  idx.forEach((s, k) => out.set(parts[s]!.subarray(0, rowLen), k * rowLen));
  return out;
}

export interface BlockTuneResult {
  firstLoss: number;
  bestLoss: number;
  bestIter: number;
  seconds: number;
}

/**
 * Tunes one block's quantized layers with signed gradient descent (spec §3) and returns the
 * chosen parameters' summary; the layers' QdqParams end holding the best iteration's values.
 */
export function tuneBlock(
  backend: KernelBackend,
  model: LlamaModel,
  index: number,
  layers: TunedLayer[],
  qIn: Float32Array[],
  refOut: Float32Array[],
  T: number,
  o: SignRoundOptions,
  sampler: IndexSampler,
  log: Logger,
): BlockTuneResult {
  const t0 = Date.now();
  const n = qIn.length;
  const H = model.dims.hidden;
  const bs = Math.min(o.batchSize, n);
  const gas = o.gradientAccumulateSteps;
  const tuned = new Map(layers.map((l) => [l.local, l.params]));
  const { w, cfg } = autogradBlock(model, index, tuned);
  const g = new Graph(backend);
  // buffers per micro-batch size (the last micro-batch of a global batch may be shorter)
  const buffers = new Map<number, { x: Float32Array; target: Float32Array; mask: Float32Array; inp: BlockInputs }>();
  const buffersFor = (b: number) => {
    let e = buffers.get(b);
    if (!e) {
      // the last position of every sample is always masked out of the loss
      const mask = new Float32Array(b * T).fill(1);
      for (let k = 0; k < b; k++) mask[k * T + T - 1] = 0;
      e = { x: new Float32Array(b * T * H), target: new Float32Array(b * T * H), mask, inp: { batch: b, seqLen: T, cos: model.rope.cos, sin: model.rope.sin } };
      buffers.set(b, e);
    }
    return e;
  };
  const params = layers.flatMap((l) => l.params.params().map((p) => ({ p, layer: l, isV: p === l.params.v })));
  let bestLoss = Number.POSITIVE_INFINITY;
  let bestIter = 0;
  let firstLoss = Number.NaN;
  const snapshot = () => {
    for (const l of layers) l.best = l.params.params().map((p) => p.data.slice());
  };
  for (let it = 0; it < o.iters; it++) {
    const idx = sampler.next();
    let total = 0;
    for (let m = 0; m < idx.length; m += bs) {
      const mb = idx.slice(m, m + bs);
      const { x, target, mask, inp } = buffersFor(mb.length);
      concatRows(qIn, mb, T * H, x);
      concatRows(refOut, mb, T * H, target);
      let loss = decoderBlockStep(g, x, target, w, cfg, inp, { mask, lossScale: 1000, reduction: gas === 1 ? 'mean' : 'sum' });
      if (gas > 1) loss /= mb.length * T * H;
      total += loss;
    }
    if (!Number.isFinite(total)) throw new AutoRoundError('E_NONFINITE', `block ${index}: the tuning loss became ${total} at iteration ${it}`, { subject: `model block ${index}` });
    if (it === 0) firstLoss = total;
    if (o.notUseBestMse ? it === o.iters - 1 : total < bestLoss) {
      bestLoss = total;
      bestIter = it;
      snapshot();
    }
    if (o.dynamicMaxGap > 0 && it - bestIter >= o.dynamicMaxGap) break;
    // sign-SGD with the linearly decaying rate of LinearLR(1 → 0 over iters)
    const decay = 1 - it / o.iters;
    for (const { p, layer, isV } of params) {
      const lr = (isV ? layer.lr : layer.minmaxLr) * decay;
      const d = p.data;
      const gr = p.grad;
      for (let i = 0; i < d.length; i++) {
        const s = gr[i]! > 0 ? 1 : gr[i]! < 0 ? -1 : 0;
        d[i] = Math.fround(d[i]! - lr * s);
      }
      p.zeroGrad();
    }
    for (const l of layers) l.params.clampMinMax(0, 1);
  }
  for (const l of layers) l.params.params().forEach((p, k) => p.data.set(l.best[k]!));
  void log;
  return { firstLoss, bestLoss, bestIter, seconds: (Date.now() - t0) / 1000 };
}

function isTunable(s: QuantScheme): boolean {
  return isIntWeightOnly(s);
}

/**
 * SignRound (AutoRound's default algorithm): block by block, the rounding offsets V and the
 * min/max scales of every quantized linear are tuned by signed gradient descent so that the
 * quantized block reproduces the full-precision block's output on calibration data.
 */
export const signRoundAlgorithm: AlgorithmPlugin = {
  name: 'auto_round',
  aliases: ['autoround', 'sign_round', 'signround'],
  description: 'SignRound: sign-gradient tuning of rounding and min/max scales, block by block',
  needsCalibration: () => true,
  async run(session) {
    const o = signRoundOptions(session.options);
    if (o.iters <= 0) throw new AutoRoundError('E_BAD_FLAG', 'SignRound needs --iters > 0', { subject: '--iters' });
    const samples = await calibrationSamples(session);
    const model = blockwiseModel(session);
    if (!(model instanceof LlamaModel)) throw new AutoRoundError('E_UNSUPPORTED', `SignRound tuning supports the LLaMA family; ${session.spec.architecture} is not`);
    const T = samples[0]!.length;
    if (samples.some((s) => s.length !== T)) throw new AutoRoundError('E_NO_DATASET', 'calibration samples must all have the same length');
    const log = session.log;
    const rng = new PyRandom(o.seed);
    const bs = Math.min(o.batchSize, samples.length);
    const globalBatch = Math.min(samples.length, bs * o.gradientAccumulateSteps);
    const sampler = new IndexSampler(samples.length, globalBatch, rng);
    let fpIn = samples.map((ids) => model.embedTokens(ids));
    let qIn = fpIn;
    const t0 = Date.now();
    const nBlocks = session.spec.blocks.length;
    for (const block of session.spec.blocks) {
      const layers: TunedLayer[] = [];
      const plain = new Map<string, Float32Array>();
      for (const l of block.linears) {
        const name = fullName(block, l);
        const scheme = session.layerSchemes.get(name);
        if (!scheme) continue;
        const weight = session.checkpoint.readFloat32(`${name}.weight`).data;
        checkFinite(weight, `${name}.weight`);
        if (!isTunable(scheme)) {
          const q = rtnQuantize(weight, l.outFeatures, l.inFeatures, scheme);
          session.emit(name, q);
          plain.set(l.name, q.qdq);
          continue;
        }
        const params = new QdqParams(weight, l.outFeatures, l.inFeatures, {
          bits: scheme.bits,
          groupSize: scheme.group_size,
          sym: scheme.sym,
          scaleDtype: SCALE_DTYPE[scaleDtypeOf(scheme)],
          minmaxTuning: o.enableMinmaxTuning,
        });
        const lr = layerLr(o, scheme.bits);
        layers.push({ name, local: l.name, scheme, weight, params, lr, minmaxLr: o.minmaxLr ?? lr, best: [] });
      }
      const refOut = fpIn.map((x) => model.blockForward(block.index, x, T));
      for (const r of refOut) checkFinite(r, `full-precision output of block ${block.index}`);
      const overrides = new Map<string, Float32Array>(plain);
      if (layers.length > 0) {
        if (plain.size > 0) throw new AutoRoundError('E_UNSUPPORTED', `block ${block.index} mixes tuned and untuned quantized layers, which is not supported yet`);
        const r = tuneBlock(session.backend, model, block.index, layers, qIn, refOut, T, o, sampler, log);
        for (const l of layers) {
          const q = quantizeInt(l.weight, l.params.layout.outFeatures, l.params.layout.inFeatures, l.scheme, {
            v: l.params.v.data,
            ...(l.params.alpha ? { minScale: l.params.alpha.data } : {}),
            ...(l.params.beta ? { maxScale: l.params.beta.data } : {}),
          });
          session.emit(l.name, q);
          overrides.set(l.local, q.qdq);
        }
        const elapsed = (Date.now() - t0) / 1000;
        const eta = (elapsed / (block.index + 1)) * (nBlocks - block.index - 1);
        const rate = `${(o.iters / r.seconds).toFixed(1)} it/s`;
        log.info(`block ${block.index + 1}/${nBlocks}: loss iter 0: ${r.firstLoss.toPrecision(6)} -> iter ${r.bestIter}: ${r.bestLoss.toPrecision(6)}, ${rate}, ${r.seconds.toFixed(1)} s, ETA ${fmt(eta)}`);
        session.blockDone?.(block.index, rate);
      } else {
        session.blockDone?.(block.index);
      }
      // the next block's inputs: quantized outputs of this block (enable_quanted_input) and the FP reference
      if (o.enableQuantedInput) {
        const g = new Graph(session.backend);
        const { w, cfg } = autogradBlock(model, block.index, new Map(), overrides);
        const inp: BlockInputs = { batch: 1, seqLen: T, cos: model.rope.cos, sin: model.rope.sin };
        qIn = qIn.map((x) => decoderBlockOutput(g, x, w, cfg, inp));
      } else {
        qIn = refOut;
      }
      fpIn = refOut;
    }
    const headName = session.spec.lmHead.replace(/\.weight$/, '');
    const head = session.layerSchemes.get(headName);
    if (head) {
      const w = session.checkpoint.readFloat32(session.spec.lmHead);
      session.emit(headName, rtnQuantize(w.data, w.shape[0]!, w.shape[1]!, head));
    }
  },
};
