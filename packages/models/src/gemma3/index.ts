import { AutoRoundError, type ArchitecturePlugin, type HFConfig } from '@autoround/core';
import type { GemmaVariant } from '../gemma2/dims.js';
import { gemmaFamilyArchitecture } from '../gemma2/index.js';

/**
 * Gemma 3 text (Gemma3ForCausalLM, model_type gemma3_text): Gemma 2's block with (1 + w) RMSNorms on each
 * query and key head, sliding layers on their own RoPE base (rope_local_base_freq) and every
 * `sliding_window_pattern`-th layer global (docs/models/gemma.md). The multimodal
 * Gemma3ForConditionalGeneration is not read.
 */
export const GEMMA3: GemmaVariant = {
  name: 'gemma3',
  hfArchitectures: ['Gemma3ForCausalLM'],
  qkNorm: true,
  defaultSliding: (config: HFConfig, i: number, file: string) => {
    const p = config.sliding_window_pattern ?? 6;
    if (typeof p !== 'number' || !Number.isInteger(p) || p <= 0) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "sliding_window_pattern" must be a positive integer, got ${JSON.stringify(p)}`, { subject: 'sliding_window_pattern' });
    return (i + 1) % p !== 0;
  },
  localTheta: (config: HFConfig) => (typeof config.rope_local_base_freq === 'number' ? config.rope_local_base_freq : 10000),
};

export const gemma3Architecture: ArchitecturePlugin = gemmaFamilyArchitecture(GEMMA3);
