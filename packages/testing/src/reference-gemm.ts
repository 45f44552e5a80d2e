import type { GemmArgs, KernelBackend } from '@autoround/core-tensor';

/**
 * The plainest GEMM there is, for tests that need a KernelBackend without a kernel package (core-tensor's own
 * tests: kernels-cpu depends on core-tensor), with GemmArgs' semantics. One triple loop, float64 accumulation;
 * slow, obviously right.
 */
export function referenceGemm(...[transA, transB, m, n, k, a, b, c, alpha = 1, beta = 0]: GemmArgs): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      if (alpha !== 0) for (let p = 0; p < k; p++) s += a[transA ? p * m + i : i * k + p]! * b[transB ? j * k + p : p * n + j]!;
      const prev = beta === 0 ? 0 : beta * c[i * n + j]!;
      c[i * n + j] = alpha === 0 ? prev : prev + alpha * s;
    }
  }
}

/** A KernelBackend with only referenceGemm: the TypeScript fallbacks run. */
export const referenceBackend: KernelBackend = { name: 'reference', threads: 1, gemm: referenceGemm };
