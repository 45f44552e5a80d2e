import { Graph, type KernelBackend, QdqParams, type Var } from '@autoround/core-tensor';
import { type AlgorithmPlugin, AutoRoundError, type BlockGraphInject, type BlockTunableCausalLM, isIntWeightOnly, type QuantScheme, scaleDtypeOf, yieldToEventLoop } from '@autoround/core';
import { quantizeInt, quantizeIntOptRtn, rtnQuantize } from '@autoround/algo-rtn';
import { checkFinite, emitOutsideBlocks, quantizedLinears } from './blockwise.js';
import { lfqTokens, lmLoopLoss, lmLoss } from './lm-loss.js';
import { blockActivationSums, imatrixPerSequence } from './gguf.js';
import { type BlockNormBias, blockNormBias, normBiasInject, normBiasParams, normBiasReplacedTensors } from './norm-bias.js';
import { type BlockProblem, type BlockTuneResult, blockOptimizer, finishGroup, groupOf, layerLr, lossScaleOf, outlierDropCount, prepareTuning, runTuningLoop, checkpointLoop } from './loop.js';
import { signRoundRoute } from './route.js';

interface TunedLayer {
  name: string;
  /** The model block the layer is in. */
  block: number;
  local: string;
  scheme: QuantScheme;
  weight: Float32Array;
  params: QdqParams;
  lr: number;
  minmaxLr: number;
  best: Float32Array[];
}

const SCALE_DTYPE = { fp16: 'F16', bf16: 'BF16', fp32: 'F32' } as const;

/**
 * What one block's graph runs on: the QDQ of the tuned layers' parameters (`tuned`), the given weights
 * of layers quantized otherwise (`fixed`), the tuned norms and biases (`nb`); the model's own tensors elsewhere.
 */
function blockInject(tuned: ReadonlyMap<string, QdqParams>, fixed?: ReadonlyMap<string, Float32Array>, nb?: BlockNormBias | null): BlockGraphInject {
  return {
    ...normBiasInject(nb),
    weight(g, local, own, shape) {
      const p = tuned.get(local);
      const rep = fixed?.get(local);
      if (p) return g.qdq(rep ?? own, p);
      return rep ? g.input(rep, shape) : undefined;
    },
  };
}

/** The blocks of a group, one after another, on the graph (nblocks > 1: the output of each the next one's input). */
function stackGraph(g: Graph, x: Var, model: BlockTunableCausalLM, chain: readonly { index: number; inject: BlockGraphInject }[], batch: number, T: number): Var {
  for (const b of chain) x = model.blockGraph(g, x, b.index, b.inject, batch, T);
  return x;
}

/**
 * Tunes one block's quantized layers with signed gradient descent (docs/algorithms/signround.md#the-step) and returns the
 * chosen parameters' summary; the layers' QdqParams end holding the best iteration's values.
 */
export async function tuneBlock(backend: KernelBackend, problem: BlockProblem, layers: TunedLayer[], normBias: ReadonlyMap<number, BlockNormBias> = new Map()): Promise<BlockTuneResult> {
  const { model, T } = problem;
  // one block, or with nblocks > 1 consecutive blocks tuned as one (the output of each the next one's input)
  const chain = groupOf(problem).map((b) => ({ index: b, inject: blockInject(new Map(layers.filter((l) => l.block === b).map((l) => [l.local, l.params])), undefined, normBias.get(b)) }));
  const g = new Graph(backend);
  const params = layers.flatMap((l) => l.params.params().map((p) => ({ p, lr: p === l.params.v ? l.lr : l.minmaxLr })));
  // norm and bias offsets step with the rounding offsets' rate (the original's lr)
  const nbLr = layerLr(problem.o, 4);
  for (const nb of normBias.values()) for (const p of normBiasParams(nb)) params.push({ p, lr: nbLr });
  const opt = blockOptimizer(problem.o);
  const lossScale = lossScaleOf(problem.o);
  // SignRoundV2 below 4 bits: the loss leaves out the 0.1% largest errors of each micro-batch (docs/algorithms/signround.md#signroundv2-enable-alg-ext)
  const outlierSuppressed = layers.some((l) => l.params.initScale !== null && l.params.bits < 4);
  const H = model.spec.hiddenSize;
  // enable_lfq: the group holding the model's last block is tuned on the LM loss of the next tokens
  const lfq = lfqTokens(problem);
  const r = await runTuningLoop(problem, {
    microBatch(x, target, mask, batch, reduction, samples) {
      g.reset();
      const y = stackGraph(g, g.input(x, [batch * T, H]), model, chain, batch, T);
      // enable_lfq: the LM loss of the next tokens (lm-loss.ts); else the (masked) MSE against the full-precision output
      const loss = lfq ? lmLoss(g, y, model, lfq, samples, mask, T) : g.mse(y, target, { mask, reduction, dropTop: outlierSuppressed ? outlierDropCount(batch * T * H) : 0 });
      const value = loss.data[0]!;
      if (loss.requiresGrad) g.backward(g.scale(loss, lossScale));
      return lfq ? lmLoopLoss(value, reduction, batch, T, H) : value;
    },
    snapshot() {
      for (const l of layers) l.best = l.params.params().map((p) => p.data.slice());
      for (const nb of normBias.values()) nb.best = normBiasParams(nb).map((p) => p.data.slice());
    },
    step(decay) {
      for (const { p, lr } of params) {
        opt.step(p.data, p.grad, lr * decay);
        p.zeroGrad();
      }
      // max_scale may double an importance-searched scale (SignRoundV2), else [0, 1] as the original
      for (const l of layers) l.params.clampMinMax(0, l.params.initScale ? 2 : 1);
    },
  });
  for (const l of layers) l.params.params().forEach((p, k) => p.data.set(l.best[k]!));
  for (const nb of normBias.values()) normBiasParams(nb).forEach((p, k) => p.data.set(nb.best[k]!));
  return r;
}

function isTunable(s: QuantScheme): boolean {
  return isIntWeightOnly(s);
}

/** SignRoundV2's scale init applies to symmetric int with groups (docs/algorithms/signround.md#signroundv2-enable-alg-ext); other layers tune as usual. */
function usesAlgExt(s: QuantScheme): boolean {
  return isIntWeightOnly(s) && s.sym && s.group_size !== 0;
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
  replacesTensors: normBiasReplacedTensors,
  // checkpoints after every block group (checkpointLoop) and continues from one (docs/resume.md)
  resumable: () => true,
  route: signRoundRoute,
  async run(session) {
    const run = await prepareTuning(session, 'int');
    const { o, model, T, sampler, samples } = run;
    if (o.enableAlgExt && ![...session.layerSchemes.values()].some((s) => s && usesAlgExt(s))) {
      session.log.warn('--enable_alg_ext changes symmetric int layers only (spec §5); this run has none, so it tunes as without it');
    }
    let fpIn = run.fpIn;
    let qIn = run.qIn;
    const t0 = Date.now();
    const blocks = session.spec.blocks;
    for (let first = run.first; first < blocks.length; first += o.nblocks) {
      await yieldToEventLoop();
      const group = blocks.slice(first, first + o.nblocks);
      const index = group[0]!.index;
      const last = group[group.length - 1]!.index;
      const what = group.length > 1 ? `blocks ${index}-${last}` : `block ${index}`;
      const layers: TunedLayer[] = [];
      const plain = new Map<number, Map<string, Float32Array>>(group.map((b) => [b.index, new Map()]));
      // per block: weights first (each checked finite, so a bad tensor is named before any forward pass), then its
      // full-precision outputs and, with SignRoundV2, the importance matrix of every linear on its full-precision inputs
      let refOut = fpIn;
      for (const block of group) {
        const linears = [...quantizedLinears(session, block)];
        const activations = o.enableAlgExt ? blockActivationSums(session, block) : null;
        const nIn = refOut.length;
        refOut = refOut.map((x) => model.blockForward(block.index, x, T, activations?.hook));
        for (const r of refOut) checkFinite(r, `full-precision output of block ${block.index}`);
        for (const { l, name, scheme, weight } of linears) {
          if (!isTunable(scheme)) {
            const q = rtnQuantize(weight, l.outFeatures, l.inFeatures, scheme);
            session.emit(name, q);
            plain.get(block.index)!.set(l.name, q.qdq);
            continue;
          }
          let initScale: Float32Array | undefined;
          if (activations && usesAlgExt(scheme)) {
            const im = imatrixPerSequence(activations.sums.get(l.name)!, nIn, name);
            initScale = quantizeIntOptRtn(weight, l.outFeatures, l.inFeatures, scheme, im).scales;
          }
          const params = new QdqParams(weight, l.outFeatures, l.inFeatures, {
            bits: scheme.bits,
            groupSize: scheme.group_size,
            sym: scheme.sym,
            scaleDtype: SCALE_DTYPE[scaleDtypeOf(scheme)],
            minmaxTuning: o.enableMinmaxTuning,
            ...(initScale ? { initScale } : {}),
          });
          const lr = layerLr(o, scheme.bits);
          layers.push({ name, block: block.index, local: l.name, scheme, weight, params, lr, minmaxLr: o.minmaxLr ?? lr, best: [] });
        }
      }
      const overrides = plain;
      // enable_norm_bias_tuning: the norms and biases of the group's blocks tune with its layers
      const normBias = new Map<number, BlockNormBias>(o.enableNormBiasTuning && layers.length > 0 ? group.map((b) => [b.index, blockNormBias(model, b)]) : []);
      let result: BlockTuneResult | null = null;
      if (layers.length > 0) {
        if ([...plain.values()].some((m) => m.size > 0)) throw new AutoRoundError('E_UNSUPPORTED', `${what} mixes tuned and untuned quantized layers, which is not supported yet`);
        const r = await tuneBlock(session.backend, { model, index, blocks: group.map((b) => b.index), qIn, refOut, T, o, sampler, tokens: samples }, layers, normBias);
        for (const l of layers) {
          const q = quantizeInt(l.weight, l.params.layout.outFeatures, l.params.layout.inFeatures, l.scheme, {
            v: l.params.v.data,
            ...(l.params.alpha ? { minScale: l.params.alpha.data } : {}),
            ...(l.params.beta ? { maxScale: l.params.beta.data } : {}),
            ...(l.params.initScale ? { initScale: l.params.initScale } : {}),
          });
          session.emit(l.name, q);
          overrides.get(l.block)!.set(l.local, q.qdq);
        }
        result = r;
      }
      finishGroup(session, model, group, t0, o, result, normBias);
      // the next group's inputs: quantized outputs of this group (enable_quanted_input) and the FP reference
      if (o.enableQuantedInput) {
        const g = new Graph(session.backend);
        const chain = group.map((b) => ({ index: b.index, inject: blockInject(new Map(), overrides.get(b.index), normBias.get(b.index)) }));
        const H = model.spec.hiddenSize;
        qIn = qIn.map((x) => {
          g.reset();
          return g.withoutGrad(() => stackGraph(g, g.input(x, [T, H]), model, chain, 1, T)).data.slice();
        });
      } else {
        qIn = refOut;
      }
      fpIn = refOut;
      // resumable runs: everything the next group starts from, once this group's results are emitted
      checkpointLoop(session, run, last, fpIn, qIn);
    }
    emitOutsideBlocks(session);
  },
};
