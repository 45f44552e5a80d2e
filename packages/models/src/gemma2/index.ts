import type { ArchitecturePlugin } from '@autoround/core';
import { GEMMA2, type GemmaVariant } from './dims.js';
import { GemmaModel } from './model.js';
import { describeGemma } from './spec.js';
import { loadTokenizer } from '../tokenizer.js';

export * from './block.js';
export * from './dims.js';
export * from './model.js';
export * from './spec.js';

/** The architecture plugin of a Gemma variant: its spec, and GemmaModel to run it. */
export function gemmaFamilyArchitecture(variant: GemmaVariant): ArchitecturePlugin {
  return {
    name: variant.name,
    hfArchitectures: variant.hfArchitectures,
    describe: (config, file) => describeGemma(config, file, variant),
    load: (spec, weights, backend, options) => new GemmaModel(spec, weights, backend, variant, options),
    tokenizer: loadTokenizer,
  };
}

/** Gemma2ForCausalLM. */
export const gemma2Architecture: ArchitecturePlugin = gemmaFamilyArchitecture(GEMMA2);
