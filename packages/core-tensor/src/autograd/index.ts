export { Graph, Var, type RopeOptions, type MseOptions } from './graph.js';
export { Param } from './param.js';
export { TunedVector } from './tuned-vector.js';
export { type AttentionOptions } from './attention.js';
export {
  QdqParams,
  type QdqConfig,
  type QdqLayout,
  type QdqSaved,
  qdqLayout,
  groupMinMax,
  qdqForward,
  qdqBackward,
  quantizeDequantize,
} from './qdq.js';
export {
  decoderBlock,
  decoderStack,
  decoderBlockStep,
  decoderBlockOutput,
  blockLinear,
  type BlockStepOptions,
  type BlockLinear,
  type DecoderBlockWeights,
  type DecoderBlockConfig,
  type BlockInputs,
  type BlockNormName,
} from './block.js';
