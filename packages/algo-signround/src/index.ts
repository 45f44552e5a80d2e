import { definePlugin } from '@autoround/core';
import { optRtnAlgorithm } from './opt-rtn.js';
import { signRoundAlgorithm } from './signround.js';

// the public surface (README's table): the plugin, the loop and its quantizer interface, the QDQ ops, the options
export { blockwiseModel, calibrationSamples, checkFinite, emitOutsideBlocks, quantizedLinears, type QuantizedLinear } from './blockwise.js';
export { optRtnAlgorithm, usesOptRtn } from './opt-rtn.js';
export { signRoundAlgorithm } from './signround.js';
export {
  type BlockProblem,
  type BlockTuneResult,
  concatRows,
  IndexSampler,
  layerLr,
  logTunedBlock,
  prepareTuning,
  runTuningLoop,
  SignSgd,
  type SignRoundOptions,
  signRoundOptions,
  signStep,
  type TuningStep,
} from './loop.js';
export { runSignRound, type TunableLayer, type TunableQuantizer } from './tune.js';
export { intQuantizer } from './quantizers/int.js';
export { FpParams, fpQdqVar } from './quantizers/fp.js';
export {
  QdqParams,
  type QdqConfig,
  type QdqLayout,
  type QdqSaved,
  qdqLayout,
  groupMinMax,
  qdqForward,
  qdqBackward,
  qdqVar,
  quantizeDequantize,
} from './quantizers/int-qdq.js';
export { TunedVector, tunedVectorVar } from './tuned-vector.js';
export { ggufQuantizer } from './quantizers/gguf.js';
export { signRoundOptionDeclarations } from './options.js';

export const signRoundPlugin = definePlugin({ name: '@autoround/algo-signround', algorithms: [signRoundAlgorithm, optRtnAlgorithm] });
export default signRoundPlugin;
