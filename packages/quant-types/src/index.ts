// @autoround/quant-types: the quantization types (one table row each), their codecs, the scale
// searches, the WebAssembly kernels and the worker pool. Below algorithms and exporters.
export { GGMLType } from './ggml-types.js';
export {
  blockSizeOf,
  type DequantizeFn,
  ggmlTypeByName,
  ggmlTypeName,
  intQuantTypeOf,
  isKnownGgmlType,
  QUANT_TYPES,
  type QuantizeFn,
  type QuantType,
  quantTypeByName,
  quantTypeOf,
  rowBytes,
  rowFallbackOf,
  scaleGroupOf,
  type SchemeQdqFn,
  tensorBytes,
  typeSizeOf,
  codecOf,
} from './table.js';
export {
  dequantizeQ4_K,
  dequantizeRows,
  freezeBlocks,
  type FrozenBlocks,
  type FrozenLayout,
  frozenQdq,
  hasFrozenLayout,
  packLevels,
  quantizeQ4_K,
  quantizeRows,
  quantBackendOf,
  type QuantBackendName,
  nativeQuantizer,
  setNativeQuantizers,
  setWasmKernel,
  wasmKernelLoaded,
} from './quants/index.js';
export {
  ggmlTypeOfScheme,
  type GgufBlocks,
  ggufBlocksOf,
  ggufQdq,
  ggufQuantize,
  type GgufQuantized,
  ggufQuantizedWeight,
  ggufWeight,
  importanceFromSums,
  isGgufDataType,
} from './gguf-qdq.js';
export { type IntQdqTuning, quantizeInt } from './int/int-qdq.js';
export {
  absMax,
  castToFp4,
  checkFpLayout,
  decodeElement,
  encodeElement,
  FP_FORMATS,
  type FpDataType,
  fpDataTypeOf,
  fpDataTypeOfScheme,
  type FpFormat,
  fpFormatByName,
  fpGeometry,
  fpKernelDims,
  fpQdqValues,
  fpGroupShape,
  type FpTrace,
  type GroupGeometry,
  newFpTrace,
  type FpQdqTuning,
  fusedGlobalScales,
  fusedGlobalScaleSets,
  isFpScheme,
  mxSharedExp,
  nvGlobalScale,
  quantElement,
  quantizeFp,
  ue5m3Bits,
  ue5m3Value,
} from './fp/fp-qdq.js';
export { fpSearchCandidates, hasFpOptRtn, quantizeFpOptRtn, searchFpScale } from './fp/fp-opt-rtn.js';
export { activationScheme, checkActivationScheme, fp8InputScale, needsActivationMax, quantizeActivation, quantizesActivations } from './fp/activation.js';
export { handleImatrixZeros, quantizeIntOptRtn, searchRatio, searchSteps } from './int/opt-rtn.js';
export { QuantPool, defaultThreads, type PoolJob } from './pool.js';
export { type PendingRows, startNativeRows } from './quants/backend.js';
export { activationsOf, type StoredActivation, storedActivationQdq } from './fp/stored-activation.js';
