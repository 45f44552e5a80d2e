// The process-wide native floating-point QDQ (issue #15, docs/perf/fp-qdq.md): @autoround/quant-types' quantizeFp
// and SignRound's fp backward run their element loops here when a kernel package has registered one
// (kernels-cpu's fp_qdq.cc registers itself when its addon loads), else in TypeScript. Held on globalThis under a
// registry symbol so that every copy of this module in a process (source and dist builds side by side) sees the
// same kernel. A kernel must match the TypeScript loops bit for bit.
import { processWide } from './process-wide.js';

/**
 * Element loops of the fp QDQ over groups that tile a [rows, cols] array row by row (group g: row ⌊g/per⌋,
 * columns (g mod per)·gs …, per = ⌈cols/gs⌉; V slots g·gs + k).
 */
export interface FpQdqKernel {
  /**
   * params = [family (0 mx, 1 nv, 2 fp8), element (0 e2m1, 1 e2m3, 2 e3m2, 3 e4m3, 4 e5m2, 5 int4, 6 int8), ebits,
   * mbits, emax, maxNorm, rceil (0/1), ue5m3 (0/1), globalScale, hasTensorMax (0/1), tensorMax]; dims = [rows, cols, gs].
   * Writes out and scales, codes / scaleCodes when given, and the trace [q, dx, vScale, p, u] when given.
   */
  forward(
    params: readonly number[],
    dims: readonly number[],
    weight: Float32Array,
    v: Float32Array | null,
    maxScale: Float32Array | null,
    initScale: Float32Array | null,
    out: Float32Array,
    codes: Uint8Array | null,
    scales: Float32Array,
    scaleCodes: Uint8Array | null,
    trace: readonly [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array] | null,
  ): void;
  /** The straight-through backward: vGrad[g·gs + k] += gy·vScale·dx; betaGrad[g] += Σ gy·(q·p + dx·W·u). */
  backward(
    dims: readonly number[],
    weight: Float32Array,
    gy: Float32Array,
    q: Float32Array,
    dx: Float32Array,
    vScale: Float32Array,
    p: Float32Array,
    u: Float32Array,
    vGrad: Float32Array | null,
    betaGrad: Float32Array | null,
  ): void;
}

const slot = processWide<FpQdqKernel>('@autoround/core-tensor/fp-qdq-kernel');

/** Registers (or with null removes) the native fp QDQ kernel; returns the one it replaces. */
export function setFpQdqKernel(kernel: FpQdqKernel | null): FpQdqKernel | null {
  return slot.set(kernel);
}

/** The registered native fp QDQ kernel, or null (the TypeScript loops run). */
export function fpQdqKernel(): FpQdqKernel | null {
  return slot.get();
}
