// Optimized RTN of the floating-point types (docs/algorithms/fp-qdq.md#optimized-rtn): per group, the multiplier
// of the group maximum with the least importance-weighted squared error among the original's candidates.
import { type QuantScheme, type QuantizedWeight } from '@autoround/core';
import { type FpQdqTuning, fpDataTypeOfScheme, fpGroupShape, quantizeFp } from './fp-qdq.js';

/** The multipliers tried per group, in the original's order: MX {1, 0.5, 2}; NVFP4 0.50, 0.51, …, 1.51. */
export function fpSearchCandidates(scheme: QuantScheme): readonly number[] | null {
  const { format } = fpDataTypeOfScheme(scheme, '--scheme');
  if (format.family === 'mx') return [1, 0.5, 2];
  if (format.family === 'nv') return Array.from({ length: 102 }, (_, k) => Math.fround((50 + k) / 100));
  return null;
}

/** Whether the original has an optimized-RTN search for the scheme's type (MX and NVFP4; not FP8). */
export function hasFpOptRtn(scheme: QuantScheme): boolean {
  return fpSearchCandidates(scheme) !== null;
}

/**
 * The per-group multipliers (initScale) of the search: for each candidate c, the QDQ with max·c, scored per group by
 * Σ imatrix[col]·(qdq − w)² (imatrix null: unweighted); the first best candidate is kept.
 */
export function searchFpScale(weight: Float32Array, out: number, inF: number, scheme: QuantScheme, imatrix: Float32Array | null, tuning: FpQdqTuning = {}): Float32Array {
  const cands = fpSearchCandidates(scheme);
  const { nGroups, slots } = fpGroupShape(scheme, out, inF);
  const best = new Float32Array(nGroups).fill(1);
  if (!cands) return best;
  const bestErr = new Float64Array(nGroups).fill(Infinity);
  const init = new Float32Array(nGroups);
  const per = Math.ceil(inF / slots);
  for (const c of cands) {
    init.fill(c);
    const q = quantizeFp(weight, out, inF, scheme, { ...tuning, initScale: init }).qdq;
    for (let g = 0; g < nGroups; g++) {
      const row = Math.floor(g / per);
      const c0 = (g % per) * slots;
      let e = 0;
      for (let k = 0; k < slots && c0 + k < inF; k++) {
        const i = row * inF + c0 + k;
        const d = q[i]! - weight[i]!;
        e += (imatrix ? imatrix[c0 + k]! : 1) * d * d;
      }
      if (e < bestErr[g]!) {
        bestErr[g] = e;
        best[g] = c;
      }
    }
  }
  return best;
}

/** Optimized RTN of a floating-point weight: the searched multipliers, then the QDQ with them. */
export function quantizeFpOptRtn(weight: Float32Array, out: number, inF: number, scheme: QuantScheme, imatrix: Float32Array | null, tuning: FpQdqTuning = {}): QuantizedWeight {
  const initScale = searchFpScale(weight, out, inF, scheme, imatrix, tuning);
  return quantizeFp(weight, out, inF, scheme, { ...tuning, initScale });
}
