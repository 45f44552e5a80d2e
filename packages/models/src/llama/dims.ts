import { AutoRoundError, type HFConfig } from '@autoround/core';
import { intField, numField } from '../config.js';

/** The hyper-parameters a LLaMA-family forward needs, read once from config.json. */
export interface LlamaDims {
  /** The variant's name (LlamaVariant.name): "llama", "qwen2" … */
  family: string;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  vocab: number;
  eps: number;
  maxPositions: number;
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
  const hidden = intField(config, 'hidden_size', file);
  const heads = intField(config, 'num_attention_heads', file);
  const act = config.hidden_act ?? 'silu';
  if (act !== 'silu') throw new AutoRoundError('E_UNSUPPORTED', `${file}: hidden_act "${String(act)}" is not supported (only silu)`, { subject: file });
  const attnBias = config.attention_bias === true;
  // without head_dim, each head takes hidden_size / num_attention_heads: it has to divide evenly
  if ((config.head_dim === undefined || config.head_dim === null) && hidden % heads !== 0) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "hidden_size" ${hidden} is not divisible by "num_attention_heads" ${heads}, and "head_dim" is not given`, { subject: file });
  }
  const headDim = intField(config, 'head_dim', file, hidden / heads);
  const kvHeads = intField(config, 'num_key_value_heads', file, heads);
  // grouped-query attention: each key/value head serves the same number of query heads
  if (heads % kvHeads !== 0) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "num_attention_heads" ${heads} is not a multiple of "num_key_value_heads" ${kvHeads}`, { subject: file });
  }
  const dims: LlamaDims = {
    family: variant.name,
    hidden,
    intermediate: intField(config, 'intermediate_size', file),
    layers: layerCount(config, file),
    heads,
    kvHeads,
    headDim,
    vocab: intField(config, 'vocab_size', file),
    eps: numField(config, 'rms_norm_eps', 1e-6),
    maxPositions: intField(config, 'max_position_embeddings', file, 2048),
    qkvBias: attnBias,
    oBias: attnBias,
    mlpBias: config.mlp_bias === true,
    qkNorm: false,
    tied: config.tie_word_embeddings === true,
  };
  return variant.adjust ? variant.adjust(dims, config) : dims;
}

/** More layers than any real model has (the largest have a few hundred). */
const MAX_LAYERS = 10_000;

/**
 * num_hidden_layers, bounded: a damaged config.json (found by tools/fuzz: 4294967296) would otherwise have
 * describeLlama build billions of block descriptions, long before the checkpoint could disagree with it.
 */
function layerCount(config: HFConfig, file: string): number {
  const n = intField(config, 'num_hidden_layers', file);
  if (n > MAX_LAYERS) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "num_hidden_layers" ${n} is not a plausible layer count (at most ${MAX_LAYERS})`, { subject: file });
  return n;
}
