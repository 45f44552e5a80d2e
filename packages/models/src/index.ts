import { definePlugin } from '@autoround/core';
import { llamaArchitecture } from './llama/index.js';
import { qwen2Architecture } from './qwen2/index.js';
import { qwen3Architecture } from './qwen3/index.js';

export * from './config.js';
export * from './rope.js';
export type { BlockOps } from './block-ops.js';
export { type BlockLinearTensors, type BlockTensors, type FloatPositions, blockAttention, blockNorm, causalAttention, floatOps, linearRaw, rmsNorm } from './float-ops.js';
export { type GraphBlockConfig, type GraphBlockOptions, graphOps } from './graph-ops.js';
export * from './llama/index.js';
export * from './qwen2/index.js';
export * from './qwen3/index.js';
export * from './tokenizer.js';
export { createFastEncoder, fastEncoderUnsupported, FastBpeEncoder } from './fast-bpe.js';
// the overlay lives in core (the host builds one for evaluation); re-exported for existing callers
export { OverlayWeights } from '@autoround/core';

// one architecture, one folder (README.md "Adding an architecture"): each registers its Hugging Face names
export const modelsPlugin = definePlugin({ name: '@autoround/models', architectures: [llamaArchitecture, qwen2Architecture, qwen3Architecture] });
export default modelsPlugin;
