// Llama-3.1 rope scaling ("rope_type": "llama3" in config.json) in one place: the float forward
// (@autoround/models' inverse frequencies) and the GGUF exporter (its rope_freqs.weight factors) both
// read it here, each deciding which rope_scaling types it supports.

import type { HFConfig } from './model-spec.js';

/** config.json's rope_scaling object (transformers' field names), or null when there is none. */
export interface RopeScalingFields {
  rope_type?: string;
  type?: string;
  factor?: number;
  low_freq_factor?: number;
  high_freq_factor?: number;
  original_max_position_embeddings?: number;
}

export function ropeScalingOf(config: HFConfig): RopeScalingFields | null {
  const r = config.rope_scaling;
  return r && typeof r === 'object' ? (r as RopeScalingFields) : null;
}

/**
 * How llama3 scaling treats the inverse frequency `freq` (transformers' _compute_llama3_parameters,
 * llama.cpp's converter): wavelengths below original_max_position_embeddings / high_freq_factor keep it
 * ("high"), those above original_max_position_embeddings / low_freq_factor divide it by `factor` ("low"),
 * those between blend the two with weight `smooth` on the unscaled one ("mid").
 */
export function llama3FreqBand(rs: RopeScalingFields, freq: number): { band: 'high' | 'low' | 'mid'; factor: number; smooth: number } {
  const factor = rs.factor ?? 8;
  const low = rs.low_freq_factor ?? 1;
  const high = rs.high_freq_factor ?? 4;
  const oldCtx = rs.original_max_position_embeddings ?? 8192;
  const wl = (2 * Math.PI) / freq;
  if (wl < oldCtx / high) return { band: 'high', factor, smooth: 1 };
  if (wl > oldCtx / low) return { band: 'low', factor, smooth: 0 };
  return { band: 'mid', factor, smooth: (oldCtx / wl - low) / (high - low) };
}
