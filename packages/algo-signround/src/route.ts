// This package's routing declarations (AlgorithmRouting in @autoround/core): the host asks them which
// algorithm runs a request and knows no quantization type itself.
import { type AlgorithmRoute, type AlgorithmRouteContext, needsActivationCalibration, type QuantScheme } from '@autoround/core';
import { hasFpOptRtn, isFpScheme } from '@autoround/quant-types';
import { usesOptRtn } from './opt-rtn.js';

/**
 * Whether a tuning run targets GGUF types: an output format that fixes each layer's type
 * (--format gguf:*), or a GGUF scheme (the k-quants' double quantization, Q4_1/Q5_1's float zero point).
 */
export function isGgufTuning(ctx: AlgorithmRouteContext): boolean {
  const dt = ctx.scheme.data_type;
  return ctx.options.iters > 0 && (ctx.fixedTypes || dt.endsWith('_dq') || dt === 'int_asym_float_zp');
}

/** GGUF tuning keeps the GGUF scale/min search of iteration 0 (docs/algorithms/gguf-tuning.md#frozen-scales). */
const FROZEN_SCALES = { enable_minmax_tuning: false } as const;

/**
 * SignRound's route: GGUF types are tuned on V only, with the GGUF scales frozen, on opt-rtn's
 * tuning path (docs/algorithms/gguf-tuning.md#frozen-scales); a float GGUF file has nothing to tune (RTN).
 */
export function signRoundRoute(ctx: AlgorithmRouteContext): AlgorithmRoute | undefined {
  if (!isGgufTuning(ctx)) return undefined;
  if (ctx.scheme.bits >= 16) return { algorithm: 'rtn', quantArgs: FROZEN_SCALES };
  return { algorithm: 'opt-rtn', label: 'auto_round (GGUF: V tuned, GGUF scales frozen)', quantArgs: FROZEN_SCALES };
}

/** opt-rtn asked to tune (--algorithm opt-rtn --iters N) runs itself; on GGUF types with the scales frozen. */
export function optRtnRoute(ctx: AlgorithmRouteContext): AlgorithmRoute | undefined {
  return isGgufTuning(ctx) ? { algorithm: 'opt-rtn', quantArgs: FROZEN_SCALES } : undefined;
}

/**
 * The original's optimized RTN runs for symmetric int below 8 bits, the GGUF k-quants (docs/algorithms/opt-rtn.md#when-it-runs)
 * and the MX and NVFP4 types (docs/algorithms/fp-qdq.md#optimized-rtn); calibrated RTN also serves schemes whose
 * static activation ranges need calibration data (FP8_STATIC, NVFP4), with or without the search.
 */
export function optRtnReplacesRtn(scheme: QuantScheme): boolean {
  return usesOptRtn(scheme) || scheme.data_type.endsWith('_dq') || (isFpScheme(scheme) && hasFpOptRtn(scheme)) || needsActivationCalibration(scheme);
}
