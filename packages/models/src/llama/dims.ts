import { AutoRoundError, type HFConfig, intField, type TransformerDims, transformerDims } from '@autoround/core';

/** The hyper-parameters a LLaMA-family forward needs, read once from config.json: core's sizes and the family's own. */
export interface LlamaDims extends TransformerDims {
  /** The variant's name (LlamaVariant.name): "llama", "qwen2" … */
  family: string;
  vocab: number;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  qkNorm: boolean;
  tied: boolean;
}

/**
 * A member of the LLaMA family: the Hugging Face architectures it answers to and what its config
 * implies beyond LLaMA's fields (Qwen2: q/k/v biases; Qwen3: q/k norms). One folder per variant
 * (qwen2/, qwen3/) defines one of these; the block, the spec and the loading are LLaMA's.
 */
export interface LlamaVariant {
  readonly name: string;
  readonly hfArchitectures: readonly string[];
  /** The variant's dims from LLaMA's reading of the config. */
  adjust?(dims: LlamaDims, config: HFConfig): LlamaDims;
}

export const LLAMA: LlamaVariant = { name: 'llama', hfArchitectures: ['LlamaForCausalLM', 'MistralForCausalLM'] };

export function llamaDims(config: HFConfig, file: string, variant: LlamaVariant = LLAMA): LlamaDims {
  const arch = config.architectures?.[0] ?? '';
  if (!variant.hfArchitectures.includes(arch)) throw new AutoRoundError('E_UNKNOWN_ARCH', `${file}: architecture "${arch}" is not a ${variant.name} model (${variant.hfArchitectures.join(', ')})`, { subject: file });
  const act = config.hidden_act ?? 'silu';
  if (act !== 'silu') throw new AutoRoundError('E_UNSUPPORTED', `${file}: hidden_act "${String(act)}" is not supported (only silu)`, { subject: file });
  const attnBias = config.attention_bias === true;
  const dims: LlamaDims = {
    family: variant.name,
    // the sizes every decoder shares (core reads and checks them once, for the GGUF exporter too)
    ...transformerDims(config, file),
    vocab: intField(config, 'vocab_size', file),
    qkvBias: attnBias,
    oBias: attnBias,
    mlpBias: config.mlp_bias === true,
    qkNorm: false,
    tied: config.tie_word_embeddings === true,
  };
  return variant.adjust ? variant.adjust(dims, config) : dims;
}
