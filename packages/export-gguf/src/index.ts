import { AutoRoundError, type CommandPlugin, definePlugin } from '@autoround/core';
import { formatGgufInfo } from './gguf/info.js';
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
export * from './plan.js';
export * from './overrides.js';
export * from './read.js';
export { ggufExporter, fileTypeOfFormat } from './plugin.js';

/** `auto-round gguf-info FILE.gguf`: the header, metadata and tensor table of a GGUF file. */
export const ggufInfoCommand: CommandPlugin = {
  name: 'gguf-info',
  usage: 'FILE.gguf',
  description: 'print the metadata and tensor table of a GGUF file',
  run(positionals, io) {
    const file = positionals[0];
    if (!file) throw new AutoRoundError('E_BAD_FLAG', 'gguf-info needs a .gguf file', { subject: 'gguf-info' });
    io.out(formatGgufInfo(file));
  },
};

export default definePlugin({ name: '@autoround/export-gguf', exporters: [ggufExporter], commands: [ggufInfoCommand] });
