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
  /** Mistral's sliding_window: each query sees the last `slidingWindow` positions; null for full attention. */
  slidingWindow: number | null;
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
    slidingWindow: slidingWindowOf(config, arch, file),
  };
  return variant.adjust ? variant.adjust(dims, config) : dims;
}

/**
 * The sliding window of a LLaMA-family config (docs/models/sliding-window.md): Mistral's `sliding_window`
 * (null: full attention); Qwen2's applies only with `use_sliding_window`, which is not implemented and
 * so an error rather than ignored. LLaMA has none.
 */
function slidingWindowOf(config: HFConfig, arch: string, file: string): number | null {
  if (config.use_sliding_window === true) {
    throw new AutoRoundError('E_UNSUPPORTED', `${file}: "use_sliding_window": true is not supported for ${arch} (only Mistral's sliding_window is)`, { subject: 'use_sliding_window' });
  }
  if (arch !== 'MistralForCausalLM' || config.sliding_window === undefined || config.sliding_window === null) return null;
  return intField(config, 'sliding_window', file);
}
