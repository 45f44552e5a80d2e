export { Graph, Var, type RopeOptions, type MseOptions, type CustomOp, type OpBuffers } from './graph.js';
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
