import { definePlugin } from '@autoround/core';
import { ggufExporter } from './plugin.js';

export * from './ggml-types.js';
export * from './quants/index.js';
export * from './gguf/metadata.js';
export * from './gguf/writer.js';
export * from './gguf/reader.js';
export * from './gguf/info.js';
export * from './tensor-map.js';
export * from './ftype.js';
export * from './hparams.js';
export * from './tokenizer.js';
export * from './export.js';
export * from './qdq.js';
export * from './layer-types.js';
export * from './plan.js';
export * from './overrides.js';
export * from './read.js';
export { ggufExporter, fileTypeOfFormat } from './plugin.js';
export { QuantPool, defaultThreads } from './pool.js';

export default definePlugin({ name: '@autoround/export-gguf', exporters: [ggufExporter] });
