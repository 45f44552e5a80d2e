import { type AlgorithmPlugin, isIntWeightOnly, type QuantScheme, type QuantizeSession, type QuantizedWeight, yieldToEventLoop } from '@autoround/core';
import { activationQdqOf, checkLayerSchemes, rtnQuantize } from '@autoround/algo-rtn';
import { isFpScheme, quantizeIntOptRtn } from '@autoround/quant-types';
import { blockActivationQdq, blockFpGlobalScales, fpCalibratedRtn } from './fp.js';
import { blockwiseModel, calibrationSamples, checkFinite, emitOutsideBlocks, quantizedLinears } from './blockwise.js';
import { GgufLayers, blockActivationSums, imatrixPerSequence } from './gguf.js';
import { ggufQuantizer } from './quantizers/gguf.js';
import { runSignRound } from './tune.js';
import { normBiasReplacedTensors } from './norm-bias.js';
import { optRtnReplacesRtn, optRtnRoute } from './route.js';

/** Does the original use the importance-weighted search for this scheme? (docs/algorithms/opt-rtn.md#when-it-runs: int sym, bits < 8) */
export function usesOptRtn(s: QuantScheme): boolean {
  return isIntWeightOnly(s) && s.sym && s.bits < 8;
}

/**
 * Optimized RTN (the original's default for --iters 0): block by block, the importance matrix
 * (Σ x² per input channel over the calibration tokens) of every linear is collected on the
 * block's inputs, each weight is quantized with the imatrix-weighted scale search, and the
 * quantized block's outputs become the next block's inputs. GGUF layers (a --format gguf:* run,
 * or GGUF preset schemes) are quantized by llama.cpp's quantizer for their block type through its
 * importance-matrix path, and the vector goes to the exporter with the layer.
 */
export const optRtnAlgorithm: AlgorithmPlugin = {
  name: 'opt-rtn',
  description: 'optimized RTN (iters 0): importance-matrix weighted scale search for symmetric int and the GGUF types',
  needsCalibration: () => true,
  // the GGUF tuning path (iters > 0) with enable_norm_bias_tuning rewrites the blocks' norms and biases
  replacesTensors: normBiasReplacedTensors,
  // the GGUF tuning path (iters > 0) checkpoints per block group; optimized RTN (iters 0) starts over on --resume
  resumable: (options) => options.iters > 0,
  replacesRtn: optRtnReplacesRtn,
  route: optRtnRoute,
  activations: activationQdqOf,
  async run(session) {
    checkLayerSchemes(session);
    const gguf = new GgufLayers(session);
    try {
      // the host routes a GGUF run with --iters > 0 here: SignRound on the GGUF layers (quantizers/gguf.ts)
      if (session.options.iters > 0) await runSignRound(session, ggufQuantizer(gguf));
      else await runOptRtn(session, gguf);
    } finally {
      gguf.close();
    }
  },
};

async function runOptRtn(session: QuantizeSession, gguf: GgufLayers): Promise<void> {
  const samples = await calibrationSamples(session);
  const model = blockwiseModel(session);
  let inputs = samples.map((ids) => model.embedTokens(ids));
  for (const block of session.spec.blocks) {
    await yieldToEventLoop();
    const { sums, hook } = blockActivationSums(session, block);
    for (let s = 0; s < inputs.length; s++) model.blockForward(block.index, inputs[s]!, samples[s]!.length, hook);
    const overrides = new Map<string, Float32Array>();
    const linears = [...quantizedLinears(session, block)];
    const global = blockFpGlobalScales(linears);
    const emitted = new Map<string, QuantizedWeight>();
    for (const x of linears) {
      const { l, name, scheme, weight: w } = x;
      let q: QuantizedWeight;
      const type = gguf.typeOf(name, scheme);
      if (type !== null) {
        q = gguf.quantize(name, scheme, type, w, l.outFeatures, l.inFeatures, sums.get(l.name));
      } else if (isFpScheme(scheme)) {
        q = fpCalibratedRtn(session, x, global.get(l.name), sums.get(l.name), inputs.length);
      } else if (usesOptRtn(scheme) && !session.options.disableOptRtn) {
        q = quantizeIntOptRtn(w, l.outFeatures, l.inFeatures, scheme, imatrixPerSequence(sums.get(l.name)!, inputs.length, name));
      } else {
        q = rtnQuantize(w, l.outFeatures, l.inFeatures, scheme);
      }
      session.emit(name, q);
      emitted.set(l.name, q);
      overrides.set(l.name, q.qdq);
    }
    // the next block's inputs: the quantized block, activation quantization included
    const activations = blockActivationQdq(emitted);
    inputs = inputs.map((x, s) => model.blockForward(block.index, x, samples[s]!.length, { weights: overrides, ...(activations ? { activations } : {}) }));
    for (const x of inputs) checkFinite(x, `output of block ${block.index}`);
    session.blockDone?.(block.index);
  }
  // no importance matrix outside the blocks (embedding, lm_head), as the original
  emitOutsideBlocks(session, (n, s, w, out, inF) => gguf.quantizeOrRtn(n, s, w, out, inF));
}
