import { definePlugin } from '@autoround/core';
import { autoAwqExporter, autoRoundAwqPacking } from './awq.js';

export { type AwqTensors, packAwq, packAwqWords } from './pack.js';
export {
  AWQ_BITS,
  AwqLayoutSession,
  autoAwqExporter,
  autoRoundAwqPacking,
  awqQuantConfig,
  awqSchemeProblem,
  checkAwqLayers,
} from './awq.js';

/** The auto_awq exporter, and the auto_round:auto_awq packing the auto_round exporter writes through this package. */
export const exportAwqPlugin = definePlugin({ name: '@autoround/export-awq', exporters: [autoAwqExporter], packings: [autoRoundAwqPacking] });
export default exportAwqPlugin;
