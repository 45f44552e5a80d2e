import { definePlugin } from '@autoround/core';
import { autoRoundLlmcPacking, llmCompressorExporter } from './llmc.js';

export { type LlmcTensors, packLlmc, packRowToInt32 } from './pack.js';
export { autoRoundLlmcPacking, llmCompressorExporter } from './llmc.js';

/** The llm_compressor exporter, and the auto_round:llm_compressor packing the auto_round exporter writes through this package. */
export const exportLlmcPlugin = definePlugin({ name: '@autoround/export-llmc', exporters: [llmCompressorExporter], packings: [autoRoundLlmcPacking] });
export default exportLlmcPlugin;
