import { AutoRoundError, type QuantScheme, type QuantizedWeight, effectiveGroupSize, scaleDtypeOf } from '@autoround/core';
import { castScale, roundHalfEven, scaleThreshold } from '@autoround/core-tensor';

const f = Math.fround;

/** AR_SEARCH_SCALE_RATIO: the search spans ±maxq·ratio around maxq (docs/algorithms/opt-rtn.md#scale-search). */
export function searchRatio(): number {
  const env = process.env.AR_SEARCH_SCALE_RATIO;
  const r = env !== undefined ? Number(env) : 0.75;
  if (!(r > 0)) throw new AutoRoundError('E_BAD_FLAG', `AR_SEARCH_SCALE_RATIO must be a positive number, got "${env}"`, { subject: 'AR_SEARCH_SCALE_RATIO' });
  return r;
}

/** The candidate offsets k of iscale = −(maxq − step·k)/g, nearest first: −1, 1, −2, 2, … */
export function searchSteps(bits: number, ratio = searchRatio()): { step: number; offsets: number[] } {
  const maxq = 2 ** (bits - 1);
  let step: number;
  let K: number;
  if (bits === 2) {
    step = 0.01;
    K = 90;
  } else {
    step = ((maxq * ratio) / 200) * 2;
    K = Math.floor((maxq * ratio) / step + 1e-9);
  }
  const offsets: number[] = [];
  for (let k = 1; k <= K; k++) offsets.push(-k, k);
  return { step, offsets };
}

/**
 * The importance weights of one group after the original's zero handling: a group with more
 * than half zeros (of 16 for 2-bit, 32 otherwise) falls back to weight magnitudes; fewer zeros
 * are filled with the group's mean.
 */
export function handleImatrixZeros(weights: Float32Array, imat: Float32Array, bits: number): Float32Array {
  const n = imat.length;
  let zeros = 0;
  for (let i = 0; i < n; i++) if (imat[i] === 0) zeros++;
  if (zeros === 0) return imat;
  const out = new Float32Array(n);
  const limit = Math.floor((bits === 2 ? 16 : 32) / 2);
  if (zeros > limit) {
    let s2 = 0;
    for (let i = 0; i < n; i++) s2 += weights[i]! * weights[i]!;
    const av = bits <= 3 ? 0 : Math.sqrt(s2 / 32);
    for (let i = 0; i < n; i++) out[i] = f(Math.abs(weights[i]!) + av);
    return out;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) sum += imat[i]!;
  const mean = f(sum / (n - zeros));
  for (let i = 0; i < n; i++) out[i] = imat[i] === 0 ? mean : imat[i]!;
  return out;
}

/**
 * Optimized RTN for full-range symmetric int (the original's rtn_int_sym with an importance
 * matrix): per group, try scales around maxq/|g| and keep the one with the least
 * imatrix-weighted squared error. The chosen scale is then cast to the scale dtype, as the
 * exported model stores it, so the QDQ weight equals what a reader of the export computes.
 */
export function quantizeIntOptRtn(weight: Float32Array, out: number, inF: number, scheme: QuantScheme, imatrix: Float32Array | undefined): QuantizedWeight {
  if (scheme.data_type !== 'int' || !scheme.sym) throw new AutoRoundError('E_UNSUPPORTED', 'optimized RTN applies to symmetric int schemes only');
  if (imatrix && imatrix.length !== inF) throw new RangeError(`imatrix has ${imatrix.length} entries, the layer has ${inF} inputs`);
  const bits = scheme.bits;
  const maxq = 2 ** (bits - 1);
  const gs = effectiveGroupSize(scheme.group_size, inF, out);
  if (scheme.group_size === 0) throw new AutoRoundError('E_UNSUPPORTED', 'optimized RTN does not support per-tensor (group_size 0) scales');
  const G = Math.ceil(inF / gs);
  const sdt = scaleDtypeOf(scheme);
  const thresh = scaleThreshold(sdt);
  const { step, offsets } = searchSteps(bits);
  const scales = new Float32Array(out * G);
  const zeros = new Int32Array(out * G).fill(maxq);
  const codes = new Uint8Array(out * inF);
  const qdq = new Float32Array(out * inF);
  const wg = new Float32Array(gs);
  const qg = new Float32Array(gs);
  for (let o = 0; o < out; o++) {
    for (let g = 0; g < G; g++) {
      const c0 = g * gs;
      const len = Math.min(gs, inF - c0);
      wg.fill(0);
      qg.fill(1e-5); // padding positions carry imatrix 1e-5 as in the original
      for (let i = 0; i < len; i++) {
        wg[i] = weight[o * inF + c0 + i]!;
        qg[i] = imatrix ? imatrix[c0 + i]! : 1;
      }
      const qw = imatrix ? handleImatrixZeros(wg, qg, bits) : qg.fill(1);
      // the group's signed max-|.| element (first one on ties, like argmax)
      let gmax = 0;
      for (let i = 0; i < gs; i++) if (Math.abs(wg[i]!) > Math.abs(gmax)) gmax = wg[i]!;
      const lossAt = (iscale: number): number => {
        const s = f(1 / iscale);
        let loss = 0;
        for (let i = 0; i < gs; i++) {
          let l = roundHalfEven(f(iscale * wg[i]!));
          if (l < -maxq) l = -maxq;
          else if (l > maxq - 1) l = maxq - 1;
          const d = f(f(s * l) - wg[i]!);
          loss += qw[i]! * d * d;
        }
        return loss;
      };
      let best = gmax === 0 ? 0 : f(-maxq / gmax);
      let scale = gmax === 0 ? 0 : f(1 / best);
      if (gmax !== 0) {
        let bestLoss = lossAt(best);
        for (const k of offsets) {
          const is = f(-f(maxq - step * k) / gmax);
          const loss = lossAt(is);
          if (loss < bestLoss) {
            bestLoss = loss;
            best = is;
          }
        }
        scale = f(1 / best);
      }
      let s = castScale(scale, sdt);
      if (s < 0) {
        if (s > -thresh) s = -thresh;
      } else if (s < thresh) s = thresh;
      scales[o * G + g] = s;
      for (let i = 0; i < len; i++) {
        let q = roundHalfEven(f(wg[i]! / s));
        if (q < -maxq) q = -maxq;
        else if (q > maxq - 1) q = maxq - 1;
        codes[o * inF + c0 + i] = q + maxq;
        qdq[o * inF + c0 + i] = f(s * q);
      }
    }
  }
  return { scheme, shape: [out, inF], groupSize: gs, qdq, codes, scales, zeros };
}
