import type { ArchitecturePlugin } from '@autoround/core';
import type { LlamaVariant } from '../llama/dims.js';
import { llamaFamilyArchitecture } from '../llama/index.js';

/** Qwen3: LLaMA's block with an RMSNorm on each query and key head (self_attn.q_norm / k_norm). */
export const QWEN3: LlamaVariant = {
  name: 'qwen3',
  hfArchitectures: ['Qwen3ForCausalLM'],
  adjust: (d) => ({ ...d, qkNorm: true }),
};

export const qwen3Architecture: ArchitecturePlugin = llamaFamilyArchitecture(QWEN3);
