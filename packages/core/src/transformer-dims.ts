import { AutoRoundError } from '@autoround/core-tensor';
import type { HFConfig } from './model-spec.js';

// The sizes of a decoder-only transformer as a Hugging Face config.json gives them, read and checked in one place:
// the architectures' forward and the GGUF exporter's metadata read the same fields with the same defaults.

/** A required positive integer field of config.json (or `fallback` when it is absent). */
export function intField(config: HFConfig, key: string, file: string, fallback?: number): number {
  const v = config[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "${key}" is missing`, { subject: file });
  }
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`, { subject: file });
  return v;
}

/** A numeric field of config.json, `fallback` when absent or not a number. */
export function numField(config: HFConfig, key: string, fallback: number): number {
  const v = config[key];
  return typeof v === 'number' ? v : fallback;
}

export interface TransformerDims {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  maxPositions: number;
}

/** More layers than any real model has (the largest have a few hundred). */
const MAX_LAYERS = 10_000;

/**
 * hidden_size, intermediate_size, num_hidden_layers, the attention heads (num_key_value_heads defaults to
 * num_attention_heads, head_dim to hidden_size / num_attention_heads, which must then divide evenly),
 * rms_norm_eps (1e-6) and max_position_embeddings (2048), each checked, `file` named in every error. vocab_size
 * is the architecture's to read: a GGUF file takes it from the tokenizer and the embedding.
 */
export function transformerDims(config: HFConfig, file: string): TransformerDims {
  const hidden = intField(config, 'hidden_size', file);
  const heads = intField(config, 'num_attention_heads', file);
  if ((config.head_dim === undefined || config.head_dim === null) && hidden % heads !== 0) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "hidden_size" ${hidden} is not divisible by "num_attention_heads" ${heads}, and "head_dim" is not given`, { subject: file });
  }
  const kvHeads = intField(config, 'num_key_value_heads', file, heads);
  // grouped-query attention: each key/value head serves the same number of query heads
  if (heads % kvHeads !== 0) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: "num_attention_heads" ${heads} is not a multiple of "num_key_value_heads" ${kvHeads}`, { subject: file });
  }
  // bounded: a damaged config.json (found by tools/fuzz: 4294967296) would otherwise have an architecture
  // describe billions of blocks, long before the checkpoint could disagree with it
  const layers = intField(config, 'num_hidden_layers', file);
  if (layers > MAX_LAYERS) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "num_hidden_layers" ${layers} is not a plausible layer count (at most ${MAX_LAYERS})`, { subject: file });
  return {
    hidden,
    intermediate: intField(config, 'intermediate_size', file),
    layers,
    heads,
    kvHeads,
    headDim: intField(config, 'head_dim', file, hidden / heads),
    eps: numField(config, 'rms_norm_eps', 1e-6),
    maxPositions: intField(config, 'max_position_embeddings', file, 2048),
  };
}
