// The native floating-point QDQ (native/fp_qdq.cc) as core-tensor's process-wide FpQdqKernel: registered when the
// addon loads (so quant-types' quantizeFp and SignRound's fp backward use it wherever this package is loaded), with
// the thread count of the latest native backend created. AUTOROUND_NATIVE_FUSED=0 leaves the TypeScript loops in
// place, as for the other fused kernels. docs/perf/fp-qdq.md.
import { type FpQdqKernel, setFpQdqKernel } from '@autoround/core-tensor';
import type { NativeAddon } from './native.js';

/** The addon's fp QDQ as an FpQdqKernel running on `threads` threads; null when the addon predates it. */
export function nativeFpQdqKernel(addon: NativeAddon, threads: number): FpQdqKernel | null {
  const { fpQdq, fpQdqBackward } = addon;
  if (!fpQdq || !fpQdqBackward) return null;
  return {
    forward: (params, dims, w, v, ms, is, out, codes, scales, scaleCodes, trace) => fpQdq.call(addon, params, dims, w, v, ms, is, out, codes, scales, scaleCodes, trace, threads),
    backward: (dims, w, gy, q, dx, vs, p, u, vg, bg) => fpQdqBackward.call(addon, dims, w, gy, q, dx, vs, p, u, vg, bg, threads),
  };
}

/** Registers the addon's fp QDQ (unless AUTOROUND_NATIVE_FUSED=0); true when it did. */
export function registerNativeFpQdq(addon: NativeAddon | null, threads: number): boolean {
  if (!addon || process.env.AUTOROUND_NATIVE_FUSED === '0') return false;
  const k = nativeFpQdqKernel(addon, threads);
  if (k) setFpQdqKernel(k);
  return k !== null;
}
