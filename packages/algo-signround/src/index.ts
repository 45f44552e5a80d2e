import { definePlugin } from '@autoround/core';
import { optRtnAlgorithm } from './opt-rtn.js';
import { signRoundAlgorithm } from './signround.js';

export * from './blockwise.js';
export * from './opt-rtn.js';
export * from './signround.js';
export * from './loop.js';
export * from './tune.js';
export { intQuantizer } from './quantizers/int.js';
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
export * from './norm-bias.js';
export * from './options.js';

export const signRoundPlugin = definePlugin({ name: '@autoround/algo-signround', algorithms: [signRoundAlgorithm, optRtnAlgorithm] });
export default signRoundPlugin;
