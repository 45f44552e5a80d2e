import type { ArchitecturePlugin } from '@autoround/core';
import { LLAMA, type LlamaVariant } from './dims.js';
import { LlamaModel } from './model.js';
import { describeLlama } from './spec.js';
import { loadTokenizer } from '../tokenizer.js';

export * from './block.js';
export * from './dims.js';
export * from './model.js';
export * from './spec.js';

/** The architecture plugin of a LLaMA-family variant: its spec, and LlamaModel to run it. */
export function llamaFamilyArchitecture(variant: LlamaVariant): ArchitecturePlugin {
  return {
    name: variant.name,
    hfArchitectures: variant.hfArchitectures,
    describe: (config, file) => describeLlama(config, file, variant),
    load: (spec, weights, backend, options) => new LlamaModel(spec, weights, backend, variant, options),
    tokenizer: loadTokenizer,
  };
}

/** LlamaForCausalLM and MistralForCausalLM. */
export const llamaArchitecture: ArchitecturePlugin = llamaFamilyArchitecture(LLAMA);
