import { AutoRoundError, type HFConfig, llama3FreqBand, ropeScalingOf } from '@autoround/core';

/**
 * Inverse frequencies as transformers' ROPE_INIT_FUNCTIONS compute them: default, linear and
 * llama3. Computed in float32 like torch does (base ** (arange/dim) in float32).
 */
export function ropeInvFreq(config: HFConfig, headDim: number, file: string): Float32Array {
  const theta = typeof config.rope_theta === 'number' ? config.rope_theta : 10000;
  const partial = typeof config.partial_rotary_factor === 'number' ? config.partial_rotary_factor : 1;
  const dim = Math.floor(headDim * partial);
  const half = dim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.fround(1 / Math.fround(Math.pow(theta, Math.fround((2 * i) / dim))));
  const rs = ropeScalingOf(config);
  if (!rs) return inv;
  const type = rs.rope_type ?? rs.type ?? 'default';
  if (type === 'default') return inv;
  if (type === 'linear') {
    const f = rs.factor ?? 1;
    for (let i = 0; i < half; i++) inv[i] = Math.fround(inv[i]! / f);
    return inv;
  }
  if (type === 'llama3') {
    for (let i = 0; i < half; i++) {
      const f = inv[i]!;
      const { band, factor, smooth } = llama3FreqBand(rs, f);
      inv[i] = Math.fround(band === 'low' ? f / factor : band === 'mid' ? (1 - smooth) * (f / factor) + smooth * f : f);
    }
    return inv;
  }
  throw new AutoRoundError('E_UNSUPPORTED', `${file}: rope_scaling type "${type}" is not supported (supported: default, linear, llama3)`, { subject: file });
}

/** cos/sin tables [positions, headDim] with the rotate_half layout (each frequency twice). */
export function ropeTables(invFreq: Float32Array, positions: number, headDim: number): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(positions * headDim);
  const sin = new Float32Array(positions * headDim);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(p * invFreq[i]!);
      const c = Math.cos(a);
      const s = Math.sin(a);
      cos[p * headDim + i] = c;
      cos[p * headDim + i + half] = c;
      sin[p * headDim + i] = s;
      sin[p * headDim + i + half] = s;
    }
    // dims beyond the rotary part (partial rotary) pass through: cos 1, sin 0
    for (let i = 2 * half; i < headDim; i++) cos[p * headDim + i] = 1;
  }
  return { cos, sin };
}

/** Applies rotate_half RoPE in place to x [T, nHeads, headDim] for positions 0..T-1 (+offset). */
export function applyRope(x: Float32Array, T: number, nHeads: number, headDim: number, cos: Float32Array, sin: Float32Array, rotDim: number, offset = 0): void {
  const half = rotDim / 2;
  for (let t = 0; t < T; t++) {
    const cb = (t + offset) * headDim;
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const x1 = x[base + i]!;
        const x2 = x[base + i + half]!;
        x[base + i] = x1 * cos[cb + i]! - x2 * sin[cb + i]!;
        x[base + i + half] = x2 * cos[cb + i + half]! + x1 * sin[cb + i + half]!;
      }
    }
  }
}

/** Phi-3's LongRoPE (docs/models/phi3.md): two sets of tables and the length that picks between them. */
export interface LongRope {
  /** Tables for sequences up to `original` positions (short_factor) and beyond (long_factor), both times the attention factor. */
  readonly short: { cos: Float32Array; sin: Float32Array };
  readonly long: { cos: Float32Array; sin: Float32Array };
  readonly rotDim: number;
  /** original_max_position_embeddings: a forward whose last position + 1 exceeds it uses the long tables. */
  readonly original: number;
  /** The attention factor: √(1 + ln(s) / ln(original)), s = max_position_embeddings / original (1 when s ≤ 1), or rope_scaling.attention_factor. */
  readonly attentionFactor: number;
}

/**
 * transformers' _compute_longrope_parameters: inv_freq = 1 / (ext_factor · base^(2i/dim)) with ext_factor
 * short_factor or long_factor (dim/2 values each), cos and sin scaled by the attention factor. Each
 * field it reads is checked, the file and field named.
 */
export function longRope(config: HFConfig, headDim: number, positions: number, file: string): LongRope | null {
  const rs = ropeScalingOf(config) as (ReturnType<typeof ropeScalingOf> & { short_factor?: unknown; long_factor?: unknown; attention_factor?: unknown }) | null;
  const type = rs ? (rs.rope_type ?? rs.type) : undefined;
  if (!rs || (type !== 'longrope' && type !== 'su')) return null;
  const theta = typeof config.rope_theta === 'number' ? config.rope_theta : 10000;
  const partial = typeof config.partial_rotary_factor === 'number' ? config.partial_rotary_factor : 1;
  const dim = Math.floor(headDim * partial);
  const half = dim / 2;
  const orig = config.original_max_position_embeddings ?? rs.original_max_position_embeddings;
  if (typeof orig !== 'number' || !Number.isInteger(orig) || orig <= 0) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file}: longrope needs "original_max_position_embeddings" (a positive integer), got ${JSON.stringify(orig)}`, { subject: 'original_max_position_embeddings' });
  }
  const maxPos = typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : orig;
  const factor = maxPos / orig;
  let attentionFactor: number;
  if (rs.attention_factor !== undefined && rs.attention_factor !== null) {
    if (typeof rs.attention_factor !== 'number' || !(rs.attention_factor > 0)) throw new AutoRoundError('E_BAD_CONFIG', `${file}: "rope_scaling.attention_factor" must be a positive number, got ${JSON.stringify(rs.attention_factor)}`, { subject: 'rope_scaling.attention_factor' });
    attentionFactor = rs.attention_factor;
  } else {
    attentionFactor = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(orig));
  }
  const tables = (key: 'short_factor' | 'long_factor') => {
    const f = rs[key];
    if (!Array.isArray(f) || f.length !== half || !f.every((v) => typeof v === 'number' && v > 0)) {
      throw new AutoRoundError('E_BAD_CONFIG', `${file}: "rope_scaling.${key}" must be ${half} positive numbers (head_dim × partial_rotary_factor / 2), got ${Array.isArray(f) ? `${f.length} values` : JSON.stringify(f)}`, { subject: `rope_scaling.${key}` });
    }
    const inv = new Float32Array(half);
    // torch, float32: 1.0 / (ext_factors * base ** (arange(0, dim, 2).float() / dim))
    for (let i = 0; i < half; i++) inv[i] = 1 / Math.fround(Math.fround(f[i] as number) * Math.fround(Math.pow(theta, Math.fround((2 * i) / dim))));
    const t = ropeTables(inv, positions, headDim);
    const m = Math.fround(attentionFactor);
    for (let p = 0; p < positions; p++) for (let i = 0; i < dim; i++) {
      t.cos[p * headDim + i] = t.cos[p * headDim + i]! * m;
      t.sin[p * headDim + i] = t.sin[p * headDim + i]! * m;
    }
    return t;
  };
  return { short: tables('short_factor'), long: tables('long_factor'), rotDim: dim, original: orig, attentionFactor };
}
