/**
 * The compute seam: everything hot goes through a backend. Matrices are row-major float32.
 * gemm computes C = alpha · op(A) · op(B) + beta · C with op(A) [m,k] and op(B) [k,n];
 * A is stored [m,k] (or [k,m] when transA), B is [k,n] (or [n,k] when transB).
 */
export interface KernelBackend {
  readonly name: string;
  readonly threads: number;
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    alpha?: number,
    beta?: number,
  ): void;
  /**
   * Optional: the same product computed off the JavaScript thread (a native worker), resolving
   * when c holds the result. a, b and c must not be touched until then. Backends without it
   * compute on the calling thread through gemm.
   */
  gemmAsync?(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    alpha?: number,
    beta?: number,
  ): Promise<void>;
}

export interface KernelBackendFactory {
  readonly name: string;
  /** Higher wins when the backend is picked automatically. */
  readonly priority: number;
  /** Whether this backend can run here (an addon built, an instruction set present…). */
  available(): boolean;
  create(options: { threads?: number }): KernelBackend;
}
