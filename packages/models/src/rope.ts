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
