import { AutoRoundError, type HFConfig, intField, type TransformerDims, transformerDims } from '@autoround/core';

/** The hyper-parameters of a Phi-3 model (docs/models/phi3.md): core's sizes and what the family adds. */
export interface Phi3Dims extends TransformerDims {
  vocab: number;
  tied: boolean;
  /** sliding_window (null: full attention). */
  slidingWindow: number | null;
}

export const PHI3_ARCHITECTURES = ['Phi3ForCausalLM'] as const;

export function phi3Dims(config: HFConfig, file: string): Phi3Dims {
  const arch = config.architectures?.[0] ?? '';
  if (!(PHI3_ARCHITECTURES as readonly string[]).includes(arch)) throw new AutoRoundError('E_UNKNOWN_ARCH', `${file}: architecture "${arch}" is not a phi3 model (${PHI3_ARCHITECTURES.join(', ')})`, { subject: file });
  const act = config.hidden_act ?? 'silu';
  if (act !== 'silu') throw new AutoRoundError('E_UNSUPPORTED', `${file}: "hidden_act" ${JSON.stringify(act)} is not supported (only silu)`, { subject: 'hidden_act' });
  for (const key of ['attention_bias', 'mlp_bias']) {
    if (config[key] === true) throw new AutoRoundError('E_UNSUPPORTED', `${file}: "${key}": true is not supported for Phi-3`, { subject: key });
  }
  const sw = config.sliding_window;
  return {
    ...transformerDims(config, file),
    vocab: intField(config, 'vocab_size', file),
    tied: config.tie_word_embeddings === true,
    slidingWindow: sw === undefined || sw === null ? null : intField(config, 'sliding_window', file),
  };
}
