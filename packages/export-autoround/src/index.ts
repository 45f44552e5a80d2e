import { definePlugin } from '@autoround/core';
import { autoRoundExporter } from './autoround.js';
import { fakeExporter } from './fake.js';

export {
  autoRoundQuantConfig,
  extraConfig,
  FORMAT_AUTOROUND_VERSION,
  GPTQ_LAYOUT_PACKINGS,
  PACKING_PROVIDERS,
  schemeFields,
} from './quant-config.js';
export { autoRoundExporter, autoRoundExporterWith, defaultPacking } from './autoround.js';
export { fakeExporter } from './fake.js';

export const exportAutoRoundPlugin = definePlugin({ name: '@autoround/export-autoround', exporters: [autoRoundExporter, fakeExporter] });
export default exportAutoRoundPlugin;
