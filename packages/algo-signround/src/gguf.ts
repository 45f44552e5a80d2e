// GGUF layers in the calibrated algorithms: which block type each layer gets (the run's
// --format gguf:* file type, or the layer's GGUF preset), and llama.cpp's quantizer for it fed
// with the importance matrix collected on the block inputs.

import { Graph, type Var } from '@autoround/core-tensor';
import { fullName, type BlockForwardOptions, type BlockGraphInject, type BlockSpec, type BlockTunableCausalLM, type QuantScheme, type QuantizeSession, type QuantizedWeight, yieldToEventLoop } from '@autoround/core';
import {
  type GGMLType,
  QuantPool,
  type FrozenBlocks,
  freezeBlocks,
  frozenQdq,
  ggufQuantize,
  ggufQuantizedWeight,
  ggufWeight,
  hasFrozenLayout,
  importanceFromSums,
  packLevels,
  quantTypeOf,
} from '@autoround/quant-types';
import { layerQuantType, rtnQuantize } from '@autoround/algo-rtn';
import { checkFinite, emitOutsideBlocks, quantizedLinears } from './blockwise.js';
import { lfqTokens, lmLoopLoss, lmLoss } from './lm-loss.js';
import { type BlockNormBias, blockNormBias, normBiasInject, normBiasParams } from './norm-bias.js';
import { type BlockProblem, type BlockTuneResult, blockOptimizer, finishGroup, groupOf, layerLr, lossScaleOf, outlierDropCount, prepareTuning, runTuningLoop, checkpointLoop } from './loop.js';

/** Σx² per input column and the number of rows (tokens) it was summed over, for one linear. */
export interface ActivationSums {
  readonly sumSq: Float64Array;
  tokens: number;
}

export function newActivationSums(inFeatures: number): ActivationSums {
  return { sumSq: new Float64Array(inFeatures), tokens: 0 };
}

/** Adds rows × inFeatures activations to the sums. */
export function accumulate(acc: ActivationSums, x: Float32Array, rows: number, inF: number): void {
  const s = acc.sumSq;
  for (let r = 0; r < rows; r++) {
    const o = r * inF;
    for (let i = 0; i < inF; i++) s[i] += x[o + i]! * x[o + i]!;
  }
  acc.tokens += rows;
}

/**
 * The importance matrix of optimized RTN's int search (and SignRoundV2's initial scales): Σx² divided
 * by the number of sequences seen, as the original's imatrix_cnt; checked finite with the layer's name.
 */
export function imatrixPerSequence(acc: ActivationSums, sequences: number, layer: string): Float32Array {
  const im = Float32Array.from(acc.sumSq, (v) => v / sequences);
  checkFinite(im, `${layer} calibration activations`);
  return im;
}

/**
 * Activation sums for every quantized linear of a block, and the forward hook that fills them
 * (Σx² of each linear's inputs, the importance matrix of optimized RTN and GGUF tuning).
 */
export function blockActivationSums(session: QuantizeSession, block: BlockSpec): { sums: Map<string, ActivationSums>; hook: BlockForwardOptions } {
  const sums = new Map<string, ActivationSums>();
  for (const l of block.linears) if (session.layerSchemes.get(fullName(block, l))) sums.set(l.name, newActivationSums(l.inFeatures));
  return {
    sums,
    hook: {
      onLinearInput(name, a, rows, inF) {
        const acc = sums.get(name);
        if (acc) accumulate(acc, a, rows, inF);
      },
    },
  };
}

/**
 * The GGUF layers of a run. Each layer's type is the one the output format planned
 * (`session.quantTypes`: the gguf exporter plans the mix llama-quantize uses with an importance
 * matrix, as this algorithm calibrates), else its GGUF preset scheme's.
 */
export class GgufLayers {
  private pool: QuantPool | undefined;

  constructor(private readonly session: Pick<QuantizeSession, 'quantTypes'>) {}

  /** The block type of a layer, or null when the layer is not a GGUF one. */
  typeOf(layer: string, scheme: QuantScheme): GGMLType | null {
    return layerQuantType(this.session, layer, scheme);
  }

  /**
   * Quantizes a layer to `type` with llama.cpp's quantizer; with activation sums, through its
   * importance-matrix path (the vector is the per-token mean Σx²/tokens, as llama-imatrix stores it;
   * see importanceFromSums for zero columns).
   */
  quantize(layer: string, scheme: QuantScheme, type: GGMLType, weight: Float32Array, out: number, inF: number, sums?: ActivationSums): QuantizedWeight {
    const im = sums ? importanceFromSums(sums.sumSq, sums.tokens, layer) : null;
    this.pool ??= new QuantPool();
    return ggufQuantizedWeight(scheme, weight, out, inF, type, im, this.pool);
  }

  /** A layer outside the blocks (embedding, lm_head): its GGUF type without an importance matrix, else RTN. */
  quantizeOrRtn(layer: string, scheme: QuantScheme, weight: Float32Array, out: number, inF: number): QuantizedWeight {
    const type = this.typeOf(layer, scheme);
    return type !== null ? this.quantize(layer, scheme, type, weight, out, inF) : rtnQuantize(weight, out, inF, scheme);
  }

  /** The pool, for callers that quantize themselves. */
  poolForTuning(): QuantPool {
    this.pool ??= new QuantPool();
    return this.pool;
  }

  close(): void {
    this.pool?.close();
    this.pool = undefined;
  }
}

// ------------------------------------------------------------------ tuning (iters > 0)

/** One GGUF layer being tuned: frozen scales/mins from the iteration-0 search, rounding offsets V. */
interface GgufTunedLayer {
  readonly name: string;
  /** Index of the block the layer belongs to (with --nblocks > 1, one of the group's). */
  readonly block: number;
  readonly local: string;
  readonly scheme: QuantScheme;
  readonly weight: Float32Array;
  readonly out: number;
  readonly inF: number;
  readonly frozen: FrozenBlocks;
  readonly imatrix: Float32Array | null;
  /** Bits of the layer's block type (Q2_K: 2 …). */
  readonly bits: number;
  readonly lr: number;
  readonly v: Float32Array;
  readonly grad: Float32Array;
  readonly qdq: Float32Array;
  readonly inside: Uint8Array;
  best: Float32Array;
}

/** Per block index: the QDQ weights of its quantized layers that are not tuned (float types), by local name. */
type FixedWeights = ReadonlyMap<number, ReadonlyMap<string, Float32Array>>;

/**
 * What a block's graph runs on: `given`'s weights where it has one (QDQ weights of layers not
 * tuned here, or a candidate's), `leafOf`'s (a tuned layer's QDQ as a gradient leaf) before that, the
 * tuned norms and biases of `nb`; the model's own tensors elsewhere.
 */
function groupInject(given: ReadonlyMap<string, Float32Array> | undefined, nb: BlockNormBias | null | undefined, leafOf?: (g: Graph, local: string) => Var | undefined): BlockGraphInject {
  return {
    ...normBiasInject(nb),
    weight(g, local, _own, shape) {
      const leaf = leafOf?.(g, local);
      if (leaf) return leaf;
      const w = given?.get(local);
      return w ? g.input(w, shape) : undefined;
    },
  };
}

/**
 * Runs one sample x [T, hidden] through the blocks of `group` with the given linear weights (the
 * source's where none is given): model.blockForward, or with tuned norms and biases
 * (enable_norm_bias_tuning), which it cannot apply, the autograd graph's forward on one graph.
 */
function groupForwarder(
  session: QuantizeSession,
  model: BlockTunableCausalLM,
  group: readonly number[],
  T: number,
  normBias: ReadonlyMap<number, BlockNormBias>,
): (x: Float32Array, weights: FixedWeights) => Float32Array {
  if (normBias.size === 0) {
    return (x, weights) => {
      let y = x;
      for (const b of group) y = model.blockForward(b, y, T, { weights: weights.get(b) ?? new Map() });
      return y;
    };
  }
  const g = new Graph(session.backend);
  return (x, weights) => {
    g.reset();
    let y = g.input(x, [T, model.spec.hiddenSize]);
    for (const index of group) y = model.blockGraph(g, y, index, groupInject(weights.get(index), normBias.get(index)), 1, T);
    return y.data.slice();
  };
}

/**
 * SignRound on one block's GGUF layers (docs/algorithms/gguf-tuning.md#frozen-scales for the `*_dq` types), or on a group of consecutive
 * blocks with --nblocks (the loss on the group's last output): the scales and mins stay those of the
 * iteration-0 search (llama.cpp's, with the importance matrix), only V moves, by sign-SGD with the
 * linearly decaying rate (AdamW with --enable_adam); the best iteration's V is kept.
 */
async function tuneGgufBlock(
  session: QuantizeSession,
  problem: BlockProblem,
  layers: GgufTunedLayer[],
  fixed: FixedWeights,
  normBias: ReadonlyMap<number, BlockNormBias>,
): Promise<BlockTuneResult> {
  const { model, T } = problem;
  const H = model.spec.hiddenSize;
  const g = new Graph(session.backend);
  const key = (block: number, local: string) => `${block}:${local}`;
  const byKey = new Map(layers.map((l) => [key(l.block, l.local), l]));
  const leaves = new Map<string, Var>();
  // a tuned layer's QDQ as a gradient leaf, the other linears as inputs
  const leafOf = (index: number) => (gr: Graph, local: string): Var | undefined => {
    const k = key(index, local);
    const t = byKey.get(k);
    if (!t) return undefined;
    let v = leaves.get(k);
    if (!v) leaves.set(k, (v = gr.leaf(t.qdq, [t.out, t.inF])));
    return v;
  };
  const chain = groupOf(problem).map((index) => ({ index, inject: groupInject(fixed.get(index), normBias.get(index), leafOf(index)) }));
  // enable_norm_bias_tuning: norm and bias offsets step with a 4-bit layer's rate of V (as on the int path)
  const nbParams = [...normBias.values()].flatMap(normBiasParams);
  const nbLr = layerLr(problem.o, 4);
  const opt = blockOptimizer(problem.o);
  const lossScale = lossScaleOf(problem.o);
  // this loop already is the original's alg_ext path for the double-quant types (scales and mins of the
  // iteration-0 search frozen, only V tuned); enable_alg_ext adds its outlier-suppressed loss below 4 bits
  const outlierSuppressed = problem.o.enableAlgExt && layers.some((l) => l.bits < 4);
  const lfq = lfqTokens(problem);
  return runTuningLoop(problem, {
    begin() {
      for (const l of layers) {
        frozenQdq(l.frozen, l.weight, l.v, l.qdq, undefined, l.inside);
        l.grad.fill(0);
      }
      for (const p of nbParams) p.zeroGrad();
    },
    microBatch(x, target, mask, batch, reduction, samples) {
      g.reset();
      leaves.clear();
      let y = g.input(x, [batch * T, H]);
      for (const b of chain) y = model.blockGraph(g, y, b.index, b.inject, batch, T);
      const loss = lfq ? lmLoss(g, y, model, lfq, samples, mask, T) : g.mse(y, target, { mask, reduction, dropTop: outlierSuppressed ? outlierDropCount(batch * T * H) : 0 });
      const value = lfq ? lmLoopLoss(loss.data[0]!, reduction, batch, T, H) : loss.data[0]!;
      g.backward(g.scale(loss, lossScale));
      // straight-through: ∂y/∂V = s where the rounded value fell inside [lo, hi]
      for (const l of layers) {
        const gw = leaves.get(key(l.block, l.local))!.grad;
        if (!gw) continue;
        const { scale, group } = l.frozen;
        for (let e = 0; e < gw.length; e++) if (l.inside[e]) l.grad[e] = Math.fround(l.grad[e]! + Math.fround(gw[e]! * scale[(e / group) | 0]!));
      }
      return value;
    },
    snapshot() {
      for (const l of layers) l.best = l.v.slice();
      for (const nb of normBias.values()) nb.best = normBiasParams(nb).map((p) => p.data.slice());
    },
    step(decay) {
      for (const l of layers) opt.step(l.v, l.grad, l.lr * decay);
      for (const p of nbParams) opt.step(p.data, p.grad, nbLr * decay);
    },
  });
}

/**
 * The best-iteration rule compares losses measured on different mini-batches, so an easy batch
 * can win; and the last step's V is never measured. Of the iteration-0 levels (V = 0: llama.cpp's
 * own search with the importance matrix), the best iteration's V and the last V, the one with the
 * lowest loss on the whole calibration set is kept (the block's outputs on all samples, the last
 * position masked as in tuning): the tuned file is never worse than the iteration-0 search on the
 * calibration data. Costs three block forwards per sample.
 */
function settleOnCalibration(session: QuantizeSession, problem: BlockProblem, layers: GgufTunedLayer[], fixed: FixedWeights, normBias: ReadonlyMap<number, BlockNormBias>): void {
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
  const forward = groupForwarder(session, model, group, T, normBias);
  const loss = (vOf: (l: GgufTunedLayer) => Float32Array | null, nbOffsets: Float32Array[][]): number => {
    const weights = new Map(group.map((b) => [b, new Map(fixed.get(b))]));
    for (const l of layers) weights.get(l.block)!.set(l.local, frozenQdq(l.frozen, l.weight, vOf(l)));
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
  const candidates: [string, (l: GgufTunedLayer) => Float32Array | null, Float32Array[][]][] = [
    ['iteration 0', () => null, nbZero],
    ['best iteration', (l) => l.best, nbs.map((nb) => nb.best)],
    ['last step', (l) => l.v, nbLast],
  ];
  const losses = candidates.map(([, vOf, nbOffsets]) => loss(vOf, nbOffsets));
  const k = losses.indexOf(Math.min(...losses));
  const which = group.length > 1 ? `blocks ${group[0]! + 1}-${group[group.length - 1]! + 1}` : `block ${group[0]! + 1}`;
  session.log.info(`${which}: loss on all calibration samples: ${candidates.map(([n], i) => `${n} ${losses[i]!.toPrecision(6)}`).join(', ')}; keeping the ${candidates[k]![0]}`);
  const [, vOf, nbOffsets] = candidates[k]!;
  for (const l of layers) l.best = vOf(l) ?? new Float32Array(l.frozen.n);
  setNormBias(nbOffsets);
}

/**
 * SignRound for GGUF layers (`--iters N` with a GGUF scheme or a --format gguf:* output): block by
 * block, the importance matrix is collected on the block's full-precision inputs, each layer is
 * quantized once by llama.cpp's search for its block type (that fixes the GGUF scales and mins,
 * minmax tuning disabled), then the rounding offsets V of all the block's GGUF layers are tuned
 * against the block's full-precision output; the layer is emitted with the tuned levels under the
 * frozen block headers, so the file holds exactly the tuned QDQ.
 */
export async function runGgufSignRound(session: QuantizeSession, gguf: GgufLayers): Promise<void> {
  const run = await prepareTuning(session, 'gguf');
  const { o, model, T, sampler, samples } = run;
  let fpIn = run.fpIn;
  let qIn = run.qIn;
  const t0 = Date.now();
  const blocks = session.spec.blocks;
  for (let first = run.first; first < blocks.length; first += o.nblocks) {
    await yieldToEventLoop();
    const group = blocks.slice(first, first + o.nblocks);
    const tuned: GgufTunedLayer[] = [];
    const fixed = new Map<number, Map<string, Float32Array>>(group.map((b) => [b.index, new Map()]));
    // per block of the group: the full-precision outputs, and the importance matrix on the
    // full-precision inputs (docs/algorithms/gguf-tuning.md#importance-matrix-on-full-precision-inputs); then each layer quantized once by llama.cpp's search
    let refOut = fpIn;
    for (const block of group) {
      const { sums, hook } = blockActivationSums(session, block);
      refOut = refOut.map((x) => model.blockForward(block.index, x, T, hook));
      for (const r of refOut) checkFinite(r, `full-precision output of block ${block.index}`);
      for (const { l, name, scheme, weight: w } of quantizedLinears(session, block)) {
        const type = gguf.typeOf(name, scheme);
        if (type === null) {
          session.log.warn(`${name}: ${scheme.data_type} is not a GGUF type; quantized with RTN, not tuned`);
          const q = rtnQuantize(w, l.outFeatures, l.inFeatures, scheme);
          session.emit(name, q);
          fixed.get(block.index)!.set(l.name, q.qdq);
          continue;
        }
        const acc = sums.get(l.name)!;
        const im = importanceFromSums(acc.sumSq, acc.tokens, name);
        const r0 = ggufQuantize(w, l.outFeatures, l.inFeatures, type, im, gguf.poolForTuning());
        if (!hasFrozenLayout(r0.type)) {
          // a float fallback (F16): nothing to tune
          session.emit(name, ggufWeight(scheme, l.outFeatures, l.inFeatures, r0.type, r0.data, r0.qdq, im));
          fixed.get(block.index)!.set(l.name, r0.qdq);
          continue;
        }
        const n = l.outFeatures * l.inFeatures;
        // the type's nominal bits set the learning rate (docs/algorithms/gguf-tuning.md#learning-rate-by-nominal-bits)
        const bits = quantTypeOf(r0.type).nominalBits ?? scheme.bits;
        tuned.push({
          name,
          block: block.index,
          local: l.name,
          scheme,
          weight: w,
          out: l.outFeatures,
          inF: l.inFeatures,
          frozen: freezeBlocks(r0.type, r0.data, n),
          imatrix: im,
          bits,
          lr: layerLr(o, bits),
          v: new Float32Array(n),
          grad: new Float32Array(n),
          qdq: new Float32Array(n),
          inside: new Uint8Array(n),
          best: new Float32Array(n),
        });
      }
    }
    const overrides = fixed;
    const index = group[0]!.index;
    const last = group[group.length - 1]!.index;
    // enable_norm_bias_tuning: the norms and biases of the group's blocks tune with its layers
    const normBias = new Map<number, BlockNormBias>(o.enableNormBiasTuning && tuned.length > 0 ? group.map((b) => [b.index, blockNormBias(model, b)]) : []);
    let result: BlockTuneResult | null = null;
    if (tuned.length > 0) {
      const problem: BlockProblem = { model, index, blocks: group.map((b) => b.index), qIn, refOut, T, o, sampler, tokens: samples };
      const r = await tuneGgufBlock(session, problem, tuned, fixed, normBias);
      settleOnCalibration(session, problem, tuned, fixed, normBias);
      for (const l of tuned) {
        const levels = new Int16Array(l.frozen.n);
        const qdq = frozenQdq(l.frozen, l.weight, l.best, undefined, levels);
        session.emit(l.name, ggufWeight(l.scheme, l.out, l.inF, l.frozen.type, packLevels(l.frozen, levels), qdq, l.imatrix));
        overrides.get(l.block)!.set(l.local, qdq);
      }
      result = r;
    }
    finishGroup(session, model, group, t0, o, result, normBias);
    // the next group's inputs: the quantized outputs of this group (enable_quanted_input) or the FP reference
    if (o.enableQuantedInput) {
      const forward = groupForwarder(session, model, group.map((b) => b.index), T, normBias);
      qIn = qIn.map((x) => forward(x, overrides));
    } else {
      qIn = refOut;
    }
    for (const x of qIn) checkFinite(x, `output of quantized block ${last}`);
    fpIn = refOut;
    // resumable runs: everything the next group starts from, once this group's results are emitted
    checkpointLoop(session, run, last, fpIn, qIn);
  }
  emitOutsideBlocks(session, (n, s, w, out, inF) => gguf.quantizeOrRtn(n, s, w, out, inF));
}
