// The parts of SignRound's block loop (docs/algorithms/signround.md) that do not depend on what is tuned: the
// calibration set-up, the micro-batch buffers, the iteration loop with its best-iteration rule,
// early stop and decaying sign step (or AdamW), checkpoints and the per-block log line. tune.ts is the block-group
// loop built on them, over the int (quantizers/int.ts) and GGUF frozen-scale (quantizers/gguf.ts) quantizers.

import { createHash } from 'node:crypto';
import { ADAM_DEFAULT_LR, AutoRoundError, type BlockSpec, type BlockTunableCausalLM, type CheckpointValue, type KernelBackend, PyRandom, fmt, isBlockTunable, periodicYield, type QuantizeSession } from '@autoround/core';
import { blockwiseModel, calibrationSamples } from './blockwise.js';
import { type BlockNormBias, emitNormBias } from './norm-bias.js';
import { signRoundOptionDeclarations } from './options.js';

/** The tuning options of the original (docs/algorithms/signround.md#defaults-of-the-original), with its defaults. */
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
  /** Momentum μ of the sign step (0: plain sign-SGD): buf = μ·buf + grad, step on sign(buf). */
  momentum: number;
  /**
   * SignRoundV2 (enable_alg_ext) for symmetric int layers: the scale starts from the importance-
   * weighted search and max_scale ∈ [0, 2] multiplies it; below 4 bits the loss leaves out the
   * 0.1% largest errors (docs/algorithms/signround.md#signroundv2-enable-alg-ext).
   */
  enableAlgExt: boolean;
  /** Consecutive blocks tuned together as one (the loss on the last one's output); default 1. */
  nblocks: number;
  /**
   * AdamRound (enable_adam): AdamW (torch's defaults: betas 0.9/0.999, eps 1e-8, weight decay 0.01)
   * instead of the sign step, lr 0.005 unless given, the loss not scaled by 1000 (the original's
   * AutoAdamRound / AutoOPTRound).
   */
  enableAdam: boolean;
  /** Norm weights and linear biases tuned with an additive offset (enable_norm_bias_tuning; norm-bias.ts). */
  enableNormBiasTuning: boolean;
  /** The last block (group) tuned on the LM loss through the final norm and lm_head (enable_lfq) instead of the block-output MSE. */
  enableLfq: boolean;
  /** A mixture-of-experts expert routed fewer calibration tokens than this falls back to optimized RTN (docs/models/moe.md#tuning). */
  minExpertTokens: number;
}

/** The default an option of signRoundOptionDeclarations declares, of the type signRoundOptions reads it as. */
function declaredDefault<T extends 'number' | 'boolean'>(name: string, type: T): T extends 'number' ? number : boolean {
  const d = signRoundOptionDeclarations.find((x) => x.name === name)?.default;
  if (typeof d !== type) throw new Error(`algo-signround: option ${name} declares no ${type} default`);
  return d as T extends 'number' ? number : boolean;
}

export function signRoundOptions(o: QuantizeSession['options']): SignRoundOptions {
  // a value not given takes its declared default (options.ts): one home for each default
  const num = (k: string) => (typeof o[k] === 'number' ? (o[k] as number) : declaredDefault(k, 'number'));
  const bool = (k: string) => (typeof o[k] === 'boolean' ? (o[k] as boolean) : declaredDefault(k, 'boolean'));
  return {
    iters: o.iters,
    ...(o.lr !== undefined ? { lr: o.lr } : {}),
    ...(o.minmaxLr !== undefined ? { minmaxLr: o.minmaxLr } : {}),
    batchSize: o.batchSize,
    gradientAccumulateSteps: num('gradientAccumulateSteps'),
    seed: o.seed,
    enableMinmaxTuning: bool('enableMinmaxTuning'),
    enableQuantedInput: bool('enableQuantedInput'),
    notUseBestMse: bool('notUseBestMse'),
    dynamicMaxGap: num('dynamicMaxGap'),
    momentum: num('momentum'),
    enableAlgExt: bool('enableAlgExt'),
    nblocks: num('nblocks'),
    enableAdam: bool('enableAdam'),
    enableNormBiasTuning: bool('enableNormBiasTuning'),
    enableLfq: bool('enableLfq'),
    minExpertTokens: num('minExpertTokens'),
  };
}

/** How many of a micro-batch's `numel` errors SignRoundV2's outlier-suppressed loss leaves out: 0.1%, at least one. */
export function outlierDropCount(numel: number): number {
  return Math.max(1, Math.floor(numel / 1000));
}

/** AutoAdamRound's default learning rate (defined in @autoround/core, re-exported for this package's users). */
export { ADAM_DEFAULT_LR };

/** The learning rate of a layer with `bits` bits (docs/algorithms/signround.md#learning-rate; AdamRound: 0.005). */
export function layerLr(o: SignRoundOptions, bits: number): number {
  if (o.lr !== undefined) return o.lr;
  if (o.enableAdam) return ADAM_DEFAULT_LR;
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

  /** Where the sampler is: its permutation, position and random stream (resumable runs). */
  state(): { order: Int32Array; pos: number; mt: Uint32Array; mti: number } {
    return { order: Int32Array.from(this.order), pos: this.pos, ...this.rng.getState() };
  }

  /** Continues from what state() returned. */
  restore(s: { readonly order: Int32Array; readonly pos: number; readonly mt: Uint32Array; readonly mti: number }): void {
    this.order = Array.from(s.order);
    this.pos = s.pos;
    this.rng.setState(s);
  }
}


export interface BlockTuneResult {
  firstLoss: number;
  bestLoss: number;
  bestIter: number;
  /** Iterations run: iters, or fewer when dynamicMaxGap stopped the block early. */
  itersRun: number;
  seconds: number;
}

/** Rows `idx` of `parts` (each at least rowLen long) one after another into `out`. */
export function concatRows(parts: readonly Float32Array[], idx: readonly number[], rowLen: number, out: Float32Array): Float32Array {
  idx.forEach((s, k) => out.set(parts[s]!.subarray(0, rowLen), k * rowLen));
  return out;
}

/** What the block loop of a SignRound run starts from. */
export interface TuningRun {
  readonly o: SignRoundOptions;
  readonly model: BlockTunableCausalLM;
  /** Tokens per sample (all samples have this length). */
  readonly T: number;
  readonly sampler: IndexSampler;
  /** Position in spec.blocks of the first block to quantize: 0, or where a resumed run continues. */
  readonly first: number;
  /**
   * The first block's full-precision inputs per sample: the embeddings of the calibration samples,
   * or a resumed run's saved ones.
   */
  readonly fpIn: Float32Array[];
  /** Its quantized-stream inputs (the same arrays as fpIn at block 0, or without enable_quanted_input). */
  readonly qIn: Float32Array[];
  /** The calibration samples' token ids. */
  readonly samples: Int32Array[];
  /** Which loop this is ("int", "gguf"): a state saved by one is never resumed by the other. */
  readonly kind: string;
}

/**
 * Everything SignRound's block loop carries from one block group to the next, and so what a
 * checkpoint holds (docs/resume.md): both input streams, the sampler (its permutation, position
 * and MT19937 state) and the hash of the calibration samples, which a resumed run loads again and
 * must find identical. The optimizers, the norm/bias offsets and the tuned parameters live within
 * one group; the ETA clock and log lines are not part of the result.
 */
export function checkpointLoop(session: QuantizeSession, run: Omit<TuningRun, 'fpIn' | 'qIn'>, lastBlock: number, fpIn: readonly Float32Array[], qIn: readonly Float32Array[]): void {
  if (!session.saveResumeState) return;
  const state: CheckpointValue = {
    kind: run.kind,
    samples: samplesHash(run.samples),
    T: run.T,
    hidden: run.model.spec.hiddenSize,
    fpIn,
    // enable_quanted_input off (and block 0): one stream, stored once
    qIn: qIn === fpIn ? null : qIn,
    sampler: run.sampler.state(),
  };
  session.saveResumeState(lastBlock, state);
}

/** SHA-256 over the samples' lengths and token ids. */
function samplesHash(samples: readonly Int32Array[]): string {
  const h = createHash('sha256');
  for (const s of samples) {
    h.update(new Uint8Array(Int32Array.of(s.length).buffer));
    h.update(new Uint8Array(s.buffer, s.byteOffset, s.byteLength));
  }
  return h.digest('hex');
}

/** The loop's start from a checkpoint (session.resumeState), every field checked against this run. */
function restoreLoop(session: QuantizeSession, kind: string, o: SignRoundOptions, samples: readonly Int32Array[], T: number, H: number, sampler: IndexSampler): { first: number; fpIn: Float32Array[]; qIn: Float32Array[] } {
  const r = session.resumeState!;
  const bad = (why: string) => new AutoRoundError('E_RESUME', `cannot resume: ${why}; run without --resume to start over`, { subject: 'resume state' });
  const s = r.state as Record<string, CheckpointValue> | null;
  if (!s || typeof s !== 'object' || s.kind !== kind) throw bad(`the saved state is not one of SignRound's ${kind} loop`);
  if (s.samples !== samplesHash(samples)) throw bad('the calibration samples differ from the interrupted run\'s (was the --dataset file changed?)');
  const blocks = session.spec.blocks;
  const next = blocks.findIndex((b) => b.index === r.lastBlock) + 1;
  if (next <= 0 || (next % o.nblocks !== 0 && next !== blocks.length)) throw bad(`block ${r.lastBlock} does not end a group of --nblocks ${o.nblocks}`);
  const stream = (v: CheckpointValue, what: string): Float32Array[] => {
    if (!Array.isArray(v) || v.length !== samples.length || !v.every((x) => x instanceof Float32Array && x.length === T * H)) throw bad(`the saved ${what} do not fit ${samples.length} samples of ${T} tokens × ${H}`);
    return v as Float32Array[];
  };
  const fpIn = stream(s.fpIn, 'full-precision inputs');
  const qIn = s.qIn === null ? fpIn : stream(s.qIn, 'quantized inputs');
  const st = s.sampler as Record<string, CheckpointValue> | null;
  if (!st || !(st.order instanceof Int32Array) || typeof st.pos !== 'number' || !(st.mt instanceof Uint32Array) || typeof st.mti !== 'number') throw bad('the saved sampler state is incomplete');
  sampler.restore({ order: st.order, pos: st.pos, mt: st.mt, mti: st.mti });
  return { first: next, fpIn, qIn };
}

/**
 * Options, calibration samples, the LLaMA-family model and the sampler of a SignRound run (docs/algorithms/signround.md#block-loop);
 * a resumed run (session.resumeState) continues from its checkpoint. `kind` names the loop.
 */
export async function prepareTuning(session: QuantizeSession, kind: string): Promise<TuningRun> {
  const o = signRoundOptions(session.options);
  if (o.iters <= 0) throw new AutoRoundError('E_BAD_FLAG', 'SignRound needs --iters > 0', { subject: '--iters' });
  if (!Number.isInteger(o.nblocks) || o.nblocks < 1) throw new AutoRoundError('E_BAD_FLAG', `--nblocks must be an integer ≥ 1, got ${o.nblocks}`, { subject: '--nblocks' });
  const samples = await calibrationSamples(session);
  // one block's weights at a time, read as the loop reaches it (docs/perf/whole-model.md#peak-rss)
  const model = blockwiseModel(session, { lazyBlocks: true });
  if (!isBlockTunable(model)) throw new AutoRoundError('E_UNSUPPORTED', `SignRound tuning needs a model whose blocks run on the autograd graph; ${session.spec.architecture} does not offer that`);
  const T = samples[0]!.length;
  if (samples.some((s) => s.length !== T)) throw new AutoRoundError('E_NO_DATASET', 'calibration samples must all have the same length');
  const bs = Math.min(o.batchSize, samples.length);
  const sampler = new IndexSampler(samples.length, Math.min(samples.length, bs * o.gradientAccumulateSteps), new PyRandom(o.seed));
  if (session.resumeState) return { o, model, T, sampler, samples, kind, ...restoreLoop(session, kind, o, samples, T, model.spec.hiddenSize, sampler) };
  const inputs = samples.map((ids) => model.embedTokens(ids));
  return { o, model, T, sampler, first: 0, fpIn: inputs, qIn: inputs, samples, kind };
}

/** One block's tuning problem: which block, its quantized-stream inputs and full-precision targets. */
export interface BlockProblem {
  readonly model: BlockTunableCausalLM;
  /** The (first) block tuned. */
  readonly index: number;
  /** With nblocks > 1: the consecutive blocks tuned as one (default [index]). */
  readonly blocks?: readonly number[];
  /** The block's inputs per sample (quantized outputs of the previous block, or its FP inputs). */
  readonly qIn: readonly Float32Array[];
  /** The full-precision block's outputs per sample. */
  readonly refOut: readonly Float32Array[];
  /** Tokens per sample. */
  readonly T: number;
  readonly o: SignRoundOptions;
  readonly sampler: IndexSampler;
  /** The samples' token ids (for a loss on the next tokens, enable_lfq). */
  readonly tokens?: readonly Int32Array[];
}

/** The blocks a problem tunes together: [index], or the --nblocks group. */
export function groupOf(problem: BlockProblem): readonly number[] {
  return problem.blocks ?? [problem.index];
}

/** What the loop asks of the tuned parameters. */
export interface TuningStep {
  /** Before an iteration's micro-batches (e.g. the QDQ weights of the current parameters). */
  begin?(): void;
  /**
   * Forward and backward of one micro-batch of `batch` samples (x, target [batch·T, hidden], mask
   * [batch·T]), gradients accumulating; returns the loss with `reduction`.
   */
  microBatch(x: Float32Array, target: Float32Array, mask: Float32Array, batch: number, reduction: 'mean' | 'sum', samples: readonly number[]): number;
  /** Records the current parameters as the best so far. */
  snapshot(): void;
  /** The sign step with the learning rates times `decay`, gradients cleared. */
  step(decay: number): void;
}

/**
 * SignRound's iterations for one block (docs/algorithms/signround.md#best-iteration): each draws a global batch from the sampler,
 * sums the micro-batch losses of the quantized block on `qIn` against `refOut` (the last position
 * of every sample masked out), keeps the parameters of the iteration with the lowest loss (measured
 * before its step; the last iteration with notUseBestMse), stops early after dynamicMaxGap
 * iterations without a new best, and steps with lr·(1 − t/iters).
 */
export async function runTuningLoop(problem: BlockProblem, p: TuningStep): Promise<BlockTuneResult> {
  const { index, qIn, refOut, T, o, sampler } = problem;
  const H = problem.model.spec.hiddenSize;
  const t0 = Date.now();
  const bs = Math.min(o.batchSize, qIn.length);
  const gas = o.gradientAccumulateSteps;
  const buffers = new Map<number, { x: Float32Array; target: Float32Array; mask: Float32Array }>();
  const buffersFor = (b: number) => {
    let e = buffers.get(b);
    if (!e) {
      const mask = new Float32Array(b * T).fill(1);
      for (let k = 0; k < b; k++) mask[k * T + T - 1] = 0;
      e = { x: new Float32Array(b * T * H), target: new Float32Array(b * T * H), mask };
      buffers.set(b, e);
    }
    return e;
  };
  let bestLoss = Number.POSITIVE_INFINITY;
  let bestIter = 0;
  let firstLoss = Number.NaN;
  const breathe = periodicYield();
  let itersRun = 0;
  for (let it = 0; it < o.iters; it++) {
    await breathe();
    itersRun = it + 1;
    p.begin?.();
    const idx = sampler.next();
    let total = 0;
    // micro-batches of batch_size (the last one of a global batch may be shorter)
    for (let m = 0; m < idx.length; m += bs) {
      const mb = idx.slice(m, m + bs);
      const { x, target, mask } = buffersFor(mb.length);
      concatRows(qIn, mb, T * H, x);
      concatRows(refOut, mb, T * H, target);
      let loss = p.microBatch(x, target, mask, mb.length, gas === 1 ? 'mean' : 'sum', mb);
      if (gas > 1) loss /= mb.length * T * H;
      total += loss;
    }
    if (!Number.isFinite(total)) throw new AutoRoundError('E_NONFINITE', `block ${index}: the tuning loss became ${total} at iteration ${it}`, { subject: `model block ${index}` });
    if (it === 0) firstLoss = total;
    if (o.notUseBestMse ? it === o.iters - 1 : total < bestLoss) {
      bestLoss = total;
      bestIter = it;
      p.snapshot();
    }
    if (o.dynamicMaxGap > 0 && it - bestIter >= o.dynamicMaxGap) break;
    // LinearLR(1 → 0 over iters)
    p.step(1 - it / o.iters);
  }
  return { firstLoss, bestLoss, bestIter, itersRun, seconds: (Date.now() - t0) / 1000 };
}

/**
 * The original's SignSGD for one block: data ← data − lr·sign(d), with d = grad, or with momentum
 * μ ≠ 0 d = buf where buf = μ·buf + grad (buf = grad at the first step), as torch.optim.SGD keeps it.
 */
export class SignSgd implements BlockOptimizer {
  private readonly bufs = new Map<Float32Array, Float32Array>();
  /** `backend`: its signStep kernel runs the step where it has one (the same bits, threaded). */
  constructor(
    private readonly momentum: number,
    private readonly backend?: KernelBackend,
  ) {
    if (!(momentum >= 0 && momentum < 1)) throw new AutoRoundError('E_BAD_FLAG', `--momentum must be in [0, 1), got ${momentum}`, { subject: '--momentum' });
  }

  step(data: Float32Array, grad: ArrayLike<number>, lr: number): void {
    if (this.momentum === 0) return signStep(data, grad, lr, this.backend);
    let buf = this.bufs.get(data);
    if (!buf) this.bufs.set(data, (buf = Float32Array.from(grad)));
    else for (let i = 0; i < buf.length; i++) buf[i] = Math.fround(Math.fround(this.momentum * buf[i]!) + grad[i]!);
    signStep(data, buf, lr, this.backend);
  }
}

/** What a block's tuning steps with: sign-SGD (SignRound) or AdamW (AdamRound); state per parameter array. */
export interface BlockOptimizer {
  step(data: Float32Array, grad: ArrayLike<number>, lr: number): void;
}

export function blockOptimizer(o: SignRoundOptions, backend?: KernelBackend): BlockOptimizer {
  return o.enableAdam ? new AdamW() : new SignSgd(o.momentum, backend);
}

/** What the loss is multiplied by before the backward: 1000 for the sign step (docs/algorithms/signround.md#the-step), 1 for AdamRound (its lr is sized for the plain loss). */
export function lossScaleOf(o: SignRoundOptions): number {
  return o.enableAdam ? 1 : 1000;
}

/**
 * torch.optim.AdamW with its defaults (betas 0.9 / 0.999, eps 1e-8, weight decay 0.01), one step:
 * p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
 * p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps), in binary32.
 */
export class AdamW {
  private readonly state = new Map<Float32Array, { m: Float32Array; v: Float32Array; t: number }>();
  constructor(
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
    private readonly weightDecay = 0.01,
  ) {}

  step(data: Float32Array, grad: ArrayLike<number>, lr: number): void {
    let st = this.state.get(data);
    if (!st) this.state.set(data, (st = { m: new Float32Array(data.length), v: new Float32Array(data.length), t: 0 }));
    st.t++;
    const fr = Math.fround;
    const { m, v } = st;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const bc1 = 1 - b1 ** st.t;
    const sqrtBc2 = Math.sqrt(1 - b2 ** st.t);
    const stepSize = lr / bc1;
    const decay = fr(1 - lr * this.weightDecay);
    for (let i = 0; i < data.length; i++) {
      const g = grad[i]!;
      const p = fr(data[i]! * decay);
      m[i] = fr(fr(b1 * m[i]!) + fr((1 - b1) * g));
      v[i] = fr(fr(b2 * v[i]!) + fr(fr((1 - b2) * g) * g));
      const denom = fr(fr(Math.sqrt(v[i]!) / sqrtBc2) + this.eps);
      data[i] = fr(p - fr(stepSize * fr(m[i]! / denom)));
    }
  }
}

/** data ← data − lr·sign(grad), sign(0) = 0, in binary32 (in the backend's signStep kernel where it has one). */
export function signStep(data: Float32Array, grad: ArrayLike<number>, lr: number, backend?: KernelBackend): void {
  if (backend?.signStep && grad instanceof Float32Array) return backend.signStep(data, grad, lr);
  for (let i = 0; i < data.length; i++) {
    const g = grad[i]!;
    if (g > 0) data[i] = Math.fround(data[i]! - lr);
    else if (g < 0) data[i] = Math.fround(data[i]! + lr);
  }
}

/**
 * A block group's bookkeeping once its layers are emitted: progress for each block, the log line
 * when it was tuned (`r`), and with enable_norm_bias_tuning the blocks' norms and biases (tuned, or
 * the source's for a group without tuned layers).
 */
export function finishGroup(
  session: QuantizeSession,
  model: BlockTunableCausalLM,
  group: readonly BlockSpec[],
  t0: number,
  o: SignRoundOptions,
  r: BlockTuneResult | null,
  normBias: ReadonlyMap<number, BlockNormBias>,
): void {
  const first = group[0]!.index;
  const last = group[group.length - 1]!.index;
  if (r) {
    for (const b of group.slice(0, -1)) session.blockDone?.(b.index);
    logTunedBlock(session, last, t0, o.iters, r, group.length > 1 ? first : undefined);
  } else {
    for (const b of group) session.blockDone?.(b.index);
  }
  if (o.enableNormBiasTuning) for (const b of group) emitNormBias(session, model, b, normBias.get(b.index) ?? null);
}

/** The original's per-block line ("loss iter 0: x -> iter k: y", rate, ETA) and the progress tick. */
export function logTunedBlock(session: QuantizeSession, index: number, t0: number, iters: number, r: BlockTuneResult, firstOfGroup?: number): void {
  const nBlocks = session.spec.blocks.length;
  const elapsed = (Date.now() - t0) / 1000;
  const eta = (elapsed / (index + 1)) * (nBlocks - index - 1);
  const rate = `${(r.itersRun / r.seconds).toFixed(1)} it/s`;
  const early = r.itersRun < iters ? `, stopped early after ${r.itersRun} of ${iters} iterations` : '';
  const which = firstOfGroup !== undefined && firstOfGroup !== index ? `blocks ${firstOfGroup + 1}-${index + 1}` : `block ${index + 1}`;
  session.log.info(`${which}/${nBlocks}: loss iter 0: ${r.firstLoss.toPrecision(6)} -> iter ${r.bestIter}: ${r.bestLoss.toPrecision(6)}, ${rate}, ${r.seconds.toFixed(1)} s${early}, ETA ${fmt(eta)}`);
  session.blockDone?.(index, rate);
}
