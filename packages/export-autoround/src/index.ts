import { definePlugin } from '@autoround/core';
import { autoRoundExporter } from './autoround.js';
import { fakeExporter } from './fake.js';

export * from './quant-config.js';
export { autoRoundExporter, autoRoundExporterWith, defaultPacking } from './autoround.js';
export { fakeExporter } from './fake.js';

export const exportAutoRoundPlugin = definePlugin({ name: '@autoround/export-autoround', exporters: [autoRoundExporter, fakeExporter] });
export default exportAutoRoundPlugin;
