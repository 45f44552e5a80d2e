import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The N-API addon built from native/ by node-gyp at install (build/Release/autoround_kernels.node). */
export interface NativeAddon {
  gemm(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, alpha: number, beta: number, threads: number): void;
  gemmAsync(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, alpha: number, beta: number, threads: number): Promise<void>;
  /** The micro-kernel in use: 'avx512', 'avx2' or 'generic'. */
  isa(): NativeIsa;
  /** The best micro-kernel this CPU can run. */
  detectIsa(): NativeIsa;
  /** Selects the micro-kernel for later calls (process-wide); false when the CPU lacks it. */
  setIsa(isa: NativeIsa): boolean;
  hardwareThreads(): number;
  /**
   * For tests and tuning: the size of B (floats) above which threads pack B panel by panel, meeting at
   * barriers, instead of packing it whole once (default 32 Mi = 128 MiB). Returns the previous value; -1 only reads.
   */
  setMaxPackedB(floats: number): number;
  /**
   * Fused grouped-query attention (see KernelBackend.attentionForward/attentionBackward): gOut null runs
   * the forward (writes out and lse), otherwise the backward (accumulates into gq/gk/gv, any may be null).
   * dims = [batch, seqLen, numHeads, numKvHeads, headDim]. Parallel over (batch, head) / (batch, kv head).
   */
  attention?(
    q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, lse: Float32Array,
    gOut: Float32Array | null, gq: Float32Array | null, gk: Float32Array | null, gv: Float32Array | null,
    mask: Float32Array | null, dims: number[], causal: boolean, scale: number, threads: number, backward: boolean, fresh?: number,
  ): void;
  /**
   * QDQ element loops over all groups (see KernelBackend.qdqForward/qdqBackward): forward writes out and
   * code from weight, V, scale, zp; backward (outOrGw = gW) adds into dV and fills acc (4 doubles per group).
   * dims = [rows, cols, groupSize, groupsPerRow, numScales, qmax].
   */
  qdq?(
    backward: boolean, weight: Float32Array, v: Float32Array | null, scale: Float32Array, zp: Float32Array, code: Int16Array,
    outOrGw: Float32Array, dV: Float32Array | null, acc: Float64Array | null, dims: number[], threads: number,
  ): void;
  /** Floating-point QDQ element loops (fp_qdq.cc; see core-tensor's FpQdqKernel.forward), with a thread count. */
  fpQdq?(
    params: readonly number[], dims: readonly number[], weight: Float32Array, v: Float32Array | null, maxScale: Float32Array | null,
    initScale: Float32Array | null, out: Float32Array, codes: Uint8Array | null, scales: Float32Array, scaleCodes: Uint8Array | null,
    trace: readonly Float32Array[] | null, threads: number,
  ): void;
  /** Its straight-through backward (FpQdqKernel.backward). */
  fpQdqBackward?(
    dims: readonly number[], weight: Float32Array, gy: Float32Array, q: Float32Array, dx: Float32Array, vScale: Float32Array,
    p: Float32Array, u: Float32Array, vGrad: Float32Array | null, betaGrad: Float32Array | null, threads: number,
  ): void;
  /** SwiGLU element loop (KernelBackend.swigluForward/Backward): forward writes outOrGy; backward reads it as gOut. */
  swiglu?(backward: boolean, gate: Float32Array, up: Float32Array, outOrGy: Float32Array, gGate: Float32Array | null, gUp: Float32Array | null, threads: number, fresh?: number): void;
  /** RMSNorm rows (KernelBackend.rmsNormForward/Backward); eps is read by the forward only. */
  rmsNorm?(
    backward: boolean, x: Float32Array, w: Float32Array, outOrGy: Float32Array, rstd: Float32Array,
    gx: Float32Array | null, gw: Float32Array | null, rows: number, eps: number, threads: number, fresh?: number,
  ): void;
  /** rotate_half RoPE (KernelBackend.ropeForward/Backward); dims = [heads, headDim, rotaryDim]. */
  rope?(backward: boolean, src: Float32Array, dst: Float32Array, cos: Float32Array, sin: Float32Array, positions: Int32Array, dims: number[], threads: number, fresh?: number): void;
  /** y = a + b over y's length (KernelBackend.addInto). */
  addInto?(a: Float32Array, b: Float32Array, y: Float32Array, threads: number): void;
  /** g += src over g's length (KernelBackend.accumulate). */
  accumulate?(g: Float32Array, src: Float32Array, threads: number): void;
  /** Graph.mse's loops (KernelBackend.mseForward/mseBackward): forward returns Σe², backward adds c·e into gp. */
  mse?(backward: boolean, pred: Float32Array, target: Float32Array, mask: Float32Array | null, d: number, c: number, gp: Float32Array | null, threads: number, fresh?: number): number | undefined;
  /** The sign step (KernelBackend.signStep). */
  signStep?(data: Float32Array, grad: Float32Array, lr: number, threads: number): void;
  /**
   * `threads` threads running independent FMAs of `isa` for about `seconds`: GFLOP/s of them all per
   * wall-clock second, and per CPU-second they ran (one core's rate; robust to other load on the machine).
   */
  fmaCeiling(isa: 'avx512' | 'avx2', threads: number, seconds: number): { gflops: number; cpuGflops: number };
  /** quant-types' quantizeInt loops (IntRtnKernel.minMax / elements; dims [rows, cols, groupSize]). */
  intRtnMinMax?(w: Float32Array, dims: number[], mn: Float32Array, mx: Float32Array, threads: number): void;
  intRtnElements?(
    w: Float32Array,
    v: Float32Array | null,
    dims: number[],
    scale: Float32Array,
    zp: Float64Array,
    maxq: number,
    sym: boolean,
    codes: Uint8Array,
    qdq: Float32Array,
    threads: number,
  ): void;
  /** The bytes from the buffer's start to the next multiple of `alignment` (a power of two) in memory. */
  alignOffset?(buffer: ArrayBuffer, alignment: number): number;
  /**
   * GGML block quantizers (native/ggml_quants.cc: llama.cpp's quantize_row_*_ref / _impl, byte for byte):
   * quantizes src (whole rows of ne0 floats) of ggml type `type` into out (rows × row bytes), imatrix
   * (ne0 weights, or null) applying to every row as in ggml_quantize_chunk; rows spread over `threads`
   * threads of the native pool. Throws a TypeError naming the bad argument.
   */
  ggmlQuantize?(type: number, src: Float32Array, ne0: number, imatrix: Float32Array | null, out: Uint8Array, threads: number): void;
  /** ggmlQuantize on a libuv worker thread: the caller may read or write meanwhile (src/out must not change until it settles). */
  ggmlQuantizeAsync?(type: number, src: Float32Array, ne0: number, imatrix: Float32Array | null, out: Uint8Array, threads: number): Promise<void>;
  /**
   * ggmlQuantize on a native thread, joined by ggmlQuantizeWait (synchronously, no event loop needed): the
   * caller reads or writes meanwhile. src/imatrix/out must not change until the wait returns.
   */
  ggmlQuantizeStart?(type: number, src: Float32Array, ne0: number, imatrix: Float32Array | null, out: Uint8Array, threads: number): NativeQuantJob;
  /** Waits for a job of ggmlQuantizeStart; throws its error. Waiting again returns at once. */
  ggmlQuantizeWait?(job: NativeQuantJob): void;
  /** Whether ggmlQuantize takes ggml type `type`. */
  ggmlQuantizeSupports?(type: number): boolean;
  /**
   * Only in the benchmark build (benchAddonPath, `npm run build:native:bench`), never in the shipped addon:
   * loads a system CBLAS (e.g. libopenblas.so.0) with dlopen, to be timed
   * beside our kernels as a reference. Throws with the loader's message when it cannot. `core` and
   * `config` are OpenBLAS's own description of the kernels it picked ("" for other libraries).
   */
  cblasLoad?(path: string): { core: string; config: string };
  /** cblas_sgemm of the library cblasLoad loaded, with gemm's arguments (row-major). */
  cblasGemm?(transA: boolean, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array, c: Float32Array, alpha: number, beta: number, threads: number): void;
}

export type NativeIsa = 'avx512' | 'avx2' | 'generic';

/** An opaque handle of a quantization running on a native thread (ggmlQuantizeStart). */
export type NativeQuantJob = { readonly __nativeQuantJob: unique symbol };

const here = dirname(fileURLToPath(import.meta.url));
/** Where the addon is looked for: AUTOROUND_NATIVE_ADDON, then the package's build/ folder (from src/ and dist/ alike). */
export function nativeAddonCandidates(): string[] {
  const fromEnv = process.env.AUTOROUND_NATIVE_ADDON;
  return [
    ...(fromEnv ? [fromEnv] : []),
    join(here, '..', 'build', 'Release', 'autoround_kernels.node'),
    join(here, '..', 'build', 'Debug', 'autoround_kernels.node'),
  ];
}

/**
 * The benchmark build of the addon: the same kernels plus cblasLoad/cblasGemm (an OpenBLAS reference for the
 * gemm benchmark), built only by `npm run build:native:bench -w @autoround/kernels-cpu`.
 */
export function benchAddonPath(): string {
  return join(here, '..', 'build', 'Release', 'autoround_kernels_bench.node');
}

/** Loads the addon from `file` (or the first candidate that exists); the reason it could not, otherwise. */
export function loadNativeAddon(file?: string): { addon: NativeAddon } | { error: string } {
  const files = file ? [file] : nativeAddonCandidates();
  const found = files.find((f) => existsSync(f));
  if (!found) return { error: `native addon not built (looked for ${files.join(', ')}; run \`npm run build:native -w @autoround/kernels-cpu\`)` };
  try {
    const addon = createRequire(import.meta.url)(found) as NativeAddon;
    if (typeof addon.gemm !== 'function') return { error: `${found} is not the autoround kernels addon` };
    return { addon };
  } catch (e) {
    return { error: `${found} failed to load: ${(e as Error).message}` };
  }
}

const loaded = loadNativeAddon();
/** The addon of this process, or null (see nativeLoadError). */
export const native: NativeAddon | null = 'addon' in loaded ? loaded.addon : null;
export const nativeLoadError: string | undefined = 'error' in loaded ? loaded.error : undefined;
