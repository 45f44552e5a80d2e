import { definePlugin } from '@autoround/core';
import { registerAutoRoundPacking } from '@autoround/export-autoround';
import { autoRoundLlmcPacking, llmCompressorExporter } from './llmc.js';

export * from './pack.js';
export * from './read.js';
export * from './llmc.js';

// the auto_round exporter writes auto_round:llm_compressor through this package
registerAutoRoundPacking(autoRoundLlmcPacking);

/** The llm_compressor exporter as a plugin (loading it also adds the auto_round:llm_compressor packing). */
export const exportLlmcPlugin = definePlugin({ name: '@autoround/export-llmc', exporters: [llmCompressorExporter] });
export default exportLlmcPlugin;
