import { definePlugin } from '@autoround/core';
import { llamaArchitecture } from './llama.js';

export * from './config.js';
export * from './rope.js';
export * from './llama.js';
export * from './tokenizer.js';
export { createFastEncoder, fastEncoderUnsupported, FastBpeEncoder } from './fast-bpe.js';
export * from './weights.js';

export const modelsPlugin = definePlugin({ name: '@autoround/models', architectures: [llamaArchitecture] });
export default modelsPlugin;
