import type { KernelBackend } from '@autoround/core-tensor';

/**
 * Plain TypeScript GEMM: C = alpha · op(A) · op(B) + beta · C, row-major float32.
 * Loop orders keep the innermost loop on contiguous memory; this is the reference every
 * other backend is tested against, not the fast path.
 */
export const jsGemm: KernelBackend['gemm'] = function jsGemm(transA, transB, m, n, k, a, b, c, alpha = 1, beta = 0): void {
  // Big products: bring op(A) to [m,k] and op(B) to [n,k] (O(mk + kn) copies) so the fast row-dot-row
  // loop below does the O(mnk) work whatever the transposes: 2-4x faster than the strided loops.
  if ((transA || !transB) && m * n * k >= 1 << 15) {
    const at = transA ? transpose(a, k, m) : a;
    const bt = transB ? b : transpose(b, k, n);
    jsGemm(false, true, m, n, k, at, bt, c, alpha, beta);
    return;
  }
  if (beta === 0) c.fill(0, 0, m * n);
  else if (beta !== 1) for (let i = 0; i < m * n; i++) c[i]! *= beta;
  // BLAS: alpha = 0 reads neither A nor B (as the native and wasm kernels); otherwise every product is
  // computed, zeros included, so that 0·NaN and 0·Inf give NaN on every backend alike
  if (alpha === 0) return;
  if (!transA && transB) {
    // C[i,j] = Σ_p A[i,p]·B[j,p]: dot products of rows; four columns at once
    for (let i = 0; i < m; i++) {
      const ai = i * k;
      const ci = i * n;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const b0 = j * k;
        const b1 = b0 + k;
        const b2 = b1 + k;
        const b3 = b2 + k;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let p = 0; p < k; p++) {
          const x = a[ai + p]!;
          s0 += x * b[b0 + p]!;
          s1 += x * b[b1 + p]!;
          s2 += x * b[b2 + p]!;
          s3 += x * b[b3 + p]!;
        }
        c[ci + j]! += alpha * s0;
        c[ci + j + 1]! += alpha * s1;
        c[ci + j + 2]! += alpha * s2;
        c[ci + j + 3]! += alpha * s3;
      }
      for (; j < n; j++) {
        const bj = j * k;
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ai + p]! * b[bj + p]!;
        c[ci + j]! += alpha * s;
      }
    }
    return;
  }
  if (!transA && !transB) {
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      for (let p = 0; p < k; p++) {
        const x = alpha * a[i * k + p]!;
        const bp = p * n;
        for (let j = 0; j < n; j++) c[ci + j]! += x * b[bp + j]!;
      }
    }
    return;
  }
  if (transA && !transB) {
    // A stored [k, m]
    for (let p = 0; p < k; p++) {
      const bp = p * n;
      for (let i = 0; i < m; i++) {
        const x = alpha * a[p * m + i]!;
        const ci = i * n;
        for (let j = 0; j < n; j++) c[ci + j]! += x * b[bp + j]!;
      }
    }
    return;
  }
  // transA && transB: A [k, m], B [n, k]
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[p * m + i]! * b[j * k + p]!;
      c[i * n + j]! += alpha * s;
    }
  }
};

/** x stored [rows, cols] → [cols, rows]. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const xi = i * cols;
    for (let j = 0; j < cols; j++) t[j * rows + i] = x[xi + j]!;
  }
  return t;
}
