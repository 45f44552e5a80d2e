import { AutoRoundError, type CommandPlugin, definePlugin } from '@autoround/core';
import { formatGgufInfo } from './gguf/info.js';
import { ggufExporter } from './plugin.js';

export { type GgufArray, type GgufEntry, GgufMetadata, type GgufScalar, GgufValueType } from './gguf/metadata.js';
export { type GgufFile, type GgufTensorInfo, readGguf, readGgufTensorF32 } from './gguf/reader.js';
export { formatGgufInfo } from './gguf/info.js';
export { type GgufArch, ggufTensorName, reversePermuteRows } from './tensor-map.js';
export { fallback, type FileType, fileTypeNames, type TypeChoice } from './ftype.js';
export { writeArchMetadata } from './hparams.js';
export { buildVocab, TokenType, type VocabInfo } from './tokenizer.js';
export { exportGguf, type ExportGgufOptions, type ExportGgufResult, type Imatrix } from './export.js';
export {
  type CheckpointShapes,
  type GgufLayerTypeOptions,
  ggufLayerTypes,
  ggufSelectionOverrides,
} from './layer-types.js';
export { ggufLayerOverrides, type LayerOverrideOptions } from './overrides.js';
export { ggufFileOf, readGgufWeights } from './read.js';
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
