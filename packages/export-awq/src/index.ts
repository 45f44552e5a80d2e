import { definePlugin } from '@autoround/core';
import { registerAutoRoundPacking } from '@autoround/export-autoround';
import { autoAwqExporter, autoRoundAwqPacking } from './awq.js';

export * from './pack.js';
export * from './read.js';
export { AWQ_BITS, AwqLayoutSession, autoAwqExporter, autoRoundAwqPacking, awqQuantConfig, awqSchemeProblem, checkAwqLayers } from './awq.js';

// the auto_round exporter writes auto_round:auto_awq through this package
registerAutoRoundPacking(autoRoundAwqPacking);

/** The auto_awq exporter as a plugin (loading it also adds the auto_round:auto_awq packing). */
export const exportAwqPlugin = definePlugin({ name: '@autoround/export-awq', exporters: [autoAwqExporter] });
export default exportAwqPlugin;
