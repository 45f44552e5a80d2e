/**
 * The plainest GEMM there is, for tests that need a KernelBackend without depending on a kernel package
 * (core-tensor's own tests: core-tensor may import nothing of ours, and kernels-cpu depends on it):
 * C = alpha · op(A) · op(B) + beta · C, row-major float32, with the semantics of core-tensor's GemmArgs
 * (beta = 0 does not read C, alpha = 0 reads neither A nor B; otherwise every product is computed, zeros
 * included, so 0·NaN and 0·Inf give NaN). One triple loop, float64 accumulation; slow, obviously right.
 * Typed structurally so that this package needs no dependency on core-tensor: it fits KernelBackend['gemm'].
 */
export function referenceGemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  b: Float32Array,
  c: Float32Array,
  alpha = 1,
  beta = 0,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      if (alpha !== 0) for (let p = 0; p < k; p++) s += a[transA ? p * m + i : i * k + p]! * b[transB ? j * k + p : p * n + j]!;
      const prev = beta === 0 ? 0 : beta * c[i * n + j]!;
      c[i * n + j] = alpha === 0 ? prev : prev + alpha * s;
    }
  }
}

/** A KernelBackend (core-tensor's interface, structurally) with only referenceGemm: the TypeScript fallbacks run. */
export const referenceBackend = { name: 'reference', threads: 1, gemm: referenceGemm } as const;
