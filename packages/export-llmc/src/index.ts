import { definePlugin } from '@autoround/core';
import { autoRoundFp8Packing, autoRoundLlmcPacking, llmCompressorExporter } from './llmc.js';

export { type LlmcTensors, packLlmc, packRowToInt32 } from './pack.js';
export { autoRoundFp8Packing, autoRoundLlmcPacking, ctFormatOf, ctInputArgs, ctWeightArgs, llmCompressorExporter } from './llmc.js';
export { fpLayoutProblem, packFpLayer, readFpLayer } from './fp.js';

/** The llm_compressor exporter, and the auto_round:llm_compressor packing the auto_round exporter writes through this package. */
export const exportLlmcPlugin = definePlugin({ name: '@autoround/export-llmc', exporters: [llmCompressorExporter], packings: [autoRoundLlmcPacking, autoRoundFp8Packing] });
export default exportLlmcPlugin;
