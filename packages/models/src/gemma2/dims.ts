import { AutoRoundError, type HFConfig, intField, type TransformerDims, transformerDims } from '@autoround/core';

/**
 * The hyper-parameters of a Gemma 2 / Gemma 3 text model (docs/models/gemma.md), read once from config.json:
 * core's sizes and what the family adds.
 */
export interface GemmaDims extends TransformerDims {
  /** The variant's name (GemmaVariant.name): "gemma2", "gemma3". */
  family: string;
  vocab: number;
  /** Scores are q·k · query_pre_attn_scalar^−½ (not head_dim^−½). */
  queryScale: number;
  /** attn_logit_softcapping, 0 for none. */
  attnSoftcap: number;
  /** final_logit_softcapping, 0 for none. */
  finalSoftcap: number;
  /** sliding_window: the positions a sliding layer's query sees (itself included). */
  slidingWindow: number;
  /** Per layer: true where the layer attends within the sliding window. */
  sliding: boolean[];
  /** rope_theta of the full-attention layers; rope_local_base_freq of the sliding ones (Gemma 3; Gemma 2 uses rope_theta for both). */
  ropeTheta: number;
  ropeLocalTheta: number;
  /** Gemma 3: RMSNorm (1 + w) of each query and key head before the rotary embedding. */
  qkNorm: boolean;
  attnBias: boolean;
  tied: boolean;
}

/** A member of the Gemma family: its Hugging Face names and how its config places sliding layers. */
export interface GemmaVariant {
  readonly name: string;
  readonly hfArchitectures: readonly string[];
  /** Gemma 3's q/k norms and local RoPE base. */
  readonly qkNorm: boolean;
  /** Layer i slides when layer_types is absent (Gemma 2: even layers; Gemma 3: sliding_window_pattern). */
  defaultSliding(config: HFConfig, layer: number, file: string): boolean;
  /** rope_local_base_freq for Gemma 3, rope_theta otherwise. */
  localTheta(config: HFConfig, theta: number): number;
}

/** The activations Gemma's MLP may name: all are the tanh GELU. */
const GELU_TANH = new Set(['gelu_pytorch_tanh', 'gelu_tanh']);

/** A positive number field, or `fallback` when absent / null; anything else is an error naming it. */
function positiveOr(config: HFConfig, key: string, file: string, fallback: number): number {
  const v = config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "${key}" must be a positive number, got ${JSON.stringify(v)}`, { subject: key });
  return v;
}

export function gemmaDims(config: HFConfig, file: string, variant: GemmaVariant): GemmaDims {
  const arch = config.architectures?.[0] ?? '';
  if (!variant.hfArchitectures.includes(arch)) throw new AutoRoundError('E_UNKNOWN_ARCH', `${file}: architecture "${arch}" is not a ${variant.name} model (${variant.hfArchitectures.join(', ')})`, { subject: file });
  // transformers' Gemma MLP reads hidden_activation (hidden_act is the older name)
  const actKey = config.hidden_activation !== undefined && config.hidden_activation !== null ? 'hidden_activation' : 'hidden_act';
  const act = config[actKey] ?? 'gelu_pytorch_tanh';
  if (typeof act !== 'string' || !GELU_TANH.has(act)) throw new AutoRoundError('E_UNSUPPORTED', `${file}: "${actKey}" ${JSON.stringify(act)} is not supported (only gelu_pytorch_tanh)`, { subject: actKey });
  const base = transformerDims(config, file);
  const rs = config.rope_scaling;
  if (rs !== undefined && rs !== null && variant.name === 'gemma2') {
    throw new AutoRoundError('E_UNSUPPORTED', `${file}: "rope_scaling" is not supported for Gemma 2 (it has none)`, { subject: 'rope_scaling' });
  }
  const theta = positiveOr(config, 'rope_theta', file, 10000);
  const layerTypes = config.layer_types;
  const sliding: boolean[] = [];
  for (let i = 0; i < base.layers; i++) {
    if (Array.isArray(layerTypes)) {
      const t: unknown = layerTypes[i];
      if (t !== 'sliding_attention' && t !== 'full_attention') {
        throw new AutoRoundError('E_UNSUPPORTED', `${file}: "layer_types"[${i}] ${JSON.stringify(t)} is not supported (sliding_attention, full_attention)`, { subject: 'layer_types' });
      }
      sliding.push(t === 'sliding_attention');
    } else {
      sliding.push(variant.defaultSliding(config, i, file));
    }
  }
  const anySliding = sliding.some((s) => s);
  return {
    ...base,
    family: variant.name,
    vocab: intField(config, 'vocab_size', file),
    queryScale: positiveOr(config, 'query_pre_attn_scalar', file, base.headDim) ** -0.5,
    attnSoftcap: positiveOr(config, 'attn_logit_softcapping', file, 0),
    finalSoftcap: positiveOr(config, 'final_logit_softcapping', file, 0),
    slidingWindow: anySliding ? intField(config, 'sliding_window', file) : Infinity,
    sliding,
    ropeTheta: theta,
    ropeLocalTheta: variant.localTheta(config, theta),
    qkNorm: variant.qkNorm,
    attnBias: config.attention_bias === true,
    // Gemma2Config / Gemma3TextConfig tie the embeddings unless told otherwise
    tied: config.tie_word_embeddings !== false,
  };
}

export const GEMMA2: GemmaVariant = {
  name: 'gemma2',
  hfArchitectures: ['Gemma2ForCausalLM'],
  qkNorm: false,
  // transformers' Gemma2: layer_types[i] = "sliding_attention" if (i + 1) % 2 else "full_attention"
  defaultSliding: (_config, i) => i % 2 === 0,
  localTheta: (_config, theta) => theta,
};
