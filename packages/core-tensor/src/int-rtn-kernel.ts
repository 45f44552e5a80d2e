// The process-wide native loops of @autoround/quant-types' quantizeInt (RTN, and SignRound's final QDQ with V):
// the per-group min/max and the element loop, registered by kernels-cpu when its addon loads (native/qdq.cc); the
// per-group scale and zero point stay in TypeScript. A kernel must match the TypeScript loops bit for bit
// (docs/perf/whole-model.md, "Native RTN loops").
import { processWide } from './process-wide.js';

/** Groups tile a [rows, cols] array row by row, gs columns each (a row's last group may be shorter); V slots g·gs + k. */
export interface IntRtnKernel {
  /** mn[g] = min(0, the group's values), mx[g] = max(0, …), NaN skipped. */
  minMax(weight: Float32Array, rows: number, cols: number, gs: number, mn: Float32Array, mx: Float32Array): void;
  /**
   * asym: codes = clamp(rne(float(W/scale [+ V])) + zp, 0, maxq), qdq = float(scale·(clamped − zp)); sym: q =
   * clamp(rne(…), −maxq, maxq − 1), codes = q + maxq, qdq = float(scale·q). NaN gives code 0 and a NaN qdq.
   */
  elements(
    weight: Float32Array,
    v: Float32Array | null,
    rows: number,
    cols: number,
    gs: number,
    scale: Float32Array,
    zp: Float64Array,
    maxq: number,
    sym: boolean,
    codes: Uint8Array,
    qdq: Float32Array,
  ): void;
}

const slot = processWide<IntRtnKernel>('@autoround/core-tensor/int-rtn-kernel');

/** Registers (or with null removes) the native RTN loops; returns the ones they replace. */
export function setIntRtnKernel(kernel: IntRtnKernel | null): IntRtnKernel | null {
  return slot.set(kernel);
}

/** The registered native RTN loops, or null (the TypeScript loops run). */
export function intRtnKernel(): IntRtnKernel | null {
  return slot.get();
}
