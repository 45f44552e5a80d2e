import type { ArchitecturePlugin } from '@autoround/core';
import type { LlamaVariant } from '../llama/dims.js';
import { llamaFamilyArchitecture } from '../llama/index.js';

/** Qwen2: LLaMA's block with biases on q/k/v (always) and none on o_proj. */
export const QWEN2: LlamaVariant = {
  name: 'qwen2',
  hfArchitectures: ['Qwen2ForCausalLM'],
  adjust: (d) => ({ ...d, qkvBias: true, oBias: false }),
};

export const qwen2Architecture: ArchitecturePlugin = llamaFamilyArchitecture(QWEN2);
