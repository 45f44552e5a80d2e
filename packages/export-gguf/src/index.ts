import { definePlugin } from '@autoround/core';
import { ggufExporter } from './plugin.js';

export * from './gguf/metadata.js';
export * from './gguf/writer.js';
export * from './gguf/reader.js';
export * from './gguf/info.js';
export * from './tensor-map.js';
export * from './ftype.js';
export * from './llama-ftype.js';
export * from './hparams.js';
export * from './tokenizer.js';
export * from './export.js';
export * from './layer-types.js';
export * from './overrides.js';
export * from './read.js';
export { ggufExporter, fileTypeOfFormat } from './plugin.js';

export default definePlugin({ name: '@autoround/export-gguf', exporters: [ggufExporter] });
