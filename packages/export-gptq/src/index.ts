import { definePlugin } from '@autoround/core';
import { autoGptqExporter } from './gptq.js';

export { type GptqPackOptions, type GptqTensors, packBits, packGptq } from './pack.js';
export { GptqLayoutSession, PackedLayoutSession, type PackedSessionOptions, type PackedTensor } from './session.js';
export { type GptqLayerParams, GptqLayoutWeights } from './read.js';
export { intWeightOnlyProblem, keptInBlocks, quantizedOutsideBlocks, warnFusedMismatches } from './compat.js';
export { autoGptqExporter, gptqCheckpointFormat, type GptqCheckpointFormat } from './gptq.js';

/** The auto_gptq exporter as a plugin; the GPTQ layout itself is also used by @autoround/export-autoround. */
export const exportGptqPlugin = definePlugin({ name: '@autoround/export-gptq', exporters: [autoGptqExporter] });
export default exportGptqPlugin;
