import { definePlugin } from '@autoround/core';
import { autoGptqExporter } from './gptq.js';

export * from './pack.js';
export * from './session.js';
export * from './read.js';
export * from './compat.js';
export * from './gptq.js';

/** The auto_gptq exporter as a plugin; the GPTQ layout itself is also used by @autoround/export-autoround. */
export const exportGptqPlugin = definePlugin({ name: '@autoround/export-gptq', exporters: [autoGptqExporter] });
export default exportGptqPlugin;
