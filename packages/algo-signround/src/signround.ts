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
  decoderStack,
} from '@autoround/core-tensor';
import { type AlgorithmPlugin, AutoRoundError, isIntWeightOnly, type QuantScheme, scaleDtypeOf, yieldToEventLoop } from '@autoround/core';
import { rtnQuantize } from '@autoround/algo-rtn';
import { quantizeInt, quantizeIntOptRtn } from '@autoround/quant-types';
import type { LlamaBlockWeights, LlamaModel } from '@autoround/models';
import { checkFinite, emitOutsideBlocks, quantizedLinears } from './blockwise.js';
import { lfqTokens, lmLoopLoss, lmLoss } from './lm-loss.js';
import { blockActivationSums, imatrixPerSequence } from './gguf.js';
import { type BlockNormBias, blockNormBias, normBiasParams, normBiasReplacedTensors } from './norm-bias.js';
import { type BlockProblem, type BlockTuneResult, blockOptimizer, finishGroup, groupOf, layerLr, lossScaleOf, outlierDropCount, prepareTuning, runTuningLoop, checkpointLoop } from './loop.js';

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


function toBlockLinear(w: { weight: Float32Array; bias?: Float32Array }, out: number, inF: number, quant?: QdqParams): BlockLinear {
  const l: BlockLinear = { weight: w.weight, outFeatures: out, inFeatures: inF };
  if (w.bias) l.bias = w.bias;
  if (quant) l.quant = quant;
  return l;
}

/** Builds the autograd block for one LLaMA-family block, quantized layers wrapped with their tunable state. */
function autogradBlock(model: LlamaModel, index: number, tuned: ReadonlyMap<string, QdqParams>, fixed?: ReadonlyMap<string, Float32Array>, nb?: BlockNormBias | null): { w: DecoderBlockWeights; cfg: DecoderBlockConfig } {
  const d = model.dims;
  const bw: LlamaBlockWeights = model.blocks[index]!;
  const get = (name: string, out: number, inF: number) => {
    const base = bw.linears.get(name)!;
    const rep = fixed?.get(name);
    const l = toBlockLinear(rep ? { ...base, weight: rep } : base, out, inF, tuned.get(name));
    const tb = nb?.biases.get(name);
    if (tb) l.tunedBias = tb;
    return l;
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
  if (nb) w.tunedNorms = nb.norms;
  const cfg: DecoderBlockConfig = { hidden: d.hidden, numHeads: d.heads, numKvHeads: d.kvHeads, headDim: d.headDim, intermediate: d.intermediate, eps: d.eps, rotaryDim: model.rope.rotDim };
  return { w, cfg };
}

/**
 * Tunes one block's quantized layers with signed gradient descent (docs/algorithms/signround.md#the-step) and returns the
 * chosen parameters' summary; the layers' QdqParams end holding the best iteration's values.
 */
export async function tuneBlock(backend: KernelBackend, problem: BlockProblem, layers: TunedLayer[], normBias: ReadonlyMap<number, BlockNormBias> = new Map()): Promise<BlockTuneResult> {
  const { model, T } = problem;
  // one block, or with nblocks > 1 consecutive blocks tuned as one (the output of each the next one's input)
  const stack = groupOf(problem).map((b) => autogradBlock(model, b, new Map(layers.filter((l) => l.block === b).map((l) => [l.local, l.params])), undefined, normBias.get(b)));
  const w = stack.map((b) => b.w);
  const cfg = stack[0]!.cfg;
  const g = new Graph(backend);
  const inputs = new Map<number, BlockInputs>();
  const params = layers.flatMap((l) => l.params.params().map((p) => ({ p, lr: p === l.params.v ? l.lr : l.minmaxLr })));
  // norm and bias offsets step with the rounding offsets' rate (the original's lr)
  const nbLr = layerLr(problem.o, 4);
  for (const nb of normBias.values()) for (const p of normBiasParams(nb)) params.push({ p, lr: nbLr });
  const opt = blockOptimizer(problem.o);
  const lossScale = lossScaleOf(problem.o);
  // SignRoundV2 below 4 bits: the loss leaves out the 0.1% largest errors of each micro-batch (docs/algorithms/signround.md#signroundv2-enable-alg-ext)
  const outlierSuppressed = layers.some((l) => l.params.initScale !== null && l.params.bits < 4);
  const H = model.dims.hidden;
  // enable_lfq: the group holding the model's last block is tuned on the LM loss of the next tokens
  const lfq = lfqTokens(problem);
  const r = await runTuningLoop(problem, {
    microBatch(x, target, mask, batch, reduction, samples) {
      let inp = inputs.get(batch);
      if (!inp) inputs.set(batch, (inp = { batch, seqLen: T, cos: model.rope.cos, sin: model.rope.sin }));
      if (lfq) return lmLoopLoss(lmLossStep(g, x, w, cfg, inp, model, lfq, samples, mask, lossScale), reduction, batch, T, H);
      const dropTop = outlierSuppressed ? outlierDropCount(batch * T * H) : 0;
      return decoderBlockStep(g, x, target, w, cfg, inp, { mask, lossScale, reduction, dropTop });
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

/**
 * One micro-batch of enable_lfq: the blocks, then the LM loss (lm-loss.ts), and the backward of
 * loss·lossScale. Returns the loss.
 */
function lmLossStep(
  g: Graph,
  x: Float32Array,
  w: readonly DecoderBlockWeights[],
  cfg: DecoderBlockConfig,
  inp: BlockInputs,
  model: LlamaModel,
  tokens: readonly Int32Array[],
  samples: readonly number[],
  mask: Float32Array,
  lossScale: number,
): number {
  g.reset();
  const h = decoderStack(g, g.input(x, [inp.batch * inp.seqLen, model.dims.hidden]), w, cfg, inp);
  const loss = lmLoss(g, h, model, tokens, samples, mask, inp.seqLen);
  const value = loss.data[0]!;
  g.backward(g.scale(loss, lossScale));
  return value;
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
            scaleDtype: scaleDtypeOf(scheme),
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
        const stack = group.map((b) => autogradBlock(model, b.index, new Map(), overrides.get(b.index), normBias.get(b.index)));
        const inp: BlockInputs = { batch: 1, seqLen: T, cos: model.rope.cos, sin: model.rope.sin };
        qIn = qIn.map((x) => decoderBlockOutput(g, x, stack.map((b) => b.w), stack[0]!.cfg, inp));
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
