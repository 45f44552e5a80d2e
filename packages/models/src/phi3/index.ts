import type { ArchitecturePlugin } from '@autoround/core';
import { PHI3_ARCHITECTURES } from './dims.js';
import { Phi3Model } from './model.js';
import { describePhi3 } from './spec.js';
import { loadTokenizer } from '../tokenizer.js';

export * from './block.js';
export * from './dims.js';
export * from './model.js';
export * from './spec.js';

/** Phi3ForCausalLM: fused qkv_proj and gate_up_proj, partial rotary, LongRoPE. */
export const phi3Architecture: ArchitecturePlugin = {
  name: 'phi3',
  hfArchitectures: PHI3_ARCHITECTURES,
  describe: describePhi3,
  load: (spec, weights, backend, options) => new Phi3Model(spec, weights, backend, options),
  tokenizer: loadTokenizer,
};
