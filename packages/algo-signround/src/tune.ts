// SignRound's one block-group loop (docs/algorithms/signround.md#block-loop), over a small tunable-quantizer
// interface: the int quantizer (quantizers/int.ts: V, alpha, beta of int QDQ) and the GGUF frozen-scale one
// (quantizers/gguf.ts: V under llama.cpp's scales) differ only in what they expose to the optimizer, how their
// weight enters the block graph, their clamp and what they emit. Every tuning flag lives here or in loop.ts, once
// (docs/adr/0021-one-tuning-loop.md).

import { Graph, type Var } from '@autoround/core-tensor';
import { type ActivationQdq, type BlockGraphInject, type BlockSpec, type BlockTunableCausalLM, isIntWeightOnly, needsActivationCalibration, type QuantScheme, type QuantizeSession, type QuantizedWeight, yieldToEventLoop } from '@autoround/core';
import { activationQdqOf, rtnQuantize } from '@autoround/algo-rtn';
import { quantizeIntOptRtn } from '@autoround/quant-types';
import { checkFinite, emitOutsideBlocks, type LayerQuantizer, type QuantizedLinear, quantizedLinears } from './blockwise.js';
import { type ActivationSums, blockActivationSums, imatrixPerSequence } from './gguf.js';
import { lfqTokens, lmLoopLoss, lmLoss } from './lm-loss.js';
import { type BlockNormBias, blockNormBias, normBiasInject, normBiasParams } from './norm-bias.js';
import {
  type BlockProblem,
  type BlockTuneResult,
  type SignRoundOptions,
  blockOptimizer,
  checkpointLoop,
  finishGroup,
  groupOf,
  layerLr,
  lossScaleOf,
  outlierDropCount,
  prepareTuning,
  runTuningLoop,
} from './loop.js';

/** One tensor a tunable layer hands the optimizer: its values, their gradient and learning rate. */
export interface TunedTensor {
  readonly data: Float32Array;
  readonly grad: Float32Array;
  readonly lr: number;
}

/** Which parameters of a tuned layer: before any step, the best iteration's (the snapshot), or the last step's. */
export type Candidate = 'initial' | 'best' | 'last';

/** One quantized linear being tuned. */
export interface TunableLayer {
  /** Full layer name. */
  readonly name: string;
  /** The model block it is in (one of the group's with --nblocks > 1) and its name there. */
  readonly block: number;
  readonly local: string;
  /** Whether SignRoundV2's outlier-suppressed loss applies to its group (docs/algorithms/signround.md#signroundv2-enable-alg-ext). */
  readonly dropsOutliers: boolean;
  /** What the optimizer steps; the loop clears the gradients before each iteration. */
  readonly tensors: readonly TunedTensor[];
  /** Before each iteration's micro-batches (e.g. the QDQ of the current parameters). */
  begin?(): void;
  /** The layer's weight [out, in] on the tuning graph, its gradient routed into `tensors`. */
  weight(g: Graph): Var;
  /** After each optimizer step (keeps the parameters in their domain). */
  clamp?(): void;
  /** Records the current parameters as the best so far. */
  snapshot(): void;
  /** The QDQ weight [out, in] of a candidate's parameters (the whole-calibration settle). */
  qdqOf(which: Candidate): Float32Array;
  /** Makes a candidate's parameters the current ones; called once, after the loop. */
  choose(which: Candidate): void;
  /** The quantized weight of the current parameters, and its QDQ (what the next group's inputs run on). */
  emit(): QuantizedWeight;
}

/** What a quantizer gets to decide about one quantized linear of a block. */
export interface LayerContext {
  readonly session: QuantizeSession;
  readonly o: SignRoundOptions;
  readonly block: BlockSpec;
  readonly linear: QuantizedLinear;
  /** Σx² of the linear's full-precision inputs (when `collectsActivations`). */
  readonly sums: ActivationSums | undefined;
  /** Samples the sums were collected on. */
  readonly sequences: number;
}

/** A tunable-quantizer kind: int, GGUF frozen scales. */
export interface TunableQuantizer {
  /** Names the loop in checkpoints: a state saved by one kind is never resumed by another. */
  readonly kind: string;
  /** Whether the full-precision block forward collects Σx² of each linear's inputs for `layer`. */
  collectsActivations(o: SignRoundOptions): boolean;
  /** A tunable for the linear, or the quantized weight of a layer it does not tune (a fixed one). */
  layer(ctx: LayerContext): TunableLayer | { readonly fixed: QuantizedWeight };
  /**
   * After the iterations, whether the kept parameters are chosen on the whole calibration set among iteration 0,
   * the best iteration and the last step (settleOnCalibration), instead of the best iteration's alone.
   */
  readonly settlesOnCalibration: boolean;
  /**
   * Whether the quantized group runs on the autograd graph (no gradient) for the next group's inputs and the
   * settle, rather than the model's float blockForward; the graph runs regardless with tuned norms and biases,
   * which blockForward cannot apply.
   */
  readonly forwardOnGraph: boolean;
  /** Once the run's options are read (e.g. a warning about a flag that changes none of its layers). */
  start?(session: QuantizeSession, o: SignRoundOptions): void;
  /** How the layers outside the blocks (embedding, lm_head) are quantized; default RTN. */
  readonly outside?: LayerQuantizer;
  /**
   * The quantized weight of a routed expert's linear that got too few calibration tokens to tune
   * (docs/models/moe.md#tuning); default: optimized RTN with its importance matrix for sym int, else RTN.
   */
  fallback?(ctx: LayerContext): QuantizedWeight;
}

/** A mixture-of-experts expert's linear ("mlp.experts.3.up_proj") → the expert ("mlp.experts.3"); null for any other. */
export function expertOf(local: string): string | null {
  const m = /^(.*\.experts\.\d+)\./.exec(local);
  return m ? m[1]! : null;
}

/** Optimized RTN of a linear from its importance matrix (plain RTN when it saw no token or the scheme has no search). */
function optRtnFallback({ linear: { l, name, scheme, weight }, sums, sequences }: LayerContext): QuantizedWeight {
  if (sums && sums.tokens > 0 && isIntWeightOnly(scheme) && scheme.sym && scheme.bits < 8) {
    return quantizeIntOptRtn(weight, l.outFeatures, l.inFeatures, scheme, imatrixPerSequence(sums, sequences, name));
  }
  return rtnQuantize(weight, l.outFeatures, l.inFeatures, scheme);
}

/** The per-block line of the expert report: how many experts were tuned and which fell back, with their token counts. */
function expertReport(block: number, tokens: ReadonlyMap<string, number>, fellBack: ReadonlySet<string>, min: number): string {
  const tuned = [...tokens].filter(([e]) => !fellBack.has(e)).map(([, t]) => t);
  const back = [...tokens].filter(([e]) => fellBack.has(e));
  const range = tuned.length > 0 ? ` (${Math.min(...tuned)}–${Math.max(...tuned)} tokens each)` : '';
  const list = back.map(([e, t]) => `${e.slice(e.lastIndexOf('.') + 1)}: ${t}`).join(', ');
  return `block ${block}: ${tuned.length} of ${tokens.size} experts tuned${range}; ${back.length} fell back to optimized RTN (< ${min} tokens)${back.length > 0 ? `: expert ${list}` : ''}`;
}

/** Per block index: the QDQ weights of its quantized layers not tuned (or already emitted), by local name. */
type FixedWeights = ReadonlyMap<number, ReadonlyMap<string, Float32Array>>;

/** The calibrated maximum of a layer's input where its scheme's activations are static (else none). */
function actRange(scheme: QuantScheme, sums: ActivationSums | undefined): { actMax?: number } {
  return needsActivationCalibration(scheme) && sums ? { actMax: sums.amax } : {};
}

/** Per block index: the activation quantization of its linears (by local name), for blocks that quantize activations. */
type BlockActivations = ReadonlyMap<number, ActivationQdq>;

/**
 * What a block's graph runs on: a tuned layer's weight (`tuned`), else `given`'s QDQ weight, the tuned
 * norms and biases of `nb`; the model's own tensors elsewhere.
 */
function groupInject(given: ReadonlyMap<string, Float32Array> | undefined, nb: BlockNormBias | null | undefined, tuned?: ReadonlyMap<string, TunableLayer>, act?: ActivationQdq): BlockGraphInject {
  return {
    ...normBiasInject(nb),
    // the scheme's activation quantization, straight-through (docs/algorithms/fp-qdq.md#activations)
    ...(act ? { input: (g: Graph, local: string, x: Var) => g.straightThrough(x, (xd, out) => out.set(act(local, xd, x.shape[0]!, x.shape[1]!))) } : {}),
    weight(g, local, _own, shape) {
      const t = tuned?.get(local);
      if (t) return t.weight(g);
      const w = given?.get(local);
      return w ? g.input(w, shape) : undefined;
    },
  };
}

/**
 * Runs one sample x [T, hidden] through the blocks of `group` with the given linear weights (the source's
 * where none is given): model.blockForward, or the autograd graph's forward (TunableQuantizer.forwardOnGraph,
 * or with tuned norms and biases).
 */
function groupForwarder(backend: QuantizeSession['backend'], model: BlockTunableCausalLM, group: readonly number[], T: number, normBias: ReadonlyMap<number, BlockNormBias>, onGraph: boolean, acts: BlockActivations): (x: Float32Array, weights: FixedWeights) => Float32Array {
  if (!onGraph && normBias.size === 0) {
    return (x, weights) => {
      let y = x;
      for (const b of group) {
        const activations = acts.get(b);
        y = model.blockForward(b, y, T, { weights: weights.get(b) ?? new Map(), ...(activations ? { activations } : {}) });
      }
      return y;
    };
  }
  const g = new Graph(backend);
  return (x, weights) => {
    g.reset();
    return g.withoutGrad(() => {
      let y = g.input(x, [T, model.spec.hiddenSize]);
      for (const index of group) y = model.blockGraph(g, y, index, groupInject(weights.get(index), normBias.get(index), undefined, acts.get(index)), 1, T);
      return y;
    }).data.slice();
  };
}

/**
 * Tunes one group's layers (and norm/bias offsets) with the signed gradient step (docs/algorithms/signround.md#the-step),
 * or AdamW with --enable_adam; the loss is the (masked, with SignRoundV2 below 4 bits outlier-suppressed) MSE against
 * the full-precision output, or with enable_lfq on the last group the LM loss of the next tokens.
 */
async function tuneGroup(backend: QuantizeSession['backend'], problem: BlockProblem, layers: readonly TunableLayer[], fixed: FixedWeights, normBias: ReadonlyMap<number, BlockNormBias>, acts: BlockActivations): Promise<BlockTuneResult> {
  const { model, T } = problem;
  const H = model.spec.hiddenSize;
  const chain = groupOf(problem).map((index) => ({
    index,
    inject: groupInject(fixed.get(index), normBias.get(index), new Map(layers.filter((l) => l.block === index).map((l) => [l.local, l])), acts.get(index)),
  }));
  const g = new Graph(backend);
  const tensors = layers.flatMap((l) => l.tensors);
  // norm and bias offsets step with a 4-bit layer's rate of V (the original's lr)
  const nbLr = layerLr(problem.o, 4);
  for (const nb of normBias.values()) for (const p of normBiasParams(nb)) tensors.push({ data: p.data, grad: p.grad, lr: nbLr });
  const opt = blockOptimizer(problem.o, backend);
  const lossScale = lossScaleOf(problem.o);
  const outlierSuppressed = layers.some((l) => l.dropsOutliers);
  const lfq = lfqTokens(problem);
  return runTuningLoop(problem, {
    begin() {
      for (const t of tensors) t.grad.fill(0);
      for (const l of layers) l.begin?.();
    },
    microBatch(x, target, mask, batch, reduction, samples) {
      g.reset();
      let y = g.input(x, [batch * T, H]);
      for (const b of chain) y = model.blockGraph(g, y, b.index, b.inject, batch, T);
      const loss = lfq ? lmLoss(g, y, model, lfq, samples, mask, T) : g.mse(y, target, { mask, reduction, dropTop: outlierSuppressed ? outlierDropCount(batch * T * H) : 0 });
      const value = loss.data[0]!;
      if (loss.requiresGrad) g.backward(g.scale(loss, lossScale));
      return lfq ? lmLoopLoss(value, reduction, batch, T, H) : value;
    },
    snapshot() {
      for (const l of layers) l.snapshot();
      for (const nb of normBias.values()) nb.best = normBiasParams(nb).map((p) => p.data.slice());
    },
    step(decay) {
      for (const t of tensors) opt.step(t.data, t.grad, t.lr * decay);
      for (const l of layers) l.clamp?.();
    },
  });
}

/**
 * The best-iteration rule compares losses measured on different mini-batches, so an easy batch can win; and
 * the last step's parameters are never measured. Of the iteration-0 parameters (for GGUF llama.cpp's own
 * search with the importance matrix), the best iteration's and the last step's, the one with the lowest loss on
 * the whole calibration set is kept (the group's outputs on all samples, the last position masked as in
 * tuning): the tuned file is never worse than iteration 0 on the calibration data
 * (docs/algorithms/gguf-tuning.md#whole-calibration-pick). Costs three group forwards per sample.
 */
function settleOnCalibration(
  session: QuantizeSession,
  problem: BlockProblem,
  layers: readonly TunableLayer[],
  fixed: FixedWeights,
  normBias: ReadonlyMap<number, BlockNormBias>,
  forward: (x: Float32Array, weights: FixedWeights) => Float32Array,
): void {
  const { model, qIn, refOut, T } = problem;
  const group = groupOf(problem);
  const H = model.spec.hiddenSize;
  // with enable_lfq on the last group, the candidates are compared on the LM loss they were tuned on
  const lfq = lfqTokens(problem);
  const g = lfq ? new Graph(session.backend) : null;
  const lastMasked = new Float32Array(T).fill(1);
  lastMasked[T - 1] = 0;
  // the norm and bias offsets (enable_norm_bias_tuning) follow the same choice: zero, best or last
  const nbs = [...normBias.values()];
  const nbLast = nbs.map((nb) => normBiasParams(nb).map((p) => p.data.slice()));
  const nbZero = nbs.map((nb) => normBiasParams(nb).map((p) => new Float32Array(p.data.length)));
  const setNormBias = (offsets: Float32Array[][]) => nbs.forEach((nb, i) => normBiasParams(nb).forEach((p, k) => p.data.set(offsets[i]![k]!)));
  const loss = (which: Candidate, nbOffsets: Float32Array[][]): number => {
    const weights = new Map(group.map((b) => [b, new Map(fixed.get(b))]));
    for (const l of layers) weights.get(l.block)!.set(l.local, l.qdqOf(which));
    setNormBias(nbOffsets);
    let sum = 0;
    for (let s = 0; s < qIn.length; s++) {
      const y = forward(qIn[s]!, weights);
      if (lfq && g) {
        g.reset();
        sum += lmLoss(g, g.input(y, [T, H]), model, lfq, [s], lastMasked, T).data[0]!;
        continue;
      }
      const ref = refOut[s]!;
      for (let e = 0; e < (T - 1) * H; e++) sum += (y[e]! - ref[e]!) ** 2;
    }
    return lfq ? sum / qIn.length : sum / (qIn.length * T * H);
  };
  const candidates: [string, Candidate, Float32Array[][]][] = [
    ['iteration 0', 'initial', nbZero],
    ['best iteration', 'best', nbs.map((nb) => nb.best)],
    ['last step', 'last', nbLast],
  ];
  const losses = candidates.map(([, which, nbOffsets]) => loss(which, nbOffsets));
  const k = losses.indexOf(Math.min(...losses));
  const which = group.length > 1 ? `blocks ${group[0]! + 1}-${group[group.length - 1]! + 1}` : `block ${group[0]! + 1}`;
  session.log.info(`${which}: loss on all calibration samples: ${candidates.map(([n], i) => `${n} ${losses[i]!.toPrecision(6)}`).join(', ')}; keeping the ${candidates[k]![0]}`);
  const [, chosen, nbOffsets] = candidates[k]!;
  for (const l of layers) l.choose(chosen);
  setNormBias(nbOffsets);
}

/**
 * SignRound block group by block group (docs/algorithms/signround.md#block-loop): the group's full-precision outputs
 * (with the activation sums the quantizer asks for), a tunable for each quantized linear or its fixed quantized
 * weight, the norm/bias offsets (enable_norm_bias_tuning), the iterations, optionally the whole-calibration settle,
 * the emitted layers, the next group's inputs (the quantized group's outputs with enable_quanted_input) and the
 * checkpoint of a resumable run.
 */
/**
 * The outputs of `f` on every sample of `stream`, as a new array; each input leaves `stream` (an empty array in its
 * place) once its output exists, so that the inputs and the outputs together take one stream and one sample, not two
 * streams. `stream` must not be read afterwards; an input array also held elsewhere (the full-precision stream at
 * block 0) stays alive there.
 */
function forwardStream(stream: Float32Array[], f: (x: Float32Array) => Float32Array): Float32Array[] {
  const out: Float32Array[] = [];
  for (let s = 0; s < stream.length; s++) {
    out.push(f(stream[s]!));
    stream[s] = EMPTY;
  }
  return out;
}
const EMPTY = new Float32Array(0);

export async function runSignRound(session: QuantizeSession, quantizer: TunableQuantizer): Promise<void> {
  // the two input streams leave the run object, which would otherwise keep the first block's inputs alive to the end
  // eslint-disable-next-line prefer-const
  let { fpIn, qIn, ...run } = await prepareTuning(session, quantizer.kind);
  const { o, model, T, sampler, samples } = run;
  // the samples are embedded: the embedding (545 MB at Qwen2.5-0.5B's vocabulary) is read again only if a loss needs the head
  model.releaseEmbeddings?.();
  quantizer.start?.(session, o);
  const t0 = Date.now();
  const blocks = session.spec.blocks;
  // what the loop holds besides one block (docs/perf/whole-model.md#peak-rss); the whole-model bench also times the loop from this line
  const streamMiB = (samples.length * T * model.spec.hiddenSize * 4) / 1048576;
  session.log.info(`SignRound: ${samples.length} calibration samples × ${T} tokens cached, ${streamMiB.toFixed(0)} MiB per stream of block inputs; ${blocks.length - run.first} blocks to tune`);
  for (let first = run.first; first < blocks.length; first += o.nblocks) {
    await yieldToEventLoop();
    const group = blocks.slice(first, first + o.nblocks);
    const index = group[0]!.index;
    const last = group[group.length - 1]!.index;
    const tuned: TunableLayer[] = [];
    const fixed = new Map<number, Map<string, Float32Array>>(group.map((b) => [b.index, new Map()]));
    const acts = new Map<number, ActivationQdq>();
    // per block: weights first (each checked finite, so a bad tensor is named before any forward pass), then its
    // full-precision outputs with the activation sums of its linears on their full-precision inputs
    // (docs/algorithms/gguf-tuning.md#importance-matrix-on-full-precision-inputs)
    let refOut = fpIn;
    // past this point the full-precision inputs are not needed: only qIn and refOut stay (docs/perf/whole-model.md#peak-rss).
    // They are consumed as the outputs are made unless they are also qIn (block 0, or without enable_quanted_input).
    let consumable = fpIn !== qIn;
    fpIn = [];
    for (const block of group) {
      const linears = [...quantizedLinears(session, block)];
      // a mixture-of-experts block counts the tokens routed to each expert (its linears' input rows)
      const routed = linears.some((x) => expertOf(x.l.name) !== null);
      // static activation ranges (FP8_STATIC, NVFP4) are calibrated on the block's full-precision inputs
      const calibratesActivations = linears.some((x) => needsActivationCalibration(x.scheme));
      const collects = quantizer.collectsActivations(o) || calibratesActivations;
      const activations = collects || routed ? blockActivationSums(session, block) : null;
      const sequences = refOut.length;
      const step = (x: Float32Array) => model.blockForward(block.index, x, T, activations?.hook);
      refOut = consumable ? forwardStream(refOut, step) : refOut.map(step);
      consumable = true;
      for (const r of refOut) checkFinite(r, `full-precision output of block ${block.index}`);
      const act = activationQdqOf(new Map(linears.map((x) => [x.l.name, { scheme: x.scheme, ...actRange(x.scheme, activations?.sums.get(x.l.name)) }])));
      if (act) acts.set(block.index, act);
      const expertTokens = new Map<string, number>();
      const fellBack = new Set<string>();
      for (const linear of linears) {
        const expert = expertOf(linear.l.name);
        const seen = activations?.sums.get(linear.l.name);
        if (expert !== null && seen) {
          if (!expertTokens.has(expert)) expertTokens.set(expert, seen.tokens);
          if (seen.tokens < o.minExpertTokens) {
            const ctx: LayerContext = { session, o, block, linear, sums: seen, sequences };
            const q = quantizer.fallback ? quantizer.fallback(ctx) : optRtnFallback(ctx);
            fellBack.add(expert);
            session.emit(linear.name, q);
            fixed.get(block.index)!.set(linear.l.name, q.qdq);
            continue;
          }
        }
        const t = quantizer.layer({ session, o, block, linear, sums: collects ? activations?.sums.get(linear.l.name) : undefined, sequences });
        if ('fixed' in t) {
          session.emit(linear.name, t.fixed);
          fixed.get(block.index)!.set(linear.l.name, t.fixed.qdq);
        } else tuned.push(t);
      }
      if (expertTokens.size > 0) session.log.info(expertReport(block.index, expertTokens, fellBack, o.minExpertTokens));
    }
    // enable_norm_bias_tuning: the norms and biases of the group's blocks tune with its layers
    const normBias = new Map<number, BlockNormBias>(o.enableNormBiasTuning && tuned.length > 0 ? group.map((b) => [b.index, blockNormBias(model, b)]) : []);
    const forward = groupForwarder(session.backend, model, group.map((b) => b.index), T, normBias, quantizer.forwardOnGraph, acts);
    let result: BlockTuneResult | null = null;
    if (tuned.length > 0) {
      const problem: BlockProblem = { model, index, blocks: group.map((b) => b.index), qIn, refOut, T, o, sampler, tokens: samples };
      result = await tuneGroup(session.backend, problem, tuned, fixed, normBias, acts);
      if (quantizer.settlesOnCalibration) settleOnCalibration(session, problem, tuned, fixed, normBias, forward);
      else {
        for (const l of tuned) l.choose('best');
        for (const nb of normBias.values()) normBiasParams(nb).forEach((p, k) => p.data.set(nb.best[k]!));
      }
      for (const l of tuned) {
        const q = l.emit();
        session.emit(l.name, q);
        fixed.get(l.block)!.set(l.local, q.qdq);
      }
    }
    finishGroup(session, model, group, t0, o, result, normBias);
    // the next group's inputs: the quantized outputs of this group (enable_quanted_input) or the FP reference
    qIn = o.enableQuantedInput ? forwardStream(qIn, (x) => forward(x, fixed)) : refOut;
    for (const x of qIn) checkFinite(x, `output of quantized block ${last}`);
    fpIn = refOut;
    for (const b of group) model.releaseBlock?.(b.index);
    // resumable runs: everything the next group starts from, once this group's results are emitted
    checkpointLoop(session, run, last, fpIn, qIn);
  }
  emitOutsideBlocks(session, quantizer.outside);
}
