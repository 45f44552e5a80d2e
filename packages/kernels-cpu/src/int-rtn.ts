// quant-types' quantizeInt loops (native/qdq.cc rtn_minmax / rtn_elements) as core-tensor's process-wide
// IntRtnKernel, registered beside the fp QDQ (fp-qdq.ts) and under the same rule: AUTOROUND_NATIVE_FUSED=0 leaves the
// TypeScript loops in place.
import { type IntRtnKernel, setIntRtnKernel } from '@autoround/core-tensor';
import type { NativeAddon } from './native.js';

/** The addon's RTN loops as an IntRtnKernel running on `threads` threads; null when the addon predates them. */
export function nativeIntRtnKernel(addon: NativeAddon, threads: number): IntRtnKernel | null {
  const { intRtnMinMax, intRtnElements } = addon;
  if (!intRtnMinMax || !intRtnElements) return null;
  return {
    minMax: (w, rows, cols, gs, mn, mx) => intRtnMinMax.call(addon, w, [rows, cols, gs], mn, mx, threads),
    elements: (w, v, rows, cols, gs, scale, zp, maxq, sym, codes, qdq) =>
      intRtnElements.call(addon, w, v, [rows, cols, gs], scale, zp, maxq, sym, codes, qdq, threads),
  };
}

/** Registers the addon's RTN loops (unless AUTOROUND_NATIVE_FUSED=0); true when it did. */
export function registerNativeIntRtn(addon: NativeAddon | null, threads: number): boolean {
  if (!addon || process.env.AUTOROUND_NATIVE_FUSED === '0') return false;
  const k = nativeIntRtnKernel(addon, threads);
  if (k) setIntRtnKernel(k);
  return k !== null;
}
