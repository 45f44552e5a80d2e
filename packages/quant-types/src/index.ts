// @autoround/quant-types: the quantization types (one table row each), their codecs, the scale
// searches, the WebAssembly kernels and the worker pool. Below algorithms and exporters.
export * from './ggml-types.js';
export * from './table.js';
export * from './quants/index.js';
export * from './gguf-qdq.js';
export * from './int/int-qdq.js';
export * from './int/opt-rtn.js';
export { QuantPool, defaultThreads, type PoolJob } from './pool.js';
